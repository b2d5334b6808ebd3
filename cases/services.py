"""Every write to the registry: permission-checked, validated, saved and audited in one transaction.

Each service checks that the actor may write the owning centre's data, runs the model's
``full_clean()`` (a ``ValidationError`` reaches the form field by field), applies the domain rules
that span several records (a ``DomainError``), saves, and writes the audit event with the old and
new values of what changed — all or nothing.
"""

import datetime as dt
import uuid
from collections.abc import Iterable

from django.db import transaction
from django.forms.models import model_to_dict

from audit.services import audit_log, diff
from cases.errors import DomainError
from cases.models import (
    Apheresis,
    AttemptOutcome,
    Case,
    Cytopenia,
    FailureReason,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    Product,
    ReleaseParameter,
    ReleaseResult,
)
from cases.permissions import check_write

# Every audit event code these services write, with the text the audit pages show for it.
AUDIT_EVENTS = {
    "cases.patient.created": "registered a patient",
    "cases.patient.updated": "changed a patient's details",
    "cases.case.created": "registered a case",
    "cases.case.updated": "changed a case's baseline",
    "cases.apheresis.created": "recorded an apheresis",
    "cases.apheresis.updated": "corrected an apheresis",
    "cases.attempt.created": "recorded a manufacturing attempt",
    "cases.attempt.updated": "changed a manufacturing attempt",
    "cases.attempt.reasons_changed": "changed the failure reasons of an attempt",
    "cases.attempt.release_results_recorded": "recorded release results",
    "cases.infusion.created": "recorded an infusion",
    "cases.infusion.updated": "corrected an infusion",
    "cases.outcome.created": "recorded the outcome",
    "cases.outcome.updated": "updated the outcome and follow-up",
    "cases.cytopenia.created": "recorded a cytopenia",
}

# What an update may change: anything else (the owning centre, the case of a record) is fixed at creation.
PATIENT_FIELDS = frozenset({"local_id", "sex", "birth_year", "weight_kg", "height_cm"})
CASE_FIELDS = frozenset({
    "product", "indication", "diagnosis", "approval_date", "treatment_line", "ecog", "prior_lines",
    "prior_transplant", "prior_bendamustine", "bendamustine_last_dose_date", "bendamustine_cycles",
    "prior_high_dose_cytarabine", "comorbidity", "holding_therapy", "ldh_at_approval", "stage",
})
APHERESIS_FIELDS = frozenset({"date", "wbc", "neutrophils", "lymphocytes", "cd3_per_ul", "haemoglobin", "platelets",
                              "ldh", "crp", "volume_processed_l"})
ATTEMPT_FIELDS = frozenset({"apheresis", "shipped_on", "result_on", "outcome", "lot_number", "viable_car_t_dose",
                            "notes"})
INFUSION_FIELDS = frozenset({"attempt", "date", "dose", "bridging_therapy"})
OUTCOME_FIELDS = frozenset({"best_response", "crs_grade", "icans_grade", "icu_admission", "progression_date",
                            "death_date", "death_cause", "last_contact_date"})


def _snapshot(obj) -> dict:
    return {k: v for k, v in model_to_dict(obj).items() if k not in ("id", "failure_reasons")}


def _apply(obj, changes: dict, allowed: frozenset):
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"{type(obj).__name__} cannot change {', '.join(sorted(unknown))} here.")
    for name, value in changes.items():
        setattr(obj, name, value)
    return obj


def _save_audited(obj, *, actor, code: str, centre, before: dict | None = None, exclude=None):
    """full_clean → save → audit event with the changed fields (old/new)."""
    obj.full_clean(exclude=exclude)
    obj.save()
    audit_log(code=code, actor=actor, obj=obj, centre_code=centre.code, changes=diff(before or {}, _snapshot(obj)))
    return obj


def _lock_case(case: Case) -> None:
    # Serialises writes that number records or keep one-per-case rules within a case, so two
    # concurrent requests cannot both take attempt number 2 or both record the infusion.
    Case.objects.select_for_update().filter(pk=case.pk).first()


def _check_infusion_against_outcome(case: Case, infusion_date: dt.date | None) -> None:
    outcome = Outcome.objects.filter(case=case).first()
    if outcome is None or infusion_date is None:
        return
    if outcome.progression_date and outcome.progression_date < infusion_date:
        raise DomainError(f"A progression is recorded on {outcome.progression_date}, before this infusion date.",
                          field="date")
    if outcome.death_date and outcome.death_date < infusion_date:
        raise DomainError(f"A death is recorded on {outcome.death_date}, before this infusion date.", field="date")


# Patients -----------------------------------------------------------------------------------------

@transaction.atomic
def patient_create(*, actor, centre, local_id: str, sex: str, birth_year: int, weight_kg: float,
                   height_cm: float | None = None) -> Patient:
    """Register a pseudonymised patient of ``centre`` (local study id, never a name)."""
    check_write(actor, centre.pk)
    patient = Patient(centre=centre, local_id=local_id.strip(), sex=sex, birth_year=birth_year,
                      weight_kg=weight_kg, height_cm=height_cm)
    return _save_audited(patient, actor=actor, code="cases.patient.created", centre=centre)


@transaction.atomic
def patient_update(*, actor, patient: Patient, **changes) -> Patient:
    """Correct a patient's details; only ``PATIENT_FIELDS`` can change."""
    check_write(actor, patient.centre_id)
    before = _snapshot(patient)
    _apply(patient, changes, PATIENT_FIELDS)
    return _save_audited(patient, actor=actor, code="cases.patient.updated", centre=patient.centre, before=before)


# Cases --------------------------------------------------------------------------------------------

@transaction.atomic
def case_create(*, actor, patient: Patient, product: Product, indication: str, approval_date: dt.date,
                diagnosis: str = "", treatment_line: int | None = None, ecog: int | None = None,
                prior_lines: int | None = None, prior_transplant: str = "", prior_bendamustine: bool | None = None,
                bendamustine_last_dose_date: dt.date | None = None, bendamustine_cycles: int | None = None,
                prior_high_dose_cytarabine: bool | None = None, comorbidity: bool | None = None,
                holding_therapy: str = "", ldh_at_approval: float | None = None, stage: int | None = None) -> Case:
    """Register a panel-approved case of the patient's centre; its public id derives from the row id."""
    check_write(actor, patient.centre_id)
    case = Case(
        patient=patient, centre=patient.centre, created_by=actor, product=product, indication=indication.strip(),
        approval_date=approval_date, diagnosis=diagnosis, treatment_line=treatment_line, ecog=ecog,
        prior_lines=prior_lines, prior_transplant=prior_transplant, prior_bendamustine=prior_bendamustine,
        bendamustine_last_dose_date=bendamustine_last_dose_date, bendamustine_cycles=bendamustine_cycles,
        prior_high_dose_cytarabine=prior_high_dose_cytarabine, comorbidity=comorbidity,
        holding_therapy=holding_therapy, ldh_at_approval=ldh_at_approval, stage=stage,
        # A unique placeholder until the row id exists: the final id needs no counter, so two
        # concurrent registrations can never be given the same one.
        public_id=f"new-{uuid.uuid4().hex[:16]}",
    )
    case.full_clean(exclude=["public_id"])
    case.save()
    # Centre code + row id: unique without a counter, and never the seeded registry's "C-" ids.
    case.public_id = f"{case.centre.code.upper()}-{case.pk:06d}"
    case.save(update_fields=["public_id"])
    audit_log(code="cases.case.created", actor=actor, obj=case, centre_code=case.centre.code,
              changes=diff({}, _snapshot(case)))
    return case


@transaction.atomic
def case_update(*, actor, case: Case, **changes) -> Case:
    """Edit a case's baseline; only ``CASE_FIELDS`` can change."""
    check_write(actor, case.centre_id)
    before = _snapshot(case)
    _apply(case, changes, CASE_FIELDS)
    if "product" in changes and changes["product"].pk != before["product"] and case.attempts.exists():
        raise DomainError("The product cannot change once a manufacturing attempt is recorded.", field="product")
    outcome = Outcome.objects.filter(case=case).first()
    if outcome and case.approval_date:
        for name, label in (("death_date", "A death"), ("last_contact_date", "The last contact")):
            when = getattr(outcome, name)
            if when and when < case.approval_date:
                raise DomainError(f"{label} is recorded on {when}, before this approval date.",
                                  field="approval_date")
    return _save_audited(case, actor=actor, code="cases.case.updated", centre=case.centre, before=before)


# Apheresis ----------------------------------------------------------------------------------------

@transaction.atomic
def apheresis_record(*, actor, case: Case, date: dt.date, wbc: float | None = None, neutrophils: float | None = None,
                     lymphocytes: float | None = None, cd3_per_ul: float | None = None,
                     haemoglobin: float | None = None, platelets: float | None = None, ldh: float | None = None,
                     crp: float | None = None, volume_processed_l: float | None = None) -> Apheresis:
    """Add a collection, numbered after the case's previous ones (a re-collection is a new one)."""
    check_write(actor, case.centre_id)
    _lock_case(case)
    apheresis = Apheresis(case=case, number=case.apheresis_set.count() + 1, date=date, wbc=wbc,
                          neutrophils=neutrophils, lymphocytes=lymphocytes, cd3_per_ul=cd3_per_ul,
                          haemoglobin=haemoglobin, platelets=platelets, ldh=ldh, crp=crp,
                          volume_processed_l=volume_processed_l)
    return _save_audited(apheresis, actor=actor, code="cases.apheresis.created", centre=case.centre)


@transaction.atomic
def apheresis_update(*, actor, apheresis: Apheresis, **changes) -> Apheresis:
    """Correct a collection; its date cannot move after a manufacture started from it."""
    case = apheresis.case
    check_write(actor, case.centre_id)
    before = _snapshot(apheresis)
    _apply(apheresis, changes, APHERESIS_FIELDS)
    started = apheresis.attempts.order_by("shipped_on").values_list("shipped_on", flat=True).first()
    if started and apheresis.date and started < apheresis.date:
        raise DomainError(f"A manufacturing attempt from this apheresis started on {started}, before this date.",
                          field="date")
    return _save_audited(apheresis, actor=actor, code="cases.apheresis.updated", centre=case.centre, before=before)


# Manufacturing attempts ---------------------------------------------------------------------------

def _audit_reasons(*, actor, attempt, old: list[str], reasons: Iterable[FailureReason]) -> None:
    new = sorted(r.code for r in reasons)
    if old != new:
        audit_log(code="cases.attempt.reasons_changed", actor=actor, obj=attempt,
                  centre_code=attempt.case.centre.code, changes={"failure_reasons": [old, new]})


@transaction.atomic
def attempt_record(*, actor, case: Case, apheresis: Apheresis, shipped_on: dt.date, result_on: dt.date | None = None,
                   outcome: str = AttemptOutcome.PENDING, failure_reasons: Iterable[FailureReason] = (),
                   lot_number: str = "", viable_car_t_dose: float | None = None,
                   notes: str = "") -> ManufacturingAttempt:
    """Add the case's next manufacturing attempt: numbers are 1, 2, 3… with no gap."""
    check_write(actor, case.centre_id)
    _lock_case(case)
    attempt = ManufacturingAttempt(case=case, number=case.attempts.count() + 1, apheresis=apheresis,
                                   shipped_on=shipped_on, result_on=result_on, outcome=outcome,
                                   lot_number=lot_number, viable_car_t_dose=viable_car_t_dose, notes=notes)
    _save_audited(attempt, actor=actor, code="cases.attempt.created", centre=case.centre)
    reasons = list(failure_reasons)
    if reasons:
        attempt.failure_reasons.set(reasons)
        _audit_reasons(actor=actor, attempt=attempt, old=[], reasons=reasons)
    return attempt


@transaction.atomic
def attempt_update(*, actor, attempt: ManufacturingAttempt, failure_reasons: Iterable[FailureReason] | None = None,
                   **changes) -> ManufacturingAttempt:
    """Correct an attempt (its number never changes); an infused product keeps its outcome and start date."""
    case = attempt.case
    check_write(actor, case.centre_id)
    before = _snapshot(attempt)
    _apply(attempt, changes, ATTEMPT_FIELDS)
    infusion = Infusion.objects.filter(attempt=attempt).first()
    if infusion is not None:
        if attempt.outcome != before["outcome"]:
            raise DomainError("This product has been infused: its outcome can no longer change.", field="outcome")
        if attempt.shipped_on and attempt.shipped_on > infusion.date:
            raise DomainError(f"This product was infused on {infusion.date}: manufacture cannot start after that.",
                              field="shipped_on")
    _save_audited(attempt, actor=actor, code="cases.attempt.updated", centre=case.centre, before=before,
                  exclude=["number"])
    if failure_reasons is not None:
        reasons = list(failure_reasons)
        old = sorted(attempt.failure_reasons.values_list("code", flat=True))
        attempt.failure_reasons.set(reasons)
        _audit_reasons(actor=actor, attempt=attempt, old=old, reasons=reasons)
    return attempt


@transaction.atomic
def attempt_record_release_results(
    *, actor, attempt: ManufacturingAttempt, values: dict[ReleaseParameter, tuple[float | None, str]],
) -> list[ReleaseResult]:
    """Record certificate-of-analysis values: ``values`` maps parameter → (numeric, text).

    ``within_spec`` is judged now, against the specification in force, and kept: a later change
    of a limit must not rewrite what the panel saw. An empty value removes the result.
    """
    case = attempt.case
    check_write(actor, case.centre_id)
    saved, changes = [], {}
    existing = {r.parameter_id: r for r in attempt.release_results.select_related("parameter")}
    for parameter, (numeric, text) in values.items():
        text = (text or "").strip()
        previous = existing.get(parameter.pk)
        old_value = None if previous is None else (
            previous.value_numeric if previous.value_numeric is not None else previous.value_text or None)
        if numeric is None and not text:
            if previous is not None:
                changes[parameter.kind] = [old_value, None]
                previous.delete()
            continue
        result = previous or ReleaseResult(attempt=attempt, parameter=parameter)
        result.value_numeric, result.value_text = numeric, text
        result.within_spec = parameter.is_met_by(numeric, text)
        result.full_clean()
        result.save()
        new_value = numeric if numeric is not None else text
        if old_value != new_value:
            changes[parameter.kind] = [old_value, new_value]
        saved.append(result)
    if changes:
        audit_log(code="cases.attempt.release_results_recorded", actor=actor, obj=attempt,
                  centre_code=case.centre.code, changes=changes)
    return saved


# Infusion, outcome, cytopenias --------------------------------------------------------------------

@transaction.atomic
def infusion_record(*, actor, case: Case, attempt: ManufacturingAttempt, date: dt.date, dose: float | None = None,
                    bridging_therapy: str = "") -> Infusion:
    """Record the one infusion of a case, of an in-specification or OOS product."""
    check_write(actor, case.centre_id)
    _lock_case(case)
    if Infusion.objects.filter(case=case).exists():
        raise DomainError("This case already has an infusion: edit it instead.")
    infusion = Infusion(case=case, attempt=attempt, date=date, dose=dose, bridging_therapy=bridging_therapy)
    _check_infusion_against_outcome(case, date)
    return _save_audited(infusion, actor=actor, code="cases.infusion.created", centre=case.centre)


@transaction.atomic
def infusion_update(*, actor, infusion: Infusion, **changes) -> Infusion:
    """Correct the infusion; it must stay before any recorded progression or death."""
    case = infusion.case
    check_write(actor, case.centre_id)
    before = _snapshot(infusion)
    _apply(infusion, changes, INFUSION_FIELDS)
    _check_infusion_against_outcome(case, infusion.date)
    return _save_audited(infusion, actor=actor, code="cases.infusion.updated", centre=case.centre, before=before)


def _check_outcome_against_infusion(outcome: Outcome) -> None:
    infusion = Infusion.objects.filter(case_id=outcome.case_id).first()
    if infusion and outcome.death_date and outcome.death_date < infusion.date:
        raise DomainError(f"Death cannot be before the infusion ({infusion.date}).", field="death_date")


@transaction.atomic
def outcome_record(*, actor, case: Case, last_contact_date: dt.date, best_response: str = "",
                   crs_grade: int | None = None, icans_grade: int | None = None, icu_admission: bool | None = None,
                   progression_date: dt.date | None = None, death_date: dt.date | None = None,
                   death_cause: str = "") -> Outcome:
    """Record the case's response, toxicity and follow-up (one row per case: later, update it)."""
    check_write(actor, case.centre_id)
    _lock_case(case)
    if Outcome.objects.filter(case=case).exists():
        raise DomainError("This case already has an outcome: edit it instead.")
    outcome = Outcome(case=case, last_contact_date=last_contact_date, best_response=best_response,
                      crs_grade=crs_grade, icans_grade=icans_grade, icu_admission=icu_admission,
                      progression_date=progression_date, death_date=death_date, death_cause=death_cause)
    _check_outcome_against_infusion(outcome)
    return _save_audited(outcome, actor=actor, code="cases.outcome.created", centre=case.centre)


@transaction.atomic
def outcome_update(*, actor, outcome: Outcome, **changes) -> Outcome:
    """Update the follow-up (a new last contact, a progression, a death...); only ``OUTCOME_FIELDS`` change."""
    case = outcome.case
    check_write(actor, case.centre_id)
    before = _snapshot(outcome)
    _apply(outcome, changes, OUTCOME_FIELDS)
    _check_outcome_against_infusion(outcome)
    return _save_audited(outcome, actor=actor, code="cases.outcome.updated", centre=case.centre, before=before)


@transaction.atomic
def cytopenia_record(*, actor, case: Case, kind: str, day: int, grade: int, ctcae_version: str = "5.0") -> Cytopenia:
    """Record a cytopenia grade (CTCAE) at a day after infusion."""
    check_write(actor, case.centre_id)
    if not Infusion.objects.filter(case=case).exists():
        raise DomainError("Cytopenias are recorded after an infusion.")
    cytopenia = Cytopenia(case=case, kind=kind, day=day, grade=grade, ctcae_version=ctcae_version)
    return _save_audited(cytopenia, actor=actor, code="cases.cytopenia.created", centre=case.centre)
