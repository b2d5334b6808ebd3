"""Every write to the registry: permission-checked, validated, saved and audited in one transaction."""

import uuid

from django.db import transaction
from django.forms.models import model_to_dict

from audit.services import audit_log, diff
from cases.errors import DomainError
from cases.models import (
    Apheresis,
    Case,
    Cytopenia,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    ReleaseResult,
)
from cases.permissions import check_write


def _snapshot(obj) -> dict:
    return {k: v for k, v in model_to_dict(obj).items() if k != "id"}


def _save_audited(obj, *, actor, code: str, centre, before: dict | None = None, exclude=None):
    """full_clean → save → audit event with the changed fields (old/new)."""
    obj.full_clean(exclude=exclude)
    obj.save()
    after = _snapshot(obj)
    changes = diff(before or {}, after)
    audit_log(code=code, actor=actor, obj=obj, centre_code=centre.code, changes=changes)
    return obj


def _apply(obj, fields: dict):
    for name, value in fields.items():
        setattr(obj, name, value)
    return obj


@transaction.atomic
def patient_create(*, actor, centre, local_id: str, sex: str, birth_year: int, weight_kg: float,
                   height_cm: float | None = None) -> Patient:
    """Register a pseudonymised patient of ``centre``."""
    check_write(actor, centre.pk)
    patient = Patient(centre=centre, local_id=local_id.strip(), sex=sex, birth_year=birth_year,
                      weight_kg=weight_kg, height_cm=height_cm)
    return _save_audited(patient, actor=actor, code="cases.patient.created", centre=centre)


@transaction.atomic
def patient_update(*, actor, patient: Patient, **fields) -> Patient:
    check_write(actor, patient.centre_id)
    before = _snapshot(patient)
    _apply(patient, fields)
    return _save_audited(patient, actor=actor, code="cases.patient.updated", centre=patient.centre, before=before)


@transaction.atomic
def case_create(*, actor, patient: Patient, **fields) -> Case:
    """Register a panel-approved case; its public id derives from the row id (race-free)."""
    check_write(actor, patient.centre_id)
    case = Case(patient=patient, centre=patient.centre, created_by=actor,
                public_id=f"new-{uuid.uuid4().hex[:16]}", **fields)
    case.full_clean(exclude=["public_id"])
    case.save()
    # Centre code + row id: unique without a counter, and never the seeded registry's "C-" ids.
    case.public_id = f"{case.centre.code.upper()}-{case.pk:06d}"
    case.save(update_fields=["public_id"])
    audit_log(code="cases.case.created", actor=actor, obj=case, centre_code=case.centre.code,
              changes=diff({}, _snapshot(case)))
    return case


@transaction.atomic
def case_update(*, actor, case: Case, **fields) -> Case:
    check_write(actor, case.centre_id)
    before = _snapshot(case)
    _apply(case, fields)
    return _save_audited(case, actor=actor, code="cases.case.updated", centre=case.centre, before=before)


@transaction.atomic
def apheresis_record(*, actor, case: Case, apheresis: Apheresis | None = None, **fields) -> Apheresis:
    """Add an apheresis (numbered next) or update one."""
    check_write(actor, case.centre_id)
    if apheresis is None:
        number = case.apheresis_set.count() + 1
        apheresis = Apheresis(case=case, number=number)
        before, code = None, "cases.apheresis.created"
    else:
        before, code = _snapshot(apheresis), "cases.apheresis.updated"
    _apply(apheresis, fields)
    if apheresis.pk and apheresis.date and \
            case.attempts.filter(apheresis=apheresis, shipped_on__lt=apheresis.date).exists():
        raise DomainError("A manufacturing attempt from this apheresis starts before this date.", field="date")
    return _save_audited(apheresis, actor=actor, code=code, centre=case.centre, before=before)


@transaction.atomic
def attempt_record(*, actor, case: Case, attempt: ManufacturingAttempt | None = None,
                   failure_reasons=None, **fields) -> ManufacturingAttempt:
    """Add the next manufacturing attempt (numbers stay consecutive) or update one."""
    check_write(actor, case.centre_id)
    if attempt is None:
        # Lock the case so two concurrent additions cannot take the same number.
        Case.objects.select_for_update().filter(pk=case.pk).first()
        attempt = ManufacturingAttempt(case=case, number=case.attempts.count() + 1)
        before, code, exclude = None, "cases.attempt.created", None
    else:
        before, code, exclude = _snapshot(attempt), "cases.attempt.updated", ["number"]
        if hasattr(attempt, "infusion") and fields.get("outcome") not in (None, attempt.outcome):
            raise DomainError("This product has been infused: its outcome can no longer change.", field="outcome")
    _apply(attempt, fields)
    _save_audited(attempt, actor=actor, code=code, centre=case.centre, before=before, exclude=exclude)
    if failure_reasons is not None:
        old = sorted(attempt.failure_reasons.values_list("code", flat=True))
        attempt.failure_reasons.set(failure_reasons)
        new = sorted(r.code for r in failure_reasons)
        if old != new:
            audit_log(code="cases.attempt.reasons_changed", actor=actor, obj=attempt, centre_code=case.centre.code,
                      changes={"failure_reasons": [old, new]})
    return attempt


@transaction.atomic
def attempt_record_release_results(*, actor, attempt: ManufacturingAttempt, values: dict) -> list[ReleaseResult]:
    """Record certificate-of-analysis values: ``values`` maps parameter → (numeric, text).

    ``within_spec`` is judged now, against the specification in force, and kept.
    """
    case = attempt.case
    check_write(actor, case.centre_id)
    saved, changes = [], {}
    existing = {r.parameter_id: r for r in attempt.release_results.select_related("parameter")}
    for parameter, (numeric, text) in values.items():
        if numeric is None and not text:
            if parameter.pk in existing:
                changes[parameter.kind] = [existing[parameter.pk].value_numeric or existing[parameter.pk].value_text,
                                           None]
                existing[parameter.pk].delete()
            continue
        result = existing.get(parameter.pk) or ReleaseResult(attempt=attempt, parameter=parameter)
        old = (result.value_numeric, result.value_text) if result.pk else (None, "")
        result.value_numeric, result.value_text = numeric, text or ""
        result.within_spec = parameter.is_met_by(numeric, text)
        result.full_clean()
        result.save()
        if old != (numeric, text or ""):
            changes[parameter.kind] = [old[0] if old[0] is not None else old[1] or None,
                                       numeric if numeric is not None else text]
        saved.append(result)
    if changes:
        audit_log(code="cases.attempt.release_results_recorded", actor=actor, obj=attempt,
                  centre_code=case.centre.code, changes=changes)
    return saved


@transaction.atomic
def infusion_record(*, actor, case: Case, infusion: Infusion | None = None, **fields) -> Infusion:
    """Record the one infusion of a case (or correct it)."""
    check_write(actor, case.centre_id)
    if infusion is None:
        if Infusion.objects.filter(case=case).exists():
            raise DomainError("This case already has an infusion: edit it instead.")
        infusion = Infusion(case=case)
        before, code = None, "cases.infusion.created"
    else:
        before, code = _snapshot(infusion), "cases.infusion.updated"
    _apply(infusion, fields)
    outcome = Outcome.objects.filter(case=case).first()
    if outcome and outcome.progression_date and infusion.date and outcome.progression_date < infusion.date:
        raise DomainError("A progression is recorded before this infusion date.", field="date")
    return _save_audited(infusion, actor=actor, code=code, centre=case.centre, before=before)


@transaction.atomic
def outcome_record(*, actor, case: Case, **fields) -> Outcome:
    """Create or update the case's response, toxicity and follow-up."""
    check_write(actor, case.centre_id)
    outcome = Outcome.objects.filter(case=case).first()
    if outcome is None:
        outcome, before, code = Outcome(case=case), None, "cases.outcome.created"
    else:
        before, code = _snapshot(outcome), "cases.outcome.updated"
    _apply(outcome, fields)
    return _save_audited(outcome, actor=actor, code=code, centre=case.centre, before=before)


@transaction.atomic
def cytopenia_record(*, actor, case: Case, **fields) -> Cytopenia:
    check_write(actor, case.centre_id)
    if not Infusion.objects.filter(case=case).exists():
        raise DomainError("Cytopenias are recorded after an infusion.")
    cytopenia = Cytopenia(case=case, **fields)
    return _save_audited(cytopenia, actor=actor, code="cases.cytopenia.created", centre=case.centre)
