"""The registry write services: each write is permission-checked, validated, saved and audited
in one transaction, so a refused write leaves neither a row nor an audit event behind."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audit.models import AuditEvent
from cases import services
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
from tests.factories import ApheresisFactory, AttemptFactory, CaseFactory, PatientFactory

pytestmark = pytest.mark.django_db

APPROVAL = dt.date(2022, 3, 1)


def _event(code, obj) -> AuditEvent:
    return AuditEvent.objects.get(code=code, object_type=obj._meta.label_lower, object_id=str(obj.pk))


def _patient_kwargs(**overrides):
    kwargs = {"local_id": "A-001", "sex": "M", "birth_year": 1960, "weight_kg": 80.0}
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def axi_cel(db):
    return Product.objects.get(code="axi-cel")


@pytest.fixture
def case(personas, axi_cel):
    centre = personas["centre_a"].centre
    return CaseFactory(patient=PatientFactory(centre=centre), product=axi_cel, approval_date=APPROVAL)


@pytest.fixture
def apheresis(case):
    return ApheresisFactory(case=case, date=APPROVAL + dt.timedelta(days=10))


@pytest.fixture
def infused_case(case, apheresis):
    attempt = AttemptFactory(case=case, apheresis=apheresis, shipped_on=apheresis.date + dt.timedelta(days=1))
    Infusion.objects.create(case=case, attempt=attempt, date=attempt.result_on + dt.timedelta(days=5), dose=1.5e8)
    return Case.objects.get(pk=case.pk)


class _Counts:
    """Row counts of the registry tables and the audit trail, to compare before and after."""

    MODELS = (Patient, Case, Apheresis, ManufacturingAttempt, ReleaseResult, Infusion, Outcome, Cytopenia,
              AuditEvent)

    def __init__(self):
        self.values = {model.__name__: model.objects.count() for model in self.MODELS}

    def __eq__(self, other):
        return self.values == other.values

    def __repr__(self):
        return repr(self.values)


# --- patients ---------------------------------------------------------------------------------


def test_patient_create_writes_the_row_and_an_audit_event_with_new_values(personas):
    user = personas["centre_a"]
    patient = services.patient_create(actor=user, centre=user.centre, **_patient_kwargs(local_id="  A-001 "))

    stored = Patient.objects.get(pk=patient.pk)
    assert (stored.centre, stored.local_id, stored.weight_kg) == (user.centre, "A-001", 80.0)
    event = _event("cases.patient.created", patient)
    assert event.actor == user
    assert event.centre_code == "ctra"
    assert event.changes["local_id"] == [None, "A-001"]
    assert event.changes["weight_kg"] == [None, 80.0]
    assert event.changes["centre"] == [None, user.centre.pk]


@pytest.mark.parametrize("weight", [0, 301])
def test_patient_create_rejects_a_weight_outside_1_to_300_kg(personas, weight):
    user = personas["centre_a"]
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.patient_create(actor=user, centre=user.centre, **_patient_kwargs(weight_kg=weight))
    assert "weight_kg" in exc.value.message_dict
    assert _Counts() == before


@pytest.mark.parametrize("weight", [1, 300])
def test_patient_create_accepts_the_weight_bounds(personas, weight):
    user = personas["centre_a"]
    patient = services.patient_create(actor=user, centre=user.centre, **_patient_kwargs(weight_kg=weight))
    assert Patient.objects.get(pk=patient.pk).weight_kg == weight


def test_patient_create_rejects_a_local_id_already_used_at_the_centre(personas):
    user = personas["centre_a"]
    services.patient_create(actor=user, centre=user.centre, **_patient_kwargs())
    before = _Counts()
    with pytest.raises(ValidationError):
        services.patient_create(actor=user, centre=user.centre, **_patient_kwargs(local_id="A-001 "))
    assert _Counts() == before


def test_patient_create_allows_the_same_local_id_at_another_centre(personas):
    services.patient_create(actor=personas["centre_a"], centre=personas["centre_a"].centre, **_patient_kwargs())
    services.patient_create(actor=personas["centre_b"], centre=personas["centre_b"].centre, **_patient_kwargs())
    assert Patient.objects.filter(local_id="A-001").count() == 2


@pytest.mark.parametrize("persona", ["centre_b", "analyst", "physician", "pharmacist", "ops"])
def test_patient_create_is_refused_to_other_centres_and_read_only_roles(personas, persona):
    before = _Counts()
    with pytest.raises(PermissionDenied):
        services.patient_create(actor=personas[persona], centre=personas["centre_a"].centre, **_patient_kwargs())
    assert _Counts() == before


def test_patient_create_is_allowed_to_an_admin_for_any_centre(personas):
    patient = services.patient_create(actor=personas["admin"], centre=personas["centre_b"].centre,
                                      **_patient_kwargs())
    assert _event("cases.patient.created", patient).actor == personas["admin"]


def test_patient_update_audits_only_the_changed_fields(personas):
    user = personas["centre_a"]
    patient = services.patient_create(actor=user, centre=user.centre, **_patient_kwargs())
    services.patient_update(actor=user, patient=patient, weight_kg=82.5)
    assert _event("cases.patient.updated", patient).changes == {"weight_kg": [80.0, 82.5]}


# --- cases ------------------------------------------------------------------------------------


def test_case_create_derives_the_public_id_from_the_centre_and_row_id(personas, axi_cel):
    user = personas["centre_a"]
    patient = PatientFactory(centre=user.centre)
    case = services.case_create(actor=user, patient=patient, product=axi_cel, indication="LBCL",
                                approval_date=APPROVAL)

    stored = Case.objects.get(pk=case.pk)
    assert stored.public_id == f"CTRA-{case.pk:06d}"
    assert (stored.centre, stored.created_by, stored.product) == (user.centre, user, axi_cel)
    event = _event("cases.case.created", case)
    assert event.object_repr == stored.public_id
    assert event.changes["approval_date"] == [None, "2022-03-01"]
    assert event.changes["product"] == [None, axi_cel.pk]


def test_case_create_numbers_consecutive_cases_with_distinct_public_ids(personas, axi_cel):
    user = personas["centre_a"]
    patient = PatientFactory(centre=user.centre)
    ids = [services.case_create(actor=user, patient=patient, product=axi_cel, indication="LBCL",
                                approval_date=APPROVAL).public_id for _ in range(2)]
    assert len(set(ids)) == 2
    assert all(i.startswith("CTRA-") and len(i) == len("CTRA-000000") for i in ids)


def test_case_create_refuses_a_patient_of_another_centre(personas, axi_cel):
    patient_b = PatientFactory(centre=personas["centre_b"].centre)
    before = _Counts()
    with pytest.raises(PermissionDenied):
        services.case_create(actor=personas["centre_a"], patient=patient_b, product=axi_cel, indication="LBCL",
                             approval_date=APPROVAL)
    assert _Counts() == before


def test_case_create_refused_by_validation_leaves_no_row_and_no_event(personas, axi_cel):
    user = personas["centre_a"]
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.case_create(actor=user, patient=PatientFactory(centre=user.centre), product=axi_cel,
                             indication="LBCL", approval_date=APPROVAL, ecog=6)
    assert "ecog" in exc.value.message_dict
    # The patient came from the factory inside the block; only it may have been added.
    after = _Counts()
    after.values["Patient"] -= 1
    assert after == before


def test_case_create_rolls_back_the_row_when_the_audit_event_cannot_be_written(personas, axi_cel, monkeypatch):
    user = personas["centre_a"]
    patient = PatientFactory(centre=user.centre)

    def broken_audit_log(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(services, "audit_log", broken_audit_log)
    before = _Counts()
    with pytest.raises(RuntimeError):
        services.case_create(actor=user, patient=patient, product=axi_cel, indication="LBCL",
                             approval_date=APPROVAL)
    assert _Counts() == before


def test_case_update_audits_old_and_new_values_of_the_changed_fields(personas, case):
    services.case_update(actor=personas["centre_a"], case=case, ecog=3, approval_date=dt.date(2022, 2, 20))

    stored = Case.objects.get(pk=case.pk)
    assert (stored.ecog, stored.approval_date) == (3, dt.date(2022, 2, 20))
    assert _event("cases.case.updated", case).changes == {
        "ecog": [1, 3],
        "approval_date": ["2022-03-01", "2022-02-20"],
    }


def test_case_update_refuses_an_approval_after_the_first_apheresis(personas, case, apheresis):
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.case_update(actor=personas["centre_a"], case=case, approval_date=apheresis.date + dt.timedelta(1))
    assert "approval_date" in exc.value.message_dict
    assert Case.objects.get(pk=case.pk).approval_date == APPROVAL
    assert _Counts() == before


def test_case_update_is_refused_to_another_centre(personas, case):
    with pytest.raises(PermissionDenied):
        services.case_update(actor=personas["centre_b"], case=case, ecog=3)
    assert Case.objects.get(pk=case.pk).ecog == 1
    assert not AuditEvent.objects.filter(code="cases.case.updated").exists()


# --- apheresis --------------------------------------------------------------------------------


def test_apheresis_record_numbers_collections_1_then_2(personas, case):
    user = personas["centre_a"]
    first = services.apheresis_record(actor=user, case=case, date=APPROVAL + dt.timedelta(days=5))
    second = services.apheresis_record(actor=user, case=case, date=APPROVAL + dt.timedelta(days=40), wbc=4.2)

    assert list(case.apheresis_set.order_by("number").values_list("number", flat=True)) == [1, 2]
    assert (first.number, second.number) == (1, 2)
    changes = _event("cases.apheresis.created", second).changes
    assert changes["number"] == [None, 2]
    assert changes["date"] == [None, "2022-04-10"]
    assert changes["wbc"] == [None, 4.2]


def test_apheresis_record_refuses_a_date_before_the_panel_approval(personas, case):
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.apheresis_record(actor=personas["centre_a"], case=case, date=APPROVAL - dt.timedelta(days=1))
    assert "date" in exc.value.message_dict
    assert _Counts() == before


def test_apheresis_update_refuses_a_date_after_an_attempt_started_from_it(personas, case, apheresis):
    AttemptFactory(case=case, apheresis=apheresis, shipped_on=apheresis.date + dt.timedelta(days=1))
    before = _Counts()
    with pytest.raises(DomainError) as exc:
        services.apheresis_update(actor=personas["centre_a"], apheresis=apheresis,
                                  date=apheresis.date + dt.timedelta(days=2))
    assert exc.value.field == "date"
    assert _Counts() == before


def test_apheresis_update_audits_old_and_new_values(personas, case, apheresis):
    services.apheresis_update(actor=personas["centre_a"], apheresis=apheresis, lymphocytes=0.8)
    assert _event("cases.apheresis.updated", apheresis).changes == {"lymphocytes": [None, 0.8]}


# --- manufacturing attempts -------------------------------------------------------------------


def _attempt(user, case, apheresis, **fields):
    fields.setdefault("shipped_on", apheresis.date + dt.timedelta(days=1))
    return services.attempt_record(actor=user, case=case, apheresis=apheresis, **fields)


def test_attempt_record_numbers_attempts_consecutively(personas, case, apheresis):
    user = personas["centre_a"]
    numbers = [_attempt(user, case, apheresis, outcome=outcome).number
               for outcome in (AttemptOutcome.NO_PRODUCT, AttemptOutcome.OOS, AttemptOutcome.PENDING)]

    assert numbers == [1, 2, 3]
    assert list(case.attempts.values_list("number", flat=True)) == [1, 2, 3]
    assert AuditEvent.objects.filter(code="cases.attempt.created", centre_code="ctra").count() == 3


def test_attempt_record_audits_the_new_attempt(personas, case, apheresis):
    attempt = _attempt(personas["centre_a"], case, apheresis, outcome=AttemptOutcome.IN_SPEC, lot_number="L1")
    changes = _event("cases.attempt.created", attempt).changes
    assert changes["number"] == [None, 1]
    assert changes["outcome"] == [None, "in_spec"]
    assert changes["lot_number"] == [None, "L1"]
    assert changes["shipped_on"] == [None, "2022-03-12"]


def test_attempt_record_refuses_a_start_before_the_apheresis(personas, case, apheresis):
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        _attempt(personas["centre_a"], case, apheresis, shipped_on=apheresis.date - dt.timedelta(days=1))
    assert "shipped_on" in exc.value.message_dict
    assert _Counts() == before


def test_attempt_record_refuses_a_result_before_the_start(personas, case, apheresis):
    shipped = apheresis.date + dt.timedelta(days=3)
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        _attempt(personas["centre_a"], case, apheresis, shipped_on=shipped, result_on=shipped - dt.timedelta(1))
    assert "result_on" in exc.value.message_dict
    assert _Counts() == before


def test_attempt_record_refuses_a_dose_for_a_no_product_attempt(personas, case, apheresis):
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        _attempt(personas["centre_a"], case, apheresis, outcome=AttemptOutcome.NO_PRODUCT, viable_car_t_dose=1e8)
    assert "viable_car_t_dose" in exc.value.message_dict
    assert _Counts() == before


def test_attempt_record_refuses_an_apheresis_of_another_case(personas, case, axi_cel):
    other = CaseFactory(patient=PatientFactory(centre=case.centre), product=axi_cel)
    other_apheresis = ApheresisFactory(case=other)
    with pytest.raises(ValidationError) as exc:
        _attempt(personas["centre_a"], case, other_apheresis)
    assert "apheresis" in exc.value.message_dict
    assert not case.attempts.exists()


def test_attempt_record_audits_changed_failure_reasons(personas, case, apheresis):
    user = personas["centre_a"]
    reasons = list(FailureReason.objects.filter(code__in=["low_viability", "low_car_t_dose"]))
    attempt = _attempt(user, case, apheresis, outcome=AttemptOutcome.OOS, failure_reasons=reasons)

    assert sorted(attempt.failure_reasons.values_list("code", flat=True)) == ["low_car_t_dose", "low_viability"]
    assert _event("cases.attempt.reasons_changed", attempt).changes == {
        "failure_reasons": [[], ["low_car_t_dose", "low_viability"]],
    }


def test_attempt_outcome_cannot_change_once_the_product_was_infused(personas, infused_case):
    attempt = infused_case.infusion.attempt
    with pytest.raises(DomainError) as exc:
        services.attempt_update(actor=personas["centre_a"], attempt=attempt, outcome=AttemptOutcome.OOS)
    assert exc.value.field == "outcome"
    assert ManufacturingAttempt.objects.get(pk=attempt.pk).outcome == AttemptOutcome.IN_SPEC


def test_attempt_update_keeps_its_number_and_audits_the_change(personas, case, apheresis):
    user = personas["centre_a"]
    attempt = _attempt(user, case, apheresis)
    _attempt(user, case, apheresis)
    services.attempt_update(actor=user, attempt=attempt, outcome=AttemptOutcome.OOS,
                            result_on=apheresis.date + dt.timedelta(days=20))

    assert ManufacturingAttempt.objects.get(pk=attempt.pk).number == 1
    assert _event("cases.attempt.updated", attempt).changes == {
        "outcome": ["pending", "oos"],
        "result_on": [None, "2022-03-31"],
    }


# --- release results --------------------------------------------------------------------------


def _parameter(product, kind) -> ReleaseParameter:
    return ReleaseParameter.objects.get(product=product, kind=kind)


def test_release_results_are_judged_against_the_seeded_specification(personas, case, apheresis, axi_cel):
    attempt = _attempt(personas["centre_a"], case, apheresis, outcome=AttemptOutcome.OOS)
    viability, sterility = _parameter(axi_cel, "viability"), _parameter(axi_cel, "sterility")
    assert (viability.comparator, viability.limit) == ("gte", 70)

    services.attempt_record_release_results(actor=personas["centre_a"], attempt=attempt, values={
        viability: (65.0, ""),
        sterility: (None, "Negative"),
    })

    stored = {r.parameter.kind: r for r in attempt.release_results.select_related("parameter")}
    assert stored["viability"].within_spec is False
    assert stored["sterility"].within_spec is True
    assert _event("cases.attempt.release_results_recorded", attempt).changes == {
        "viability": [None, 65.0],
        "sterility": [None, "Negative"],
    }


def test_release_result_at_the_limit_is_within_spec_and_a_correction_is_audited(personas, case, apheresis,
                                                                                 axi_cel):
    user = personas["centre_a"]
    attempt = _attempt(user, case, apheresis)
    viability = _parameter(axi_cel, "viability")
    services.attempt_record_release_results(actor=user, attempt=attempt, values={viability: (50.0, "")})
    services.attempt_record_release_results(actor=user, attempt=attempt, values={viability: (70.0, "")})

    result = ReleaseResult.objects.get(attempt=attempt, parameter=viability)
    assert (result.value_numeric, result.within_spec) == (70.0, True)
    last = AuditEvent.objects.filter(code="cases.attempt.release_results_recorded").order_by("-id").first()
    assert last.changes == {"viability": [50.0, 70.0]}


def test_release_result_cleared_value_deletes_the_row_and_is_audited(personas, case, apheresis, axi_cel):
    user = personas["centre_a"]
    attempt = _attempt(user, case, apheresis)
    viability = _parameter(axi_cel, "viability")
    services.attempt_record_release_results(actor=user, attempt=attempt, values={viability: (75.0, "")})
    services.attempt_record_release_results(actor=user, attempt=attempt, values={viability: (None, "")})

    assert not attempt.release_results.exists()
    last = AuditEvent.objects.filter(code="cases.attempt.release_results_recorded").order_by("-id").first()
    assert last.changes == {"viability": [75.0, None]}


def test_release_results_are_all_or_nothing_when_one_parameter_is_refused(personas, case, apheresis, axi_cel):
    user = personas["centre_a"]
    attempt = _attempt(user, case, apheresis)
    other_product = _parameter(Product.objects.get(code="tisa-cel"), "viability")
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.attempt_record_release_results(actor=user, attempt=attempt, values={
            _parameter(axi_cel, "viability"): (80.0, ""),
            other_product: (90.0, ""),
        })
    assert "parameter" in exc.value.message_dict
    assert _Counts() == before


def test_release_results_are_refused_to_another_centre(personas, case, apheresis, axi_cel):
    attempt = AttemptFactory(case=case, apheresis=apheresis)
    with pytest.raises(PermissionDenied):
        services.attempt_record_release_results(actor=personas["centre_b"], attempt=attempt,
                                                values={_parameter(axi_cel, "viability"): (80.0, "")})
    assert not attempt.release_results.exists()


# --- infusion ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [AttemptOutcome.IN_SPEC, AttemptOutcome.OOS])
def test_infusion_record_accepts_an_in_spec_or_oos_product(personas, case, apheresis, outcome):
    attempt = AttemptFactory(case=case, apheresis=apheresis, outcome=outcome)
    infusion = services.infusion_record(actor=personas["centre_a"], case=case, attempt=attempt,
                                        date=attempt.result_on + dt.timedelta(days=3), dose=1.2e8)

    assert Infusion.objects.get(case=case).attempt == attempt
    assert infusion.is_oos is (outcome == AttemptOutcome.OOS)
    changes = _event("cases.infusion.created", infusion).changes
    assert changes["attempt"] == [None, attempt.pk]
    assert changes["dose"] == [None, 1.2e8]


@pytest.mark.parametrize("outcome", [AttemptOutcome.PENDING, AttemptOutcome.NO_PRODUCT])
def test_infusion_record_refuses_a_product_not_released(personas, case, apheresis, outcome):
    attempt = AttemptFactory(case=case, apheresis=apheresis, outcome=outcome, viable_car_t_dose=None)
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.infusion_record(actor=personas["centre_a"], case=case, attempt=attempt,
                                 date=attempt.result_on + dt.timedelta(days=3))
    assert "attempt" in exc.value.message_dict
    assert _Counts() == before


def test_infusion_record_refuses_a_date_before_the_attempt_started(personas, case, apheresis):
    attempt = AttemptFactory(case=case, apheresis=apheresis)
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.infusion_record(actor=personas["centre_a"], case=case, attempt=attempt,
                                 date=attempt.shipped_on - dt.timedelta(days=1))
    assert "date" in exc.value.message_dict
    assert _Counts() == before


def test_infusion_record_refuses_an_attempt_of_another_case(personas, case, axi_cel):
    other = CaseFactory(patient=PatientFactory(centre=case.centre), product=axi_cel)
    attempt = AttemptFactory(apheresis=ApheresisFactory(case=other))
    with pytest.raises(ValidationError) as exc:
        services.infusion_record(actor=personas["centre_a"], case=case, attempt=attempt,
                                 date=attempt.result_on + dt.timedelta(days=3))
    assert "attempt" in exc.value.message_dict
    assert not Infusion.objects.exists()


def test_a_second_infusion_of_a_case_is_refused(personas, infused_case, apheresis):
    second = AttemptFactory(case=infused_case, apheresis=apheresis, number=2)
    before = _Counts()
    with pytest.raises(DomainError):
        services.infusion_record(actor=personas["centre_a"], case=infused_case, attempt=second,
                                 date=second.result_on + dt.timedelta(days=3))
    assert _Counts() == before
    assert Infusion.objects.get(case=infused_case).attempt.number == 1


def test_infusion_correction_refuses_a_date_after_the_recorded_progression(personas, infused_case):
    infusion = infused_case.infusion
    Outcome.objects.create(case=infused_case, progression_date=infusion.date + dt.timedelta(days=30),
                           last_contact_date=infusion.date + dt.timedelta(days=60))
    before = _Counts()
    with pytest.raises(DomainError) as exc:
        services.infusion_update(actor=personas["centre_a"], infusion=infusion,
                                 date=infusion.date + dt.timedelta(days=31))
    assert exc.value.field == "date"
    assert _Counts() == before


# --- outcome ----------------------------------------------------------------------------------


def test_outcome_record_creates_then_updates_the_one_outcome_with_audited_changes(personas, infused_case):
    user = personas["centre_a"]
    infusion_date = infused_case.infusion.date
    outcome = services.outcome_record(actor=user, case=infused_case, best_response="CR", crs_grade=2,
                                      last_contact_date=infusion_date + dt.timedelta(days=90))
    services.outcome_update(actor=user, outcome=outcome, best_response="PR")

    assert Outcome.objects.filter(case=infused_case).count() == 1
    assert _event("cases.outcome.created", outcome).changes["crs_grade"] == [None, 2]
    assert _event("cases.outcome.updated", outcome).changes == {"best_response": ["CR", "PR"]}


def _refused_outcome(user, case, field, **fields):
    before = _Counts()
    with pytest.raises(ValidationError) as exc:
        services.outcome_record(actor=user, case=case, **fields)
    assert field in exc.value.message_dict
    assert _Counts() == before


def test_outcome_record_refuses_a_death_before_the_panel_approval(personas, case):
    _refused_outcome(personas["centre_a"], case, "death_date",
                     death_date=APPROVAL - dt.timedelta(days=1), last_contact_date=APPROVAL - dt.timedelta(days=1))


def test_outcome_record_refuses_a_last_contact_after_death(personas, case):
    _refused_outcome(personas["centre_a"], case, "last_contact_date",
                     death_date=APPROVAL + dt.timedelta(days=30), last_contact_date=APPROVAL + dt.timedelta(days=31))


def test_outcome_record_refuses_a_progression_before_the_infusion(personas, infused_case):
    infusion_date = infused_case.infusion.date
    _refused_outcome(personas["centre_a"], infused_case, "progression_date",
                     progression_date=infusion_date - dt.timedelta(days=1),
                     last_contact_date=infusion_date + dt.timedelta(days=30))


@pytest.mark.parametrize("field", ["crs_grade", "icans_grade"])
def test_outcome_record_refuses_a_toxicity_grade_above_5(personas, infused_case, field):
    _refused_outcome(personas["centre_a"], infused_case, field,
                     last_contact_date=infused_case.infusion.date + dt.timedelta(days=30), **{field: 6})


def test_outcome_record_refuses_a_response_without_an_infusion(personas, case):
    _refused_outcome(personas["centre_a"], case, "best_response",
                     best_response="CR", last_contact_date=APPROVAL + dt.timedelta(days=30))


def test_outcome_record_accepts_death_and_follow_up_without_an_infusion(personas, case):
    outcome = services.outcome_record(actor=personas["centre_a"], case=case, death_date=APPROVAL + dt.timedelta(9),
                                      death_cause="progression", last_contact_date=APPROVAL + dt.timedelta(9))
    assert Outcome.objects.get(case=case).death_date == dt.date(2022, 3, 10)
    assert _event("cases.outcome.created", outcome).changes["death_date"] == [None, "2022-03-10"]


def test_outcome_record_is_refused_to_the_analyst(personas, case):
    with pytest.raises(PermissionDenied):
        services.outcome_record(actor=personas["analyst"], case=case, last_contact_date=APPROVAL)
    assert not Outcome.objects.exists()


# --- cytopenias -------------------------------------------------------------------------------


def test_cytopenia_record_refuses_a_case_not_yet_infused(personas, case, apheresis):
    AttemptFactory(case=case, apheresis=apheresis)
    before = _Counts()
    with pytest.raises(DomainError):
        services.cytopenia_record(actor=personas["centre_a"], case=case, kind="neutropenia", day=30, grade=3)
    assert _Counts() == before


def test_cytopenia_record_after_infusion_is_saved_and_audited(personas, infused_case):
    cytopenia = services.cytopenia_record(actor=personas["centre_a"], case=infused_case, kind="neutropenia",
                                          day=30, grade=3)
    assert Cytopenia.objects.get(case=infused_case).grade == 3
    changes = _event("cases.cytopenia.created", cytopenia).changes
    assert changes["kind"] == [None, "neutropenia"]
    assert changes["grade"] == [None, 3]


def test_cytopenia_record_refuses_a_grade_above_5_and_a_repeated_timepoint(personas, infused_case):
    user = personas["centre_a"]
    with pytest.raises(ValidationError) as exc:
        services.cytopenia_record(actor=user, case=infused_case, kind="anaemia", day=30, grade=6)
    assert "grade" in exc.value.message_dict
    services.cytopenia_record(actor=user, case=infused_case, kind="anaemia", day=30, grade=2)
    before = _Counts()
    with pytest.raises(ValidationError):
        services.cytopenia_record(actor=user, case=infused_case, kind="anaemia", day=30, grade=3)
    assert _Counts() == before


# --- rules across records -------------------------------------------------------------------------


def test_outcome_refuses_a_death_before_the_infusion(personas, infused_case):
    infusion_date = infused_case.infusion.date
    before = _Counts()
    with pytest.raises(DomainError) as exc:
        services.outcome_record(actor=personas["centre_a"], case=infused_case,
                                death_date=infusion_date - dt.timedelta(days=1),
                                last_contact_date=infusion_date - dt.timedelta(days=1))
    assert exc.value.field == "death_date"
    assert _Counts() == before


def test_outcome_update_refuses_a_death_before_the_infusion(personas, infused_case):
    user = personas["centre_a"]
    infusion_date = infused_case.infusion.date
    outcome = services.outcome_record(actor=user, case=infused_case,
                                      last_contact_date=infusion_date + dt.timedelta(days=10))
    with pytest.raises(DomainError):
        services.outcome_update(actor=user, outcome=outcome, death_date=infusion_date - dt.timedelta(days=2),
                                last_contact_date=infusion_date - dt.timedelta(days=2))
    assert Outcome.objects.get(pk=outcome.pk).death_date is None


def test_a_second_outcome_of_a_case_is_refused(personas, case):
    user = personas["centre_a"]
    services.outcome_record(actor=user, case=case, last_contact_date=APPROVAL + dt.timedelta(days=5))
    with pytest.raises(DomainError):
        services.outcome_record(actor=user, case=case, last_contact_date=APPROVAL + dt.timedelta(days=9))
    assert Outcome.objects.filter(case=case).count() == 1


def test_infusion_correction_refuses_a_date_after_the_recorded_death(personas, infused_case):
    infusion = infused_case.infusion
    infused_on = infusion.date
    Outcome.objects.create(case=infused_case, death_date=infused_on + dt.timedelta(days=3),
                           last_contact_date=infused_on + dt.timedelta(days=3))
    with pytest.raises(DomainError) as exc:
        services.infusion_update(actor=personas["centre_a"], infusion=infusion,
                                 date=infused_on + dt.timedelta(days=4))
    assert exc.value.field == "date"
    assert Infusion.objects.get(pk=infusion.pk).date == infused_on


def test_infused_attempt_cannot_start_after_its_infusion(personas, infused_case):
    attempt = infused_case.infusion.attempt
    with pytest.raises(DomainError) as exc:
        services.attempt_update(actor=personas["centre_a"], attempt=attempt,
                                shipped_on=infused_case.infusion.date + dt.timedelta(days=1))
    assert exc.value.field == "shipped_on"


def test_case_update_refuses_an_approval_after_the_recorded_death(personas, case):
    Outcome.objects.create(case=case, death_date=APPROVAL + dt.timedelta(days=5),
                           last_contact_date=APPROVAL + dt.timedelta(days=5))
    with pytest.raises(DomainError) as exc:
        services.case_update(actor=personas["centre_a"], case=case, approval_date=APPROVAL + dt.timedelta(days=6))
    assert exc.value.field == "approval_date"
    assert Case.objects.get(pk=case.pk).approval_date == APPROVAL


def test_case_update_refuses_a_product_change_once_manufacture_started(personas, case, apheresis):
    AttemptFactory(case=case, apheresis=apheresis)
    with pytest.raises(DomainError) as exc:
        services.case_update(actor=personas["centre_a"], case=case, product=Product.objects.get(code="tisa-cel"))
    assert exc.value.field == "product"


def test_updates_cannot_move_a_record_to_another_centre(personas, case, centre_b):
    with pytest.raises(TypeError):
        services.case_update(actor=personas["centre_a"], case=case, centre=centre_b)
    with pytest.raises(TypeError):
        services.patient_update(actor=personas["centre_a"], patient=case.patient, centre=centre_b)
    assert Case.objects.get(pk=case.pk).centre_id == case.centre_id


def test_release_result_within_spec_is_kept_when_the_limit_later_changes(personas, case, apheresis, axi_cel):
    attempt = AttemptFactory(case=case, apheresis=apheresis)
    viability = ReleaseParameter.objects.get(product=axi_cel, kind="viability")
    services.attempt_record_release_results(actor=personas["centre_a"], attempt=attempt,
                                            values={viability: (viability.limit + 1, "")})
    ReleaseParameter.objects.filter(pk=viability.pk).update(limit=viability.limit + 10)
    assert ReleaseResult.objects.get(attempt=attempt, parameter=viability).within_spec is True


def test_every_audit_code_written_by_the_services_has_a_human_text():
    import inspect
    import re

    source = inspect.getsource(services)
    registry = source[source.index("AUDIT_EVENTS = {"):source.index("\n}\n")]
    written = set(re.findall(r'"(cases\.[a-z_]+\.[a-z_]+)"', source.replace(registry, "")))
    assert len(written) == 15 and written == set(services.AUDIT_EVENTS)
