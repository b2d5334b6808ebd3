"""Services that load (and empty) the demo registry; the ``seed_demo`` command calls them."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter

from django.apps import apps
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction

from accounts.models import User
from accounts.roles import Role
from analytics.models import MatchedControlPair, MatchedControlSet
from audit.services import audit_log
from cases import models as m
from cases.demo import design as d
from cases.demo import rows as r
from cases.demo.writer import BulkForeignKeys, TableWriter
from cases.errors import DomainError

DEMO_PASSWORD = "demo-panel-2026"
REQUIRED_PRODUCTS = tuple(dict.fromkeys(d.PAPER_PRODUCTS + tuple(row[0] for row in d.EXTRA_MIX)))
# The registry proper: everything that hangs off a patient. Tables that reference these (other
# apps' applications, votes...) are found at run time and emptied with them.
REGISTRY_MODELS = (m.Patient, m.Case, m.Apheresis, m.ManufacturingAttempt,
                   m.ManufacturingAttempt.failure_reasons.through, m.ReleaseResult,
                   m.Infusion, m.Outcome, m.Cytopenia, MatchedControlPair, MatchedControlSet)


def demo_logins() -> list[dict]:
    """The demo accounts: {"username", "password", "role", "centre"} (centre code or None)."""
    logins = [{"username": f"centre.{code}", "password": DEMO_PASSWORD, "role": Role.CENTRE_USER.value,
               "centre": code} for code, _, _ in d.CENTRES]
    logins += [{"username": f"physician{i}", "password": DEMO_PASSWORD, "role": Role.PANEL_PHYSICIAN.value,
                "centre": None} for i in range(1, 6)]
    logins += [{"username": f"pharmacist{i}", "password": DEMO_PASSWORD, "role": Role.PANEL_PHARMACIST.value,
                "centre": None} for i in range(1, 4)]
    logins += [{"username": name, "password": DEMO_PASSWORD, "role": role.value, "centre": None}
               for name, role in (("ops", Role.OPS_MANAGER), ("admin", Role.ADMIN), ("analyst", Role.ANALYST))]
    return logins


def registry_is_empty() -> bool:
    return not m.Case.objects.exists() and not m.Patient.objects.exists()


def _is_history(model: type[models.Model]) -> bool:
    return model.__name__.startswith("Historical")


def _registry_tables() -> list[type[models.Model]]:
    """The registry models plus every model that references one of them (transitively)."""
    found = list(REGISTRY_MODELS)
    changed = True
    while changed:
        changed = False
        for model in apps.get_models(include_auto_created=True):
            if model in found or _is_history(model):
                continue
            if any(f.is_relation and (f.many_to_one or f.one_to_one) and f.related_model in found
                   for f in model._meta.fields):
                found.append(model)
                changed = True
    names = {model.__name__ for model in found}
    history = [model for model in apps.get_models(include_auto_created=True)
               if _is_history(model) and any(model.__name__.startswith(f"Historical{n}") for n in names)]
    return found + history


@transaction.atomic
def registry_reset(*, actor=None) -> dict[str, int]:
    """Empty the registry: cases and everything attached, patients, control sets, their history.

    Products, failure reasons, centres and users stay. One ``cases.registry.reset`` audit event.
    """
    tables = _registry_tables()
    counts = {model._meta.label_lower: model._base_manager.count() for model in tables}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Deferred foreign-key checks still queued in this transaction (a load just before)
            # would block TRUNCATE: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            # One TRUNCATE over the closure: fast at 100k cases, and it fails loudly if a table
            # outside the closure still points at a registry row.
            cursor.execute("TRUNCATE " + ", ".join(f'"{t._meta.db_table}"' for t in tables))
            # Back to Django's default, so a load in the same transaction may write in any order.
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            for model in reversed(tables):
                cursor.execute(f'DELETE FROM "{model._meta.db_table}"')  # noqa: S608 - own table names
    audit_log(code="cases.registry.reset", actor=actor, context={"deleted": {k: v for k, v in counts.items() if v}})
    return counts


def _catalogue() -> tuple[dict, dict, dict, dict]:
    products = {p.code: p for p in m.Product.objects.filter(code__in=REQUIRED_PRODUCTS)}
    missing = [code for code in REQUIRED_PRODUCTS if code not in products]
    if missing:
        raise DomainError(f"Product(s) missing from the catalogue: {', '.join(missing)}. Run "
                          "`python manage.py migrate` first (the products are seeded by a cases migration).")
    reasons = dict(m.FailureReason.objects.filter(code__in=d.REASON_CODES).values_list("code", "id"))
    missing = [code for code in d.REASON_CODES if code not in reasons]
    if missing:
        raise DomainError(f"Failure reason(s) missing: {', '.join(missing)}. Run `python manage.py migrate` first.")
    parameters: dict[str, list[r.Parameter]] = {code: [] for code in products}
    for p in m.ReleaseParameter.objects.filter(product__in=products.values()).select_related("product"):
        parameters[p.product.code].append(r.Parameter(p.id, p.kind, p.comparator, p.limit, p.unit))
    rules: dict[str, list] = {code: [] for code in products}
    for rule in m.DoseRule.objects.filter(product__in=products.values()).select_related("product"):
        rules[rule.product.code].append(rule)
    return products, reasons, parameters, rules


def _centres() -> dict[str, int]:
    ids = {}
    for code, name, _ in d.CENTRES:
        centre, _ = m.Centre.objects.update_or_create(code=code, defaults={"name": name, "active": True})
        ids[code] = centre.id
    return ids


def _users(centre_ids: dict[str, int]) -> int:
    # One hash for the shared demo password: hashing it per account would cost seconds per run.
    password = make_password(DEMO_PASSWORD)
    for login in demo_logins():
        role = login["role"]
        User.objects.update_or_create(username=login["username"], defaults={
            "role": role, "centre_id": centre_ids[login["centre"]] if login["centre"] else None,
            "password": password, "is_active": True,
            "is_staff": role == Role.ADMIN, "is_superuser": role == Role.ADMIN,
            "job_title": Role(role).label,
        })
    return len(demo_logins())


class _Writers:
    def __init__(self):
        through = m.ManufacturingAttempt.failure_reasons.through
        self.patient = TableWriter(m.Patient, ("id", "centre", "local_id", "sex", "birth_year", "weight_kg",
                                               "height_cm", "created_at"))
        self.case = TableWriter(m.Case, (
            "id", "public_id", "patient", "centre", "product", "indication", "diagnosis", "approval_date",
            "treatment_line", "ecog", "prior_lines", "prior_transplant", "prior_bendamustine",
            "bendamustine_last_dose_date", "bendamustine_cycles", "prior_high_dose_cytarabine", "comorbidity",
            "holding_therapy", "ldh_at_approval", "stage", "created_at"))
        self.apheresis = TableWriter(m.Apheresis, ("id", "case", "number", "date", "wbc", "neutrophils",
                                                   "lymphocytes", "cd3_per_ul", "haemoglobin", "platelets", "ldh",
                                                   "crp", "volume_processed_l"))
        self.attempt = TableWriter(m.ManufacturingAttempt, ("id", "case", "apheresis", "number", "shipped_on",
                                                            "result_on", "outcome", "lot_number",
                                                            "viable_car_t_dose", "notes"))
        self.reason = TableWriter(through, ("manufacturingattempt", "failurereason"))
        self.result = TableWriter(m.ReleaseResult, ("attempt", "parameter", "value_numeric", "value_text",
                                                    "within_spec"))
        self.infusion = TableWriter(m.Infusion, ("case", "attempt", "date", "dose", "bridging_therapy"))
        self.outcome = TableWriter(m.Outcome, ("case", "best_response", "crs_grade", "icans_grade", "icu_admission",
                                               "progression_date", "death_date", "death_cause",
                                               "last_contact_date"))
        self.cytopenia = TableWriter(m.Cytopenia, ("case", "kind", "day", "grade", "ctcae_version"))

    def all(self) -> list[TableWriter]:
        return [self.patient, self.case, self.apheresis, self.attempt, self.reason, self.result, self.infusion,
                self.outcome, self.cytopenia]


def _regular_profile(rng: random.Random, case: d.CasePlan) -> tuple[tuple, int | None, bool, bool]:
    infused = rng.random() < 0.9
    pfs = infused and rng.random() < 0.55
    dead = (pfs and rng.random() < 0.5) if infused else rng.random() < 0.7
    return (d.IN_SPEC,), (1 if infused else None), pfs, dead


def _write_case(rng, w: _Writers, case: d.CasePlan, index: int, local_number: int, ctx: dict) -> int:
    day = dt.timedelta(days=1)
    products, parameters, doses, reasons, centre_ids = (ctx["products"], ctx["parameters"], ctx["doses"],
                                                       ctx["reasons"], ctx["centre_ids"])
    profile = case.profile
    if profile:
        sequence, infused_attempt, pfs12, dead12 = (profile.sequence, profile.infused_attempt,
                                                    profile.pfs_event_12m, profile.os_dead_12m)
        attempt_reasons = profile.reasons
    else:
        sequence, infused_attempt, pfs12, dead12 = _regular_profile(rng, case)
        attempt_reasons = [None]
    created = dt.datetime.combine(case.approval_date, dt.time(9, 0), tzinfo=dt.UTC)
    patient = r.patient_values(rng, case)
    patient_id, case_id = w.patient.next_id(), w.case.next_id()
    w.patient.add((patient_id, centre_ids[case.centre], f"{case.centre.upper()}-{local_number:05d}",
                   patient["sex"], patient["birth_year"], patient["weight"], patient["height"], created))
    aph_date = case.approval_date + rng.randint(5, 25) * day
    base = r.baseline_values(rng, case, aph_date)
    w.case.add((case_id, f"C-{index + 1:06d}", patient_id, centre_ids[case.centre], products[case.product].id,
                case.indication, base["diagnosis"], case.approval_date, base["treatment_line"], base["ecog"],
                base["prior_lines"], base["prior_transplant"], base["prior_bendamustine"],
                base["bendamustine_last_dose_date"], base["bendamustine_cycles"],
                base["prior_high_dose_cytarabine"], base["comorbidity"], base["holding_therapy"],
                base["ldh_at_approval"], base["stage"], created))
    mf = profile is not None and profile.cohort != d.CONTROL

    def new_apheresis(number: int, date: dt.date) -> int:
        aph_id = w.apheresis.next_id()
        lab = r.labs(rng, mf)
        w.apheresis.add((aph_id, case_id, number, date, lab["wbc"], lab["neutrophils"], lab["lymphocytes"],
                         lab["cd3_per_ul"], lab["haemoglobin"], lab["platelets"], lab["ldh"], lab["crp"],
                         lab["volume_processed_l"]))
        return aph_id

    aph_number, aph_id = 1, new_apheresis(1, aph_date)
    turnaround = r.TURNAROUND.get(case.product, (18, 35))
    result_on = None
    infused = None
    weight = patient["weight"]
    for number, outcome in enumerate(sequence, start=1):
        if number == 1:
            shipped = aph_date + rng.randint(0, 2) * day
        elif rng.random() < 0.5:
            aph_number += 1
            aph_date = result_on + rng.randint(7, 21) * day
            aph_id = new_apheresis(aph_number, aph_date)
            shipped = aph_date + rng.randint(0, 2) * day
        else:
            shipped = result_on + rng.randint(2, 10) * day
        result_on = shipped + rng.randint(*turnaround) * day
        reason = attempt_reasons[number - 1]
        dose = None
        if outcome != d.NO_PRODUCT:
            dose = doses.draw(rng, case.product, case.indication, weight, low_dose=reason == "low_car_t_dose")
        attempt_id = w.attempt.next_id()
        lot = f"{case.product[:4].upper()}-{case.approval_date:%y}{index + 1:06d}-{number}"
        w.attempt.add((attempt_id, case_id, aph_id, number, shipped, result_on, outcome,
                       lot if outcome != d.NO_PRODUCT else "", dose, ""))
        if reason:
            w.reason.add((attempt_id, reasons[reason]))
        if outcome != d.NO_PRODUCT:
            failing = d.REASON_PARAMETER.get(reason) if outcome == d.OOS else None
            for parameter in parameters[case.product]:
                dose_value = None
                if parameter.kind == "car_t_dose":
                    dose_value = dose / weight if parameter.unit == "cells/kg" else dose
                value, text, within = r.release_value(rng, parameter, passing=parameter.kind != failing,
                                                      per_kg_dose=dose_value)
                w.result.add((attempt_id, parameter.id, value, text, within))
        if number == infused_attempt:
            infused = (attempt_id, result_on + rng.randint(4, 18) * day, dose)
    infusion_date = None
    if infused:
        infusion_date = infused[1]
        bridging = base["holding_therapy"] if base["holding_therapy"] != "none" else ""
        w.infusion.add((case_id, infused[0], infusion_date, infused[2], bridging))
    dates = r.outcome_dates(rng, approval=case.approval_date, infusion=infusion_date, last_activity=result_on,
                            pfs_event_12m=pfs12, os_dead_12m=dead12, designed=profile is not None)
    response = crs = icans = icu = None
    if infusion_date:
        event = pfs12 or dates["progression"] is not None
        response = rng.choices(("CR", "PR", "SD", "PD", "NE"),
                               weights=(15, 30, 15, 35, 5) if event else (80, 20, 0, 0, 0))[0]
        crs = rng.choices(range(5), weights=r.CRS_WEIGHTS)[0]
        icans = rng.choices(range(5), weights=r.ICANS_WEIGHTS)[0]
        icu = crs >= 3 or icans >= 3 or rng.random() < 0.05
        first_event = min((x for x in (dates["progression"], dates["death"]) if x), default=None)
        for timepoint, weights in r.CYTOPENIA_WEIGHTS.items():
            at = infusion_date + timepoint * day
            if (first_event and first_event <= at) or dates["last_contact"] < at:
                continue
            for kind, p in (("neutropenia", 0.85), ("thrombocytopenia", 0.85), ("anaemia", 0.3)):
                if rng.random() < p:
                    w.cytopenia.add((case_id, kind, timepoint, rng.choices(range(5), weights=weights)[0], "5.0"))
    w.outcome.add((case_id, response or "", crs, icans, icu, dates["progression"], dates["death"], dates["cause"],
                   dates["last_contact"]))
    return case_id


@transaction.atomic
def registry_seed(*, seed: int, size: int = d.DEFAULT_SIZE, actor=None) -> dict:
    """Load the demo registry (refuses a non-empty one) and the demo accounts; one audit event.

    Same ``seed`` and ``size`` give the same rows. Returns the counts written.
    """
    if size < 50:
        raise DomainError("The demo registry needs at least 50 LBCL cases (--size).")
    if not registry_is_empty():
        raise DomainError("The registry already holds cases: use --reset to replace them.")
    products, reasons, parameters, rules = _catalogue()
    centre_ids = _centres()
    users = _users(centre_ids)
    plan = d.build_plan(seed=seed, size=size, era_boundary=settings.ERA_BOUNDARY)
    rng = random.Random(f"rows:{seed}:{size}")
    ctx = {"products": products, "parameters": parameters, "doses": r.Doses(rules), "reasons": reasons,
           "centre_ids": centre_ids}
    writers = _Writers()
    local_numbers: Counter = Counter()
    case_ids = []
    with BulkForeignKeys([w.model for w in writers.all()]):
        for index, case in enumerate(plan):
            local_numbers[case.centre] += 1
            case_ids.append(_write_case(rng, writers, case, index, local_numbers[case.centre], ctx))
        for writer in writers.all():
            writer.flush()
    MatchedControlSet.objects.filter(is_current=True).update(is_current=False)
    control_set = MatchedControlSet.objects.create(
        seed=seed, is_current=True, created_by=actor if getattr(actor, "pk", None) else None,
        method="1:1, same product, nearest approval date; ties broken by the seed (demo registry)")
    pairs = [MatchedControlPair(control_set=control_set, mf_case_id=case_ids[i],
                                control_case_id=case_ids[c.matched_index])
             for i, c in enumerate(plan) if c.role == "mf" and c.matched_index is not None]
    MatchedControlPair.objects.bulk_create(pairs, batch_size=5000)
    counts = {w.table: w.count for w in writers.all()}
    counts.update({"lbcl_paper_cohort": size, "other_cases": sum(1 for c in plan if c.role == "extra"),
                   "matched_pairs": len(pairs), "users": users, "centres": len(centre_ids)})
    audit_log(code="cases.registry.seeded", actor=actor, obj=control_set,
              context={"seed": seed, "size": size, "counts": counts})
    return counts
