"""The seed migration: licensed products, their SmPC dose rules, release specifications and the
manufacturing-failure reasons other parts of the system look up by code."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.dosing import assess_dose
from cases.models import DoseRule, FailureReason, Product, ReleaseParameter

M = 1_000_000
SEED = ("cases", "0002_products_and_reasons")

PRODUCTS = {
    "axi-cel": ("Yescarta", "axicabtagene ciloleucel", "CD19"),
    "tisa-cel": ("Kymriah", "tisagenlecleucel", "CD19"),
    "brexu-cel": ("Tecartus", "brexucabtagene autoleucel", "CD19"),
    "liso-cel": ("Breyanzi", "lisocabtagene maraleucel", "CD19"),
    "ide-cel": ("Abecma", "idecabtagene vicleucel", "BCMA"),
    "cilta-cel": ("Carvykti", "ciltacabtagene autoleucel", "BCMA"),
    "obe-cel": ("Aucatzyl", "obecabtagene autoleucel", "CD19"),
}

# (indication, weight above, weight up to, basis, min, max, target, weight cap, max total)
RULES = {
    "axi-cel": {
        ("LBCL", None, None, "per_kg", 1 * M, 2 * M, 2 * M, 100, 2e8),
        ("FL", None, None, "per_kg", 1 * M, 2 * M, 2 * M, 100, 2e8),
    },
    "tisa-cel": {
        ("B-ALL", None, 50, "per_kg", 0.2 * M, 5.0 * M, None, None, None),
        ("B-ALL", 50, None, "flat", 0.1e8, 2.5e8, None, None, None),
        ("LBCL", None, None, "flat", 0.6e8, 6.0e8, None, None, None),
        ("FL", None, None, "flat", 0.6e8, 6.0e8, None, None, None),
    },
    "brexu-cel": {
        ("MCL", None, None, "per_kg", 1 * M, 2 * M, 2 * M, 100, 2e8),
        ("B-ALL", None, None, "per_kg", None, 1 * M, 1 * M, 100, 1e8),
    },
    "liso-cel": {
        (indication, None, None, "flat", 44 * M, 120 * M, 100 * M, None, None) for indication in ("LBCL", "FL", "CLL")
    },
    "ide-cel": {("MM", None, None, "flat", 260 * M, 500 * M, None, None, None)},
    "cilta-cel": {
        ("MM", None, 100, "per_kg", 0.5 * M, 1.0 * M, None, None, None),
        ("MM", 100, None, "flat", 0.5e8, 1.0e8, None, None, None),
    },
    "obe-cel": {("B-ALL", None, None, "flat", 410 * M, 410 * M, 410 * M, None, None)},
}

FAILURE_REASONS = {
    "low_viability": "Low cell viability",
    "low_t_cell_purity": "Low T-cell purity",
    "poor_growth": "Poor growth in culture",
    "low_ifn_gamma": "Low interferon-gamma",
    "low_car_t_dose": "Low CAR T-cell dose",
    "low_car_expression": "Low CAR expression / transduction",
    "high_vcn": "High vector copy number",
    "contamination": "Contamination / sterility failure",
    "failed_manufacture": "Failed manufacture",
    "other": "Other",
}

RELEASE_KINDS = ["viability", "car_t_dose", "car_expression", "cd3_purity", "ifn_gamma", "vcn", "sterility",
                 "mycoplasma", "endotoxin", "rcr"]


@pytest.mark.django_db
def test_the_seven_licensed_products_are_seeded():
    seeded = {p.code: (p.brand, p.generic_name, p.target_antigen) for p in Product.objects.all()}
    assert seeded == PRODUCTS


@pytest.mark.django_db
@pytest.mark.parametrize("code", sorted(RULES))
def test_dose_rules_are_those_of_the_smpc(code):
    rows = DoseRule.objects.filter(product__code=code)
    seeded = {
        (r.indication, r.weight_min_kg, r.weight_max_kg, r.basis, r.min_dose, r.max_dose, r.target_dose,
         r.weight_cap_kg, r.max_total_dose)
        for r in rows
    }
    assert seeded == RULES[code]
    brand = PRODUCTS[code][0]
    assert {r.source for r in rows} == {f"{brand} SmPC section 4.2 (EU)"}


@pytest.mark.django_db
def test_rules_without_a_lower_bound_or_with_a_split_dose_say_so():
    tecartus_all = DoseRule.objects.get(product__code="brexu-cel", indication="B-ALL")
    assert "no lower bound" in tecartus_all.notes
    aucatzyl = DoseRule.objects.get(product__code="obe-cel")
    assert "10×10⁶ on day 1 and 400×10⁶ on day 10" in aucatzyl.notes
    assert all("1:1" in r.notes for r in DoseRule.objects.filter(product__code="liso-cel"))


@pytest.mark.django_db
@pytest.mark.parametrize("code", sorted(PRODUCTS))
def test_every_product_has_a_full_release_specification(code):
    parameters = list(ReleaseParameter.objects.filter(product__code=code).order_by("order"))
    assert [p.kind for p in parameters] == RELEASE_KINDS
    assert all(p.source for p in parameters)
    by_kind = {p.kind: p for p in parameters}
    assert by_kind["viability"].limit == (80 if code == "tisa-cel" else 70)
    assert (by_kind["vcn"].comparator, by_kind["vcn"].limit) == ("lte", 5)
    assert {by_kind[k].comparator for k in ("sterility", "mycoplasma", "rcr")} == {"pass"}
    for parameter in parameters:
        parameter.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "limit", "unit"),
    [("ide-cel", 260 * M, "cells"), ("liso-cel", 44 * M, "cells"), ("obe-cel", 410 * M, "cells"),
     ("axi-cel", 1 * M, "cells/kg"), ("brexu-cel", 1 * M, "cells/kg"), ("cilta-cel", 0.5 * M, "cells/kg"),
     ("tisa-cel", 0.2 * M, "cells/kg")],
)
def test_dose_release_limit_is_the_smpc_minimum(code, limit, unit):
    parameter = ReleaseParameter.objects.get(product__code=code, kind="car_t_dose")
    assert (parameter.comparator, parameter.limit, parameter.unit) == ("gte", limit, unit)


@pytest.mark.django_db
def test_failure_reasons_have_the_codes_other_modules_look_up():
    reasons = list(FailureReason.objects.all())
    assert {r.code: r.label for r in reasons} == FAILURE_REASONS
    # Ordered as the paper lists the commonest reasons, "other" last.
    assert [r.code for r in reasons][:5] == ["low_viability", "low_t_cell_purity", "poor_growth",
                                             "low_ifn_gamma", "low_car_t_dose"]
    assert reasons[-1].code == "other"


@pytest.mark.django_db
def test_seeded_rule_rows_drive_the_dose_check():
    kymriah = Product.objects.get(code="tisa-cel")
    at_50 = assess_dose(kymriah.dose_rules.all(), indication="B-ALL", weight_kg=50, dose=2.5e8)
    over_50 = assess_dose(kymriah.dose_rules.all(), indication="B-ALL", weight_kg=50.1, dose=2.5e8)
    assert (at_50.rule.basis, at_50.verdict) == ("per_kg", "within")
    assert (over_50.rule.basis, over_50.verdict) == ("flat", "within")
    assert over_50.rule.source == "Kymriah SmPC section 4.2 (EU)"
    tecartus = Product.objects.get(code="brexu-cel").dose_rules.all()
    assert assess_dose(tecartus, indication="B-ALL", weight_kg=80, dose=1e6).verdict == "within"


def _counts(apps):
    return tuple(apps.get_model("cases", name).objects.count()
                 for name in ("Product", "DoseRule", "ReleaseParameter", "FailureReason"))


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_seed_migration_reverses_and_reapplies():
    # Does not assume the seed is present at the start: an earlier transactional test's flush
    # may have emptied the tables. Unapplying then reapplying must end with the full seed either way.
    executor = MigrationExecutor(connection)
    executor.migrate([("cases", "0001_initial")])
    before_seed = executor.loader.project_state(("cases", "0001_initial")).apps
    assert _counts(before_seed) == (0, 0, 0, 0)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
    executor = MigrationExecutor(connection)
    assert not executor.migration_plan(executor.loader.graph.leaf_nodes())
    assert (Product.objects.count(), DoseRule.objects.count(), ReleaseParameter.objects.count(),
            FailureReason.objects.count()) == (7, sum(len(r) for r in RULES.values()), 70, 10)


@pytest.mark.django_db
def test_unapplying_the_seed_refuses_to_drop_products_used_by_a_case():
    from django.apps import apps
    from django.db.models import ProtectedError

    from tests.factories import CaseFactory

    # Called directly (not through the executor) so the test's rollback undoes everything.
    seed_migration = importlib.import_module("cases.migrations.0002_products_and_reasons")
    CaseFactory(product=Product.objects.get(code="axi-cel"))
    with pytest.raises(ProtectedError):
        seed_migration.unseed(apps, None)
    assert Product.objects.filter(code="axi-cel").exists()
