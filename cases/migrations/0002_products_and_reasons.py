"""Seed the licensed CAR-T products, their SmPC dose rules and release specifications, and the
manufacturing-failure reasons, as summarised in the domain notes (products.md) from the EU SmPCs.

These are starting data, not code: products, indications and limits change, and are edited in
the admin afterwards (with history). Doses are CAR-positive viable T cells; per-kg doses are
cells per kg body weight. Numeric release limits other than the SmPC doses are representative
(the real specifications are the manufacturers'); every row says where it comes from.
"""

from django.db import migrations

M = 1_000_000

PRODUCTS = [
    # code, brand, generic name, manufacturer, target antigen, vector (for the RCR/RCL test)
    ("axi-cel", "Yescarta", "axicabtagene ciloleucel", "Kite / Gilead", "CD19", "retro"),
    ("tisa-cel", "Kymriah", "tisagenlecleucel", "Novartis", "CD19", "lenti"),
    ("brexu-cel", "Tecartus", "brexucabtagene autoleucel", "Kite / Gilead", "CD19", "retro"),
    ("liso-cel", "Breyanzi", "lisocabtagene maraleucel", "Bristol Myers Squibb", "CD19", "lenti"),
    ("ide-cel", "Abecma", "idecabtagene vicleucel", "Bristol Myers Squibb", "BCMA", "lenti"),
    ("cilta-cel", "Carvykti", "ciltacabtagene autoleucel", "Janssen", "BCMA", "lenti"),
    ("obe-cel", "Aucatzyl", "obecabtagene autoleucel", "Autolus", "CD19", "lenti"),
]
BRANDS = {code: brand for code, brand, *_ in PRODUCTS}


def _rule(indication, label, basis, min_dose, max_dose, *, target=None, above=None, up_to=None,
          weight_cap=None, max_total=None, notes=""):
    return {
        "indication": indication, "indication_label": label, "basis": basis,
        "min_dose": min_dose, "max_dose": max_dose, "target_dose": target,
        "weight_min_kg": above, "weight_max_kg": up_to,
        "weight_cap_kg": weight_cap, "max_total_dose": max_total, "notes": notes,
    }


_AT_MOST_2E8 = "At most 2×10⁸ cells: for patients of 100 kg and above the dose is that of 100 kg."

DOSE_RULES = {
    "axi-cel": [
        _rule("LBCL", "DLBCL / PMBCL / HGBL", "per_kg", 1 * M, 2 * M, target=2 * M, weight_cap=100,
              max_total=2e8, notes=_AT_MOST_2E8),
        _rule("FL", "Follicular lymphoma", "per_kg", 1 * M, 2 * M, target=2 * M, weight_cap=100,
              max_total=2e8, notes=_AT_MOST_2E8),
    ],
    "tisa-cel": [
        _rule("B-ALL", "B-ALL, up to 50 kg", "per_kg", 0.2 * M, 5.0 * M, up_to=50),
        _rule("B-ALL", "B-ALL, above 50 kg", "flat", 0.1e8, 2.5e8, above=50),
        _rule("LBCL", "DLBCL", "flat", 0.6e8, 6.0e8),
        _rule("FL", "Follicular lymphoma", "flat", 0.6e8, 6.0e8),
    ],
    "brexu-cel": [
        _rule("MCL", "Mantle cell lymphoma", "per_kg", 1 * M, 2 * M, target=2 * M, weight_cap=100,
              max_total=2e8, notes=_AT_MOST_2E8),
        _rule("B-ALL", "B-ALL (adults)", "per_kg", None, 1 * M, target=1 * M, weight_cap=100, max_total=1e8,
              notes="The SmPC gives a single dose of 1×10⁶/kg (at most 1×10⁸ for 100 kg and above) and "
                    "no lower bound: any dose above zero up to the maximum is within."),
    ],
    "liso-cel": [
        _rule(indication, label, "flat", 44 * M, 120 * M, target=100 * M,
              notes="CD8 and CD4 components in a 1:1 ratio (two lots); the range is the total.")
        for indication, label in (("LBCL", "Large B-cell lymphoma"), ("FL", "Follicular lymphoma"),
                                  ("CLL", "CLL"))
    ],
    "ide-cel": [
        _rule("MM", "Multiple myeloma", "flat", 260 * M, 500 * M),
    ],
    "cilta-cel": [
        _rule("MM", "Multiple myeloma, up to 100 kg", "per_kg", 0.5 * M, 1.0 * M, up_to=100),
        _rule("MM", "Multiple myeloma, above 100 kg", "flat", 0.5e8, 1.0e8, above=100),
    ],
    "obe-cel": [
        _rule("B-ALL", "B-ALL (adults)", "flat", 410 * M, 410 * M, target=410 * M,
              notes="410×10⁶ in total, given split: 10×10⁶ on day 1 and 400×10⁶ on day 10 (scheme by "
                    "marrow blast %). The split is administration; the dose check compares the total."),
    ],
}

REPRESENTATIVE = "manufacturer specification; representative limit"


def _release_parameters(code, vector):
    rules = DOSE_RULES[code]
    if all(rule["basis"] == "flat" for rule in rules):
        dose_limit, dose_unit = min(rule["min_dose"] for rule in rules), "cells"
        dose_name = "Total viable CAR+ T-cell dose"
        dose_source = f"{BRANDS[code]} SmPC section 4.2 (EU): lowest dose of the range"
    else:
        # A per-kg product has no single total minimum; the per-kg floor is the release limit and
        # the SmPC dose rule (indication and weight) decides whether the total is within range.
        dose_limit = min(rule["min_dose"] for rule in rules if rule["basis"] == "per_kg" and rule["min_dose"])
        dose_unit = "cells/kg"
        dose_name = "Viable CAR+ T-cell dose per kg"
        dose_source = f"{BRANDS[code]} SmPC section 4.2 (EU): lowest per-kg dose; checked per indication and weight"
    viability = 80 if code == "tisa-cel" else 70
    replication = ("Replication-competent retrovirus (RCR)" if vector == "retro"
                   else "Replication-competent lentivirus (RCL)")
    return [
        ("viability", "Cell viability", "%", "gte", viability, REPRESENTATIVE),
        ("car_t_dose", dose_name, dose_unit, "gte", dose_limit, dose_source),
        ("car_expression", "CAR expression / transduction", "%", "gte", 10, REPRESENTATIVE),
        ("cd3_purity", "T-cell (CD3+) purity", "%", "gte", 80, REPRESENTATIVE),
        ("ifn_gamma", "Potency (IFN-γ release)", "pg/mL", "gte", 1000, REPRESENTATIVE),
        ("vcn", "Vector copy number", "copies/cell", "lte", 5, REPRESENTATIVE),
        ("sterility", "Sterility", "", "pass", None, "manufacturer specification (Ph. Eur. 2.6.27)"),
        ("mycoplasma", "Mycoplasma", "", "pass", None, "manufacturer specification (Ph. Eur. 2.6.7)"),
        ("endotoxin", "Endotoxin", "EU/mL", "lte", 5, REPRESENTATIVE),
        ("rcr", replication, "", "pass", None, "manufacturer specification"),
    ]


FAILURE_REASONS = [
    ("low_viability", "Low cell viability"),
    ("low_t_cell_purity", "Low T-cell purity"),
    ("poor_growth", "Poor growth in culture"),
    ("low_ifn_gamma", "Low interferon-gamma"),
    ("low_car_t_dose", "Low CAR T-cell dose"),
    ("low_car_expression", "Low CAR expression / transduction"),
    ("high_vcn", "High vector copy number"),
    ("contamination", "Contamination / sterility failure"),
    ("failed_manufacture", "Failed manufacture"),
    ("other", "Other"),
]


def seed(apps, schema_editor):
    Product = apps.get_model("cases", "Product")
    DoseRule = apps.get_model("cases", "DoseRule")
    ReleaseParameter = apps.get_model("cases", "ReleaseParameter")
    FailureReason = apps.get_model("cases", "FailureReason")

    for code, brand, generic_name, manufacturer, antigen, vector in PRODUCTS:
        product, created = Product.objects.get_or_create(
            code=code,
            defaults={"brand": brand, "generic_name": generic_name, "manufacturer": manufacturer,
                      "target_antigen": antigen},
        )
        if not created:
            # A product someone entered by hand keeps its own rules and specification.
            continue
        for rule in DOSE_RULES[code]:
            DoseRule.objects.create(product=product, source=f"{brand} SmPC section 4.2 (EU)", **rule)
        for order, (kind, name, unit, comparator, limit, source) in enumerate(
                _release_parameters(code, vector), start=1):
            ReleaseParameter.objects.create(product=product, kind=kind, name=name, unit=unit,
                                            comparator=comparator, limit=limit, order=order, source=source)

    for order, (code, label) in enumerate(FAILURE_REASONS, start=1):
        FailureReason.objects.update_or_create(code=code, defaults={"label": label, "order": order * 10})


def unseed(apps, schema_editor):
    Product = apps.get_model("cases", "Product")
    FailureReason = apps.get_model("cases", "FailureReason")
    # Dose rules and release parameters go with their product (CASCADE). A product already used
    # by a case is protected, so unapplying on a live registry fails loudly instead of losing data.
    Product.objects.filter(code__in=[code for code, *_ in PRODUCTS]).delete()
    FailureReason.objects.filter(code__in=[code for code, _ in FAILURE_REASONS]).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("cases", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
