"""Who may read and change what: the fetch-and-authorize helpers and the matrix of every registry
URL × persona × method, pretix-style. The target records all belong to centre A: ``centre_a`` is
the owning centre, ``centre_b`` another centre (404: existence not revealed), the national roles
read (403 on a write) and the admin writes."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import reverse

from audit.models import AuditEvent
from cases.models import (
    Apheresis,
    Case,
    Infusion,
    ManufacturingAttempt,
    Outcome,
    Patient,
    Product,
    ReleaseResult,
)
from cases.permissions import can_write_centre, get_attempt_for_user, get_case_for_user, get_for_user, scope_to_user
from tests.factories import ApheresisFactory, AttemptFactory, CaseFactory, PatientFactory

READERS = ("physician", "pharmacist", "ops", "analyst")
PERSONAS = ("centre_a", "centre_b", *READERS, "admin", "anonymous")


@pytest.fixture
def records(personas, centre_a, centre_b):
    """A case of centre A with one collection and one in-specification attempt, and a case of centre B."""
    axi = Product.objects.get(code="axi-cel")
    case = CaseFactory(patient=PatientFactory(centre=centre_a, local_id="A-1"), product=axi,
                       approval_date=dt.date(2022, 3, 1))
    apheresis = ApheresisFactory(case=case, date=dt.date(2022, 3, 11))
    attempt = AttemptFactory(case=case, apheresis=apheresis, shipped_on=dt.date(2022, 3, 12),
                             result_on=dt.date(2022, 4, 2))
    other = CaseFactory(patient=PatientFactory(centre=centre_b, local_id="B-1"), product=axi)
    infused = CaseFactory(patient=PatientFactory(centre=centre_a, local_id="A-9"), product=axi)
    infused_attempt = AttemptFactory(apheresis=ApheresisFactory(case=infused))
    Infusion.objects.create(case=infused, attempt=infused_attempt, date=infused_attempt.result_on)
    return {"case": case, "infused": infused, "patient": case.patient, "apheresis": apheresis, "attempt": attempt,
            "other": other, "viability": axi.release_parameters.get(kind="viability"), "axi": axi}


def _fingerprint() -> tuple:
    """Row counts of everything a registry page can write, and of the audit trail."""
    return tuple(model.objects.count() for model in (Patient, Case, Apheresis, ManufacturingAttempt, ReleaseResult,
                                                     Infusion, Outcome, AuditEvent, Case.history.model,
                                                     Patient.history.model, ManufacturingAttempt.history.model))


# (url name, kwargs from the records, a POST body that is valid for the owning centre).
# GET on a list/detail page is a read; every other URL is a write form.
URLS = {
    "case_list": (lambda r: {}, None),
    "case_detail": (lambda r: {"pk": r["case"].pk}, None),
    # "centre" is read only from admins: a centre user always registers for their own centre.
    "patient_create": (lambda r: {}, lambda r: {"local_id": "A-2", "sex": "F", "birth_year": 1970, "weight_kg": 64,
                                                "centre": r["patient"].centre_id}),
    "case_create": (lambda r: {}, lambda r: {"patient": r["patient"].pk, "product": r["axi"].pk,
                                             "indication": "LBCL", "approval_date": "2024-05-01"}),
    "patient_edit": (lambda r: {"pk": r["patient"].pk},
                     lambda r: {"local_id": "A-1", "sex": "F", "birth_year": 1961, "weight_kg": 70}),
    "case_edit": (lambda r: {"pk": r["case"].pk},
                  lambda r: {"product": r["axi"].pk, "indication": "LBCL", "approval_date": "2022-03-01",
                             "ecog": 2}),
    "apheresis_add": (lambda r: {"pk": r["case"].pk}, lambda r: {"date": "2022-05-01", "lymphocytes": 0.7}),
    "attempt_add": (lambda r: {"pk": r["case"].pk},
                    lambda r: {"apheresis": r["apheresis"].pk, "shipped_on": "2022-05-02", "outcome": "pending"}),
    "attempt_edit": (lambda r: {"pk": r["case"].pk, "number": 1},
                     lambda r: {"apheresis": r["apheresis"].pk, "shipped_on": "2022-03-12", "outcome": "oos",
                                "viable_car_t_dose": "1.1e8"}),
    "attempt_results": (lambda r: {"pk": r["case"].pk, "number": 1},
                        lambda r: {f"p{r['viability'].pk}": "61"}),
    "infusion_edit": (lambda r: {"pk": r["case"].pk},
                      lambda r: {"attempt": r["attempt"].pk, "date": "2022-04-10"}),
    "outcome_edit": (lambda r: {"pk": r["case"].pk}, lambda r: {"last_contact_date": "2023-01-01"}),
    "cytopenia_add": (lambda r: {"pk": r["infused"].pk}, lambda r: {"kind": "neutropenia", "day": 30, "grade": 3,
                                                                      "ctcae_version": "5.0"}),
}
REGISTRATION = {"patient_create", "case_create"}
OWNED = {"patient_edit", "case_edit", "apheresis_add", "attempt_add", "attempt_edit", "attempt_results",
         "infusion_edit", "outcome_edit", "cytopenia_add"}


def expected_status(persona: str, url_name: str, method: str) -> int:
    if persona == "anonymous":
        return 302  # to the login page (checked below)
    if url_name in ("case_list", "case_detail"):
        if method == "POST":
            return 405
        return 404 if url_name == "case_detail" and persona == "centre_b" else 200
    if url_name in REGISTRATION:
        # A centre user registers under their own centre; an admin for any centre; the others read only.
        if persona in READERS:
            return 403
        if method == "GET":
            return 200
        # centre B cannot pick centre A's patient: the form refuses the choice and re-renders.
        return 200 if (persona, url_name) == ("centre_b", "case_create") else 302
    # A record owned by centre A.
    if persona == "centre_b":
        return 404
    if persona in READERS:
        return 403
    return 200 if method == "GET" else 302


MATRIX = [(url, persona, method) for url in URLS for persona in PERSONAS for method in ("GET", "POST")]


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "persona", "method"), MATRIX)
def test_permission_matrix(client, personas, records, url_name, persona, method):
    kwargs, body = URLS[url_name]
    url = reverse(f"cases:{url_name}", kwargs=kwargs(records))
    if persona != "anonymous":
        client.force_login(personas[persona])
    before = _fingerprint()
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, body(records) if body else {})
    status = expected_status(persona, url_name, method)
    assert response.status_code == status
    if persona == "anonymous":
        assert response["Location"].startswith(reverse("accounts:login"))
    wrote = _fingerprint() != before
    # Exactly the redirects after a valid POST wrote something; every refusal changed nothing.
    assert wrote == (method == "POST" and status == 302 and persona != "anonymous")
    if wrote:
        assert AuditEvent.objects.count() > before[7]


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", sorted(OWNED - {"patient_edit"}))
def test_centre_b_gets_404_on_centre_a_records_even_for_numbers_that_do_not_exist(client, personas, records,
                                                                                 url_name):
    client.force_login(personas["centre_a"])
    kwargs = URLS[url_name][0](records)
    if "number" in kwargs:
        kwargs["number"] = 9
        assert client.get(reverse(f"cases:{url_name}", kwargs=kwargs)).status_code == 404
    client.force_login(personas["centre_b"])
    assert client.get(reverse(f"cases:{url_name}", kwargs=kwargs)).status_code == 404


@pytest.mark.django_db
def test_unknown_case_is_404_for_everyone(client, personas):
    for persona in ("centre_a", "physician", "admin"):
        client.force_login(personas[persona])
        assert client.get(reverse("cases:case_detail", args=[987654])).status_code == 404


# --- the helpers ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_scope_to_user_limits_centre_users_to_their_centre(personas, records):
    cases = Case.objects.all()
    assert set(scope_to_user(personas["centre_a"], cases)) == {records["case"], records["infused"]}
    assert list(scope_to_user(personas["centre_b"], cases)) == [records["other"]]
    for persona in (*READERS, "admin"):
        assert scope_to_user(personas[persona], cases).count() == 3
    attempts = ManufacturingAttempt.objects.all()
    assert scope_to_user(personas["centre_b"], attempts, centre_field="case__centre").count() == 0
    assert scope_to_user(personas["centre_a"], attempts, centre_field="case__centre").count() == 2


@pytest.mark.django_db
def test_scope_to_user_gives_anonymous_users_nothing(records):
    from django.contrib.auth.models import AnonymousUser

    assert not scope_to_user(AnonymousUser(), Case.objects.all()).exists()


@pytest.mark.django_db
def test_get_for_user_accepts_a_model_or_a_queryset(personas, records):
    patient = records["patient"]
    assert get_for_user(personas["centre_a"], Patient, patient.pk) == patient
    assert get_for_user(personas["centre_a"], Patient.objects.select_related("centre"), patient.pk) == patient
    with pytest.raises(Http404):
        get_for_user(personas["centre_b"], Patient, patient.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("pk", ["abc", None, 0])
def test_get_for_user_turns_malformed_ids_into_404(personas, records, pk):
    with pytest.raises(Http404):
        get_for_user(personas["centre_a"], Case, pk)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", READERS)
def test_national_roles_read_but_may_not_write(personas, records, persona):
    user = personas[persona]
    assert get_case_for_user(user, records["case"].pk) == records["case"]
    with pytest.raises(PermissionDenied):
        get_case_for_user(user, records["case"].pk, write=True)
    with pytest.raises(PermissionDenied):
        get_for_user(user, ManufacturingAttempt, records["attempt"].pk, write=True, centre_field="case__centre")


@pytest.mark.django_db
def test_owning_centre_and_admin_write(personas, records):
    case = records["case"]
    assert get_case_for_user(personas["centre_a"], case.pk, write=True) == case
    assert get_case_for_user(personas["admin"], case.pk, write=True) == case
    assert get_attempt_for_user(personas["centre_a"], case.pk, 1, write=True) == records["attempt"]
    assert can_write_centre(personas["centre_a"], case.centre_id)
    assert not can_write_centre(personas["centre_b"], case.centre_id)
    with pytest.raises(Http404):
        get_attempt_for_user(personas["centre_b"], case.pk, 1)
