"""The demo registry reproduces the UK panel paper's counts from its own rows, deterministically."""

import hashlib
import json
import random
from collections import Counter, defaultdict

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import transaction

from accounts.models import User
from analytics.models import MatchedControlPair, MatchedControlSet
from audit.models import AuditEvent
from cases import models as m
from cases.demo import paper_cohort_q, registry_reset

SEED = 2025


def seed_demo(*args):
    call_command("seed_demo", "--seed", str(SEED), *args, stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.fixture(scope="module")
def registry(django_db_setup, django_db_blocker):
    """The default registry, loaded once for the module's read-only tests, rolled back after them
    (demo users included, so other modules' personas never collide with the seeded accounts)."""
    with django_db_blocker.unblock(), transaction.atomic():
        registry_reset()
        seed_demo()
        yield
        transaction.set_rollback(True)


def digest() -> str:
    """A hash of the registry's content by natural keys (ids may differ between loads)."""
    h = hashlib.sha256()
    querysets = [
        m.Case.objects.order_by("public_id").values_list(
            "public_id", "product__code", "centre__code", "indication", "diagnosis", "approval_date", "ecog",
            "prior_lines", "prior_transplant", "bendamustine_last_dose_date", "holding_therapy", "ldh_at_approval",
            "patient__local_id", "patient__sex", "patient__birth_year", "patient__weight_kg", "patient__height_cm"),
        m.Apheresis.objects.order_by("case__public_id", "number").values_list(
            "case__public_id", "number", "date", "wbc", "platelets", "cd3_per_ul"),
        m.ManufacturingAttempt.objects.order_by("case__public_id", "number").values_list(
            "case__public_id", "number", "apheresis__number", "shipped_on", "result_on", "outcome",
            "viable_car_t_dose", "failure_reasons__code"),
        m.ReleaseResult.objects.order_by("attempt__case__public_id", "attempt__number", "parameter__kind").values_list(
            "attempt__case__public_id", "attempt__number", "parameter__kind", "value_numeric", "value_text",
            "within_spec"),
        m.Infusion.objects.order_by("case__public_id").values_list("case__public_id", "attempt__number", "date",
                                                                   "dose"),
        m.Outcome.objects.order_by("case__public_id").values_list(
            "case__public_id", "best_response", "crs_grade", "icans_grade", "progression_date", "death_date",
            "death_cause", "last_contact_date"),
        m.Cytopenia.objects.order_by("case__public_id", "day", "kind").values_list("case__public_id", "kind", "day",
                                                                                  "grade"),
        MatchedControlPair.objects.filter(control_set__is_current=True).order_by("mf_case__public_id").values_list(
            "mf_case__public_id", "control_case__public_id"),
    ]
    for queryset in querysets:
        for row in queryset.iterator():
            h.update(repr(row).encode())
    return h.hexdigest()


def mf_summary():
    """Per paper-cohort case: outcomes of its attempts in order and the outcome of the attempt infused."""
    attempts = defaultdict(list)
    for case_id, outcome in m.ManufacturingAttempt.objects.filter(paper_cohort_q("case__")).order_by(
            "case_id", "number").values_list("case_id", "outcome"):
        attempts[case_id].append(outcome)
    infused = dict(m.Infusion.objects.values_list("case_id", "attempt__outcome"))
    return attempts, infused


def cohort_of(case_id, attempts, infused):
    if not any(o in ("oos", "no_product") for o in attempts[case_id]):
        return "non_mf"
    return {"oos": "oos_infused", "in_spec": "delayed_infused", None: "mf_not_infused"}[infused.get(case_id)]


@pytest.mark.django_db
def test_default_registry_has_the_papers_lbcl_cases_products_and_eras(registry):
    lbcl = m.Case.objects.filter(paper_cohort_q())
    assert lbcl.count() == 981
    assert dict(Counter(lbcl.values_list("product__code", flat=True))) == {"axi-cel": 805, "tisa-cel": 176}
    assert lbcl.filter(approval_date__lt=settings.ERA_BOUNDARY).count() == 462
    assert lbcl.filter(approval_date__gte=settings.ERA_BOUNDARY).count() == 519
    others = m.Case.objects.exclude(paper_cohort_q())
    assert 20 <= others.count() <= 60
    assert not others.filter(indication="LBCL", product__code__in=["axi-cel", "tisa-cel"]).exists()
    assert not m.ManufacturingAttempt.objects.exclude(paper_cohort_q("case__")).exclude(outcome="in_spec").exists()
    assert m.Centre.objects.count() == 9
    assert m.Patient.objects.count() == m.Case.objects.count()


@pytest.mark.django_db
def test_default_registry_reproduces_mf_counts_flow_and_cohorts(registry):
    attempts, infused = mf_summary()
    mf_ids = {c for c, outcomes in attempts.items() if any(o in ("oos", "no_product") for o in outcomes)}
    assert len(mf_ids) == 38
    cases = m.Case.objects.filter(pk__in=mf_ids)
    assert dict(Counter(cases.values_list("product__code", flat=True))) == {"axi-cel": 28, "tisa-cel": 10}
    assert cases.filter(approval_date__lt=settings.ERA_BOUNDARY).count() == 17
    flow = Counter((n, o) for c in mf_ids for n, o in enumerate(attempts[c], start=1))
    assert flow == {(1, "oos"): 18, (1, "no_product"): 20, (2, "oos"): 2, (2, "in_spec"): 11,
                    (2, "no_product"): 5, (3, "in_spec"): 1, (3, "no_product"): 1, (4, "in_spec"): 1}
    assert sum(flow.values()) == 59
    for c in mf_ids:  # attempts stop at the first in-spec product or at an infused OOS one
        outcomes = attempts[c]
        assert "in_spec" not in outcomes[:-1]
        if infused.get(c) == "oos":
            assert outcomes[-1] == "oos"
    assert Counter(cohort_of(c, attempts, infused) for c in mf_ids) == {
        "oos_infused": 13, "delayed_infused": 11, "mf_not_infused": 14}
    non_mf = [c for c in attempts if c not in mf_ids]
    assert all(attempts[c] == ["in_spec"] for c in non_mf)
    assert 0.85 <= sum(1 for c in non_mf if c in infused) / len(non_mf) <= 0.95


@pytest.mark.django_db
def test_failure_reasons_match_the_paper(registry):
    failed = m.ManufacturingAttempt.objects.filter(outcome__in=["oos", "no_product"])
    assert failed.count() == 46
    assert all(a.failure_reasons.count() >= 1 for a in failed.prefetch_related("failure_reasons"))
    reasons = Counter(failed.values_list("failure_reasons__code", flat=True))
    for code, n in {"low_viability": 8, "low_t_cell_purity": 8, "poor_growth": 6, "low_ifn_gamma": 6,
                    "low_car_t_dose": 4}.items():
        assert reasons[code] == n
    assert max(n for code, n in reasons.items() if code not in {"low_viability", "low_t_cell_purity",
                                                                "poor_growth", "low_ifn_gamma"}) <= 4
    oos = Counter(failed.filter(outcome="oos").values_list("failure_reasons__code", flat=True))
    assert (oos["low_viability"], oos["low_ifn_gamma"], oos["low_t_cell_purity"]) == (5, 5, 4)


@pytest.mark.django_db
def test_release_results_cover_the_specification_and_fail_only_where_the_reason_says(registry):
    kind_of_reason = {"low_viability": "viability", "low_ifn_gamma": "ifn_gamma", "low_t_cell_purity": "cd3_purity",
                      "low_car_t_dose": "car_t_dose", "low_car_expression": "car_expression", "high_vcn": "vcn"}
    for attempt in m.ManufacturingAttempt.objects.filter(paper_cohort_q("case__")).exclude(
            outcome="no_product").filter(case__attempts__outcome__in=["oos", "no_product"]).distinct().select_related(
            "case").prefetch_related("release_results__parameter", "failure_reasons"):
        spec = set(attempt.case.product.release_parameters.values_list("kind", flat=True))
        results = {r.parameter.kind: r for r in attempt.release_results.all()}
        assert set(results) == spec
        for result in results.values():
            assert result.within_spec == result.parameter.is_met_by(result.value_numeric, result.value_text)
        failing = {k for k, r in results.items() if not r.within_spec}
        if attempt.outcome == "in_spec":
            assert failing == set()
        else:
            assert failing == {kind_of_reason[r.code] for r in attempt.failure_reasons.all()}
    assert not m.ReleaseResult.objects.filter(attempt__outcome="in_spec", within_spec=False).exists()
    assert not m.ReleaseResult.objects.filter(attempt__outcome="no_product").exists()


def _table1(cases):
    rows = list(cases.values("patient__sex", "comorbidity", "prior_lines", "prior_bendamustine",
                             "bendamustine_last_dose_date", "prior_high_dose_cytarabine", "prior_transplant",
                             "ecog", "holding_therapy", "diagnosis", "id"))
    first_apheresis = dict(m.Apheresis.objects.filter(case__in=cases, number=1).values_list("case_id", "date"))
    timing = Counter()
    for row in rows:
        if row["prior_bendamustine"]:
            gap = (first_apheresis[row["id"]] - row["bendamustine_last_dose_date"]).days
            timing[">6m" if gap > 182.6 else "3-6m" if gap > 91.3 else "<3m"] += 1
    return {
        "male": sum(r["patient__sex"] == "M" for r in rows), "female": sum(r["patient__sex"] == "F" for r in rows),
        "comorbidity": sum(bool(r["comorbidity"]) for r in rows),
        "lines3": sum(r["prior_lines"] >= 3 for r in rows),
        "bendamustine": sum(bool(r["prior_bendamustine"]) for r in rows), "timing": dict(timing),
        "cytarabine": sum(bool(r["prior_high_dose_cytarabine"]) for r in rows),
        "transplant": dict(Counter(r["prior_transplant"] for r in rows)),
        "ecog": dict(Counter(r["ecog"] for r in rows)),
        "holding": sum(r["holding_therapy"] != "none" for r in rows),
        "diagnosis": dict(Counter(r["diagnosis"] for r in rows)),
    }


@pytest.mark.django_db
def test_matched_controls_give_table_1_exactly(registry):
    control_set = MatchedControlSet.objects.get(is_current=True)
    assert control_set.seed == SEED
    pairs = list(control_set.pairs.select_related("mf_case__product", "control_case__product"))
    assert len(pairs) == 38
    assert all(p.mf_case.product_id == p.control_case.product_id for p in pairs)
    attempts, infused = mf_summary()
    assert all(cohort_of(p.control_case_id, attempts, infused) == "non_mf" for p in pairs)
    controls = m.Case.objects.filter(pk__in=[p.control_case_id for p in pairs])
    assert m.Infusion.objects.filter(case__in=controls).count() == 29
    mf = m.Case.objects.filter(pk__in=[p.mf_case_id for p in pairs])
    assert _table1(mf) == {
        "male": 27, "female": 11, "comorbidity": 22, "lines3": 16, "bendamustine": 11,
        "timing": {">6m": 2, "3-6m": 2, "<3m": 7}, "cytarabine": 9,
        "transplant": {"none": 28, "auto": 5, "allo": 3, "": 2}, "ecog": {0: 13, 1: 25}, "holding": 14,
        "diagnosis": {"dlbcl": 21, "pmbcl": 2, "tfl": 11, "richter": 3, "tnlphl": 1}}
    assert _table1(controls) == {
        "male": 22, "female": 16, "comorbidity": 20, "lines3": 15, "bendamustine": 3, "timing": {">6m": 3},
        "cytarabine": 11, "transplant": {"none": 32, "auto": 6}, "ecog": {0: 14, 1: 24}, "holding": 10,
        "diagnosis": {"dlbcl": 31, "pmbcl": 1, "tfl": 5, "richter": 1}}


@pytest.mark.django_db
def test_matched_control_is_the_nearest_unused_approval_date(registry):
    attempts, _ = mf_summary()
    non_mf = {c for c, o in attempts.items() if o == ["in_spec"]}
    used = set()
    pairs = MatchedControlPair.objects.filter(control_set__is_current=True).select_related(
        "mf_case", "control_case").order_by("mf_case__approval_date", "mf_case__public_id")
    for pair in pairs:
        candidates = m.Case.objects.filter(pk__in=non_mf - used, product_id=pair.mf_case.product_id)
        best = min(abs((c - pair.mf_case.approval_date).days) for c in candidates.values_list("approval_date",
                                                                                               flat=True))
        assert abs((pair.control_case.approval_date - pair.mf_case.approval_date).days) == best
        used.add(pair.control_case_id)


@pytest.mark.django_db
def test_survival_shape_follows_the_paper(registry):
    attempts, infused = mf_summary()
    pairs = MatchedControlPair.objects.filter(control_set__is_current=True)
    cohort = {c: cohort_of(c, attempts, infused) for c in attempts}
    cohort.update({p.control_case_id: "control" for p in pairs})

    def alive_at_year(case_ids, origin):
        alive = 0
        for case_id in case_ids:
            outcome = m.Outcome.objects.select_related("case").get(case_id=case_id)
            start = origin(outcome.case)
            event = outcome.death_date if origin is _approval else min(
                (d for d in (outcome.progression_date, outcome.death_date) if d), default=None)
            assert outcome.last_contact_date >= start
            alive += not (event and (event - start).days <= 365)
        return alive / len(case_ids)

    groups = defaultdict(list)
    for case_id, name in cohort.items():
        groups[name].append(case_id)
    assert alive_at_year(groups["oos_infused"], _approval) == pytest.approx(0.53, abs=0.02)
    assert alive_at_year(groups["delayed_infused"], _approval) == pytest.approx(0.47, abs=0.03)
    assert alive_at_year(groups["mf_not_infused"], _approval) < 0.3
    infused_controls = [c for c in groups["control"] if c in infused]
    assert alive_at_year(infused_controls, _approval) == pytest.approx(0.69, abs=0.02)
    assert alive_at_year(groups["oos_infused"], _infusion) == pytest.approx(0.46, abs=0.02)
    assert alive_at_year(groups["delayed_infused"], _infusion) == pytest.approx(0.27, abs=0.04)
    assert m.Outcome.objects.filter(death_date__isnull=False).exclude(death_cause="").count() == \
        m.Outcome.objects.filter(death_date__isnull=False).count() > 0
    assert set(m.Outcome.objects.filter(case__infusion__isnull=False).values_list("crs_grade", flat=True)) <= {
        0, 1, 2, 3, 4}
    assert m.Cytopenia.objects.filter(grade__gte=3).exists()


def _approval(case):
    return case.approval_date


def _infusion(case):
    return case.infusion.date


@pytest.mark.django_db
def test_seeded_rows_pass_full_clean(registry):
    rng = random.Random(7)
    for model in (m.Centre, m.Patient, m.Case, m.Apheresis, m.ManufacturingAttempt, m.ReleaseResult, m.Infusion,
                  m.Outcome, m.Cytopenia, MatchedControlPair, User):
        ids = list(model.objects.values_list("pk", flat=True))
        sample = rng.sample(ids, min(40, len(ids)))
        # Always include the MF cases' rows: they carry the unusual dates and outcomes.
        if model is m.ManufacturingAttempt:
            sample += list(model.objects.exclude(outcome="in_spec").values_list("pk", flat=True))
        for obj in model.objects.filter(pk__in=sample):
            if model is m.ManufacturingAttempt:
                # The consecutive-number check only applies when adding an attempt; the rest must hold.
                obj.full_clean(exclude=["number"])
            else:
                obj.full_clean()


@pytest.mark.django_db
def test_seeding_recorded_one_audit_event_with_counts(registry):
    event = AuditEvent.objects.filter(code="cases.registry.seeded").latest("id")
    assert event.context["seed"] == SEED and event.context["counts"]["lbcl_paper_cohort"] == 981
    assert event.context["counts"]["cases_case"] == m.Case.objects.count()


@pytest.mark.django_db
def test_without_reset_a_non_empty_registry_is_refused(registry):
    with pytest.raises(CommandError, match="--reset"):
        seed_demo()


@pytest.mark.django_db
def test_if_empty_does_nothing_when_cases_exist_and_still_prints_the_demo_logins(registry, capsys, settings):
    # A second `make run` loads nothing, and the newcomer still sees how to log in.
    settings.DEMO_MODE = True
    before = m.Case.objects.count()
    call_command("seed_demo", "--if-empty", "--seed", "99")
    out = capsys.readouterr().out
    assert "nothing loaded" in out
    assert "Demo logins (password for all: demo-panel-2026)" in out
    assert "  physician1     panel_physician" in out and "demo_totp physician1" in out
    assert m.Case.objects.count() == before


@pytest.mark.django_db
def test_same_seed_gives_the_same_rows_and_another_seed_different_rows(registry):
    first = digest()
    seed_demo("--reset")
    assert digest() == first
    call_command("seed_demo", "--reset", "--seed", str(SEED + 1), stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert digest() != first
    assert m.Case.objects.filter(paper_cohort_q()).count() == 981


@pytest.mark.django_db
def test_size_keeps_the_proportions(registry):
    seed_demo("--reset", "--size", "2000")
    lbcl = m.Case.objects.filter(paper_cohort_q())
    assert lbcl.count() == 2000
    assert lbcl.filter(product__code="axi-cel").count() == round(2000 * 805 / 981)
    assert lbcl.filter(approval_date__lt=settings.ERA_BOUNDARY).count() == round(2000 * 462 / 981)
    attempts, infused = mf_summary()
    mf = [c for c, o in attempts.items() if any(x != "in_spec" for x in o)]
    assert len(mf) == round(2000 * 38 / 981)
    assert len(attempts) == 2000
    first_oos = sum(attempts[c][0] == "oos" for c in mf) / len(mf)
    assert first_oos == pytest.approx(18 / 38, abs=0.08)
    assert sum(len(attempts[c]) for c in mf) / len(mf) == pytest.approx(59 / 38, abs=0.15)
    assert MatchedControlPair.objects.filter(control_set__is_current=True).count() == len(mf)


@pytest.mark.django_db
def test_reset_empties_the_registry_and_reloads(registry):
    seed_demo("--reset", "--size", "100")
    assert m.Case.objects.filter(paper_cohort_q()).count() == 100
    assert MatchedControlSet.objects.count() == 1
    assert AuditEvent.objects.filter(code="cases.registry.reset").exists()
    registry_reset()
    assert not m.Case.objects.exists() and not m.Patient.objects.exists()
    assert not MatchedControlSet.objects.exists() and not m.ReleaseResult.objects.exists()
    assert m.Product.objects.filter(code="axi-cel").exists()


@pytest.mark.django_db
def test_logins_json_lists_every_demo_account(registry, tmp_path):
    path = tmp_path / "logins.json"
    seed_demo("--reset", "--size", "50", "--logins-json", str(path))
    logins = json.loads(path.read_text())
    assert {tuple(sorted(login)) for login in logins} == {("centre", "password", "role", "username")}
    roles = Counter(login["role"] for login in logins)
    assert roles == {"centre_user": 9, "panel_physician": 5, "panel_pharmacist": 3, "ops_manager": 1, "admin": 1,
                     "analyst": 1}
    for login in logins:
        user = User.objects.get(username=login["username"])
        assert user.check_password(login["password"]) and len(login["password"]) >= 12
        assert user.role == login["role"]
        assert (user.centre.code if user.centre else None) == login["centre"]
        assert (login["centre"] is None) == (login["role"] != "centre_user")
    assert User.objects.get(username="admin").is_superuser


@pytest.mark.django_db
def test_missing_product_fails_with_a_clear_message(registry):
    registry_reset()
    m.Product.objects.filter(code="obe-cel").delete()
    with pytest.raises(CommandError, match="obe-cel"):
        seed_demo()
    assert not m.Case.objects.exists()
