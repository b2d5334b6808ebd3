"""Every endpoint × role × own / other centre: the API allows exactly what the pages allow."""

import datetime as dt

import pytest

from cases.models import Infusion, Outcome, Patient, ReleaseParameter, ReleaseResult
from panel.models import Vote
from tests.api.conftest import PHARMACIST, PHYSICIAN, submit_application
from tests.factories import AttemptFactory

pytestmark = pytest.mark.django_db

# endpoint -> how to read a row's centre from its JSON
CENTRE_SCOPED = ["patients", "cases", "apheresis", "attempts", "release-results", "infusions", "outcomes",
                 "applications"]
ROLES = ["centre_a", "centre_b", "physician", "pharmacist", "ops", "admin", "analyst"]
APPLICATION_READERS = {"physician", "pharmacist", "ops", "admin"}


def _registry(centre, api_as, panel):
    attempt = AttemptFactory(apheresis__case__patient__centre=centre, outcome="oos")
    parameter, _ = ReleaseParameter.objects.get_or_create(
        product=attempt.case.product, kind="viability",
        defaults={"name": "Viability", "unit": "%", "comparator": ">=", "limit": 80})
    ReleaseResult.objects.create(attempt=attempt, parameter=parameter, value_numeric=70, within_spec=False)
    Infusion.objects.create(case=attempt.case, attempt=attempt, date=attempt.result_on + dt.timedelta(days=5))
    Outcome.objects.create(case=attempt.case, last_contact_date=dt.date(2024, 1, 1), best_response="CR")
    application = submit_application(centre)
    api_as(panel[PHYSICIAN][0].user).post(f"/api/v1/applications/{application.pk}/votes/", {"choice": "approve"},
                                          format="json")
    return {"case": attempt.case, "application": application}


@pytest.fixture
def world(api_as, panel, centre_a, centre_b):
    return {"ctra": _registry(centre_a, api_as, panel), "ctrb": _registry(centre_b, api_as, panel)}


def _centres(rows):
    return {row["centre"] for row in rows}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", CENTRE_SCOPED)
def test_lists_show_exactly_the_centres_the_role_reads(api_as, personas, world, role, endpoint):
    response = api_as(personas[role]).get(f"/api/v1/{endpoint}/?page_size=200")
    assert response.status_code == 200
    seen = _centres(response.json()["results"])
    if role in ("centre_a", "centre_b"):
        expected = {personas[role].centre.code}
    elif endpoint == "applications":
        expected = {"ctra", "ctrb"} if role in APPLICATION_READERS else set()
    else:
        expected = {"ctra", "ctrb"}
    assert seen == expected


@pytest.mark.parametrize("endpoint", CENTRE_SCOPED)
def test_another_centres_row_is_404_for_a_centre_user(api_as, personas, world, endpoint):
    client = api_as(personas["centre_a"])
    rows_b = api_as(personas["admin"]).get(f"/api/v1/{endpoint}/?centre=ctrb").json()["results"]
    assert rows_b and all(row["centre"] == "ctrb" for row in rows_b)
    for row in rows_b:
        assert client.get(f"/api/v1/{endpoint}/{row['id']}/").status_code == 404
    # Filtering by the other centre does not widen the scope either.
    assert client.get(f"/api/v1/{endpoint}/?centre=ctrb").json()["count"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_votes_and_decisions_follow_the_applications(api_as, personas, world, role):
    votes = api_as(personas[role]).get("/api/v1/votes/").json()
    expected = Vote.objects.count() if role in APPLICATION_READERS else 0
    assert votes["count"] == expected
    assert api_as(personas[role]).get("/api/v1/decisions/").status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_reference_data_is_readable_by_every_role(api_as, personas, world, role):
    centres = api_as(personas[role]).get("/api/v1/centres/").json()
    assert {"ctra", "ctrb"} <= {row["code"] for row in centres["results"]}
    assert api_as(personas[role]).get("/api/v1/products/").status_code == 200


def _patient_body(centre=None):
    body = {"local_id": "NEW-1", "sex": "F", "birth_year": 1970, "weight_kg": 60}
    return {**body, "centre": centre} if centre else body


@pytest.mark.parametrize("role,centre,status", [
    ("centre_a", None, 201), ("centre_a", "ctra", 201), ("centre_a", "ctrb", 403),
    ("admin", "ctrb", 201), ("admin", None, 400),
    ("physician", "ctra", 403), ("pharmacist", None, 403), ("ops", "ctra", 403), ("analyst", "ctra", 403),
])
def test_patient_registration_matrix(api_as, personas, world, role, centre, status):
    before = Patient.objects.count()
    response = api_as(personas[role]).post("/api/v1/patients/", _patient_body(centre), format="json")
    assert response.status_code == status, response.json()
    assert Patient.objects.count() == before + (1 if status == 201 else 0)
    if status == 201:
        assert response.json()["centre"] == (centre or personas[role].centre.code)


@pytest.mark.parametrize("role,target,status", [
    ("centre_a", "ctra", 200), ("centre_a", "ctrb", 404), ("centre_b", "ctra", 404), ("admin", "ctrb", 200),
    ("physician", "ctra", 403), ("ops", "ctrb", 403), ("analyst", "ctra", 403),
])
def test_patient_and_case_edit_matrix(api_as, personas, world, role, target, status):
    case = world[target]["case"]
    client = api_as(personas[role])
    patient = client.patch(f"/api/v1/patients/{case.patient_id}/", {"weight_kg": 71.5}, format="json")
    assert patient.status_code == status
    edited = client.patch(f"/api/v1/cases/{case.pk}/", {"ecog": 2}, format="json")
    assert edited.status_code == status
    case.refresh_from_db()
    case.patient.refresh_from_db()
    assert (case.ecog == 2) == (status == 200)
    assert (case.patient.weight_kg == 71.5) == (status == 200)


def test_case_registration_cannot_name_another_centres_patient(api_as, personas, world, reference_data):
    other_patient = world["ctrb"]["case"].patient
    body = {"patient": other_patient.pk, "product": "axi-cel", "indication": "LBCL", "approval_date": "2024-02-01"}
    response = api_as(personas["centre_a"]).post("/api/v1/cases/", body, format="json")
    assert response.status_code == 400 and "patient" in response.json()["errors"]
    own = api_as(personas["centre_a"]).post("/api/v1/cases/", {**body, "patient": world["ctra"]["case"].patient_id},
                                            format="json")
    assert own.status_code == 201 and own.json()["centre"] == "ctra" and own.json()["public_id"].startswith("CTRA-")


def test_service_validation_errors_keep_the_field(api_as, personas, world):
    case = world["ctra"]["case"]
    response = api_as(personas["centre_a"]).patch(f"/api/v1/cases/{case.pk}/", {"approval_date": "2030-01-01"},
                                                  format="json")
    assert response.status_code == 400
    assert response.json()["errors"] and response.json()["detail"]


@pytest.mark.parametrize("role", ROLES)
def test_writes_not_offered_are_405(api_as, personas, world, role):
    client = api_as(personas[role])
    case = world["ctra"]["case"]
    assert client.delete(f"/api/v1/patients/{case.patient_id}/").status_code in (404, 405)
    assert client.post("/api/v1/release-results/", {}, format="json").status_code == 405
    assert client.post("/api/v1/decisions/", {}, format="json").status_code == 405


def test_vote_matrix(api_as, personas, world, panel):
    application = world["ctra"]["application"]
    url = f"/api/v1/applications/{application.pk}/votes/"
    expected = {"centre_a": 403, "centre_b": 404, "physician": 403, "pharmacist": 403, "ops": 403, "admin": 403,
                "analyst": 404}
    for role, status in expected.items():
        assert api_as(personas[role]).post(url, {"choice": "approve"}, format="json").status_code == status, role
    assert api_as(panel[PHARMACIST][0].user).post(url, {"choice": "approve"}, format="json").status_code == 201


def _record_bodies(case, attempt_id, apheresis_id):
    return {
        "apheresis": {"case": case.public_id, "date": "2022-04-01", "wbc": 4.2},
        "attempts": {"case": case.public_id, "apheresis": apheresis_id, "shipped_on": "2022-04-02"},
        "outcomes": {"case": case.public_id, "last_contact_date": "2024-06-01", "best_response": "PR"},
    }


@pytest.mark.parametrize("role,target,status", [
    ("centre_a", "ctra", 201), ("centre_a", "ctrb", 400), ("admin", "ctrb", 201),
    ("physician", "ctra", 403), ("ops", "ctra", 403), ("analyst", "ctrb", 403),
])
def test_case_record_writes_matrix(api_as, personas, world, role, target, status):
    from cases.models import Apheresis, ManufacturingAttempt

    case = world[target]["case"]
    Outcome.objects.filter(case=case).delete()
    apheresis = Apheresis.objects.filter(case=case).first()
    client = api_as(personas[role])
    before = (Apheresis.objects.count(), ManufacturingAttempt.objects.count(), Outcome.objects.count())
    for endpoint, body in _record_bodies(case, None, apheresis.pk).items():
        response = client.post(f"/api/v1/{endpoint}/", body, format="json")
        assert response.status_code == status, (endpoint, response.json())
        if status == 400:
            # Another centre's case (and its apheresis) cannot be named: it "does not exist".
            assert "case" in response.json()["errors"]
    after = (Apheresis.objects.count(), ManufacturingAttempt.objects.count(), Outcome.objects.count())
    assert after == (tuple(n + 1 for n in before) if status == 201 else before)
    if status == 201:
        numbers = list(ManufacturingAttempt.objects.filter(case=case).values_list("number", flat=True))
        assert numbers == [1, 2]


def test_record_updates_go_through_the_services(api_as, personas, world):
    from audit.models import AuditEvent

    case = world["ctra"]["case"]
    outcome = Outcome.objects.get(case=case)
    client = api_as(personas["centre_a"])
    response = client.patch(f"/api/v1/outcomes/{outcome.pk}/", {"best_response": "PD"}, format="json")
    assert response.status_code == 200 and response.json()["best_response"] == "PD"
    assert AuditEvent.objects.filter(code="cases.outcome.updated", object_id=str(outcome.pk)).exists()
    infusion = Infusion.objects.get(case=case)
    before_death = client.patch(f"/api/v1/outcomes/{outcome.pk}/", {"death_date": "2000-01-01"}, format="json")
    assert before_death.status_code == 400 and before_death.json()["errors"]
    moved = client.patch(f"/api/v1/infusions/{infusion.pk}/", {"case": world["ctrb"]["case"].public_id},
                         format="json")
    assert moved.status_code == 400
    again = client.post("/api/v1/infusions/", {"case": case.public_id, "attempt": infusion.attempt_id,
                                               "date": "2022-06-01"}, format="json")
    assert again.status_code == 400 and "already has an infusion" in again.json()["detail"]
    assert api_as(personas["centre_b"]).patch(f"/api/v1/outcomes/{outcome.pk}/", {"best_response": "CR"},
                                              format="json").status_code == 404
