"""The centre-scoping matrix over every registry URL, and bounded queries on the pages."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from cases.models import Case, Product
from tests.factories import ApheresisFactory, AttemptFactory, CaseFactory, PatientFactory

READERS = ["physician", "pharmacist", "ops", "analyst"]


@pytest.fixture
def registry(personas, centre_a, centre_b):
    axi = Product.objects.get(code="axi-cel")
    own = CaseFactory(patient=PatientFactory(centre=centre_a), product=axi)
    AttemptFactory(apheresis=ApheresisFactory(case=own))
    other = CaseFactory(patient=PatientFactory(centre=centre_b), product=axi)
    AttemptFactory(apheresis=ApheresisFactory(case=other))
    return {"own": own, "other": other}


CASE_URLS = [
    ("cases:case_detail", {}),
    ("cases:case_edit", {}),
    ("cases:apheresis_add", {}),
    ("cases:attempt_add", {}),
    ("cases:attempt_edit", {"number": 1}),
    ("cases:attempt_results", {"number": 1}),
    ("cases:infusion_edit", {}),
    ("cases:outcome_edit", {}),
]
READ_ONLY = {"cases:case_detail"}


def _expected(persona: str, which: str, url_name: str) -> int:
    if persona == "centre_a":
        return 200 if which == "own" else 404
    if persona == "centre_b":
        return 200 if which == "other" else 404
    if persona == "admin":
        return 200
    return 200 if url_name in READ_ONLY else 403


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["centre_a", "centre_b", *READERS, "admin"])
@pytest.mark.parametrize("which", ["own", "other"])
@pytest.mark.parametrize(("url_name", "kwargs"), CASE_URLS)
def test_case_urls_are_scoped_to_the_owning_centre(client, personas, registry, persona, which, url_name, kwargs):
    case = registry[which]
    client.force_login(personas[persona])
    url = reverse(url_name, kwargs={"pk": case.pk, **kwargs})
    assert client.get(url).status_code == _expected(persona, which, url_name)


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "kwargs"), [c for c in CASE_URLS if c[0] not in READ_ONLY])
@pytest.mark.parametrize("persona", ["centre_b", *READERS])
def test_posts_to_a_case_the_user_may_not_change_write_nothing(client, personas, registry, persona, url_name,
                                                               kwargs):
    case = registry["own"]  # owned by centre A
    client.force_login(personas[persona])
    before = Case.history.count(), case.apheresis_set.count(), case.attempts.count()
    response = client.post(reverse(url_name, kwargs={"pk": case.pk, **kwargs}),
                           {"date": "2022-03-20", "approval_date": "2022-03-01", "last_contact_date": "2023-01-01"})
    assert response.status_code == (404 if persona == "centre_b" else 403)
    assert (Case.history.count(), case.apheresis_set.count(), case.attempts.count()) == before


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["cases:case_list", "cases:case_detail", "cases:case_create",
                                      "cases:patient_create"])
def test_anonymous_users_are_sent_to_login(client, registry, url_name):
    kwargs = {"pk": registry["own"].pk} if url_name == "cases:case_detail" else {}
    response = client.get(reverse(url_name, kwargs=kwargs))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "status"), [("centre_a", 200), ("physician", 403), ("analyst", 403),
                                                 ("ops", 403)])
def test_only_centre_users_register_patients_and_cases(client, personas, persona, status):
    client.force_login(personas[persona])
    assert client.get(reverse("cases:patient_create")).status_code == status
    assert client.get(reverse("cases:case_create")).status_code == status


@pytest.mark.django_db
def test_case_list_shows_only_own_centre_cases(client, personas, registry):
    client.force_login(personas["centre_a"])
    body = client.get(reverse("cases:case_list")).content.decode()
    assert registry["own"].public_id in body
    assert registry["other"].public_id not in body
    # The centre filter cannot widen a centre user's scope.
    body = client.get(reverse("cases:case_list"), {"centre": "ctrb"}).content.decode()
    assert registry["other"].public_id not in body


@pytest.mark.django_db
def test_national_roles_see_every_centre_and_can_filter_by_centre(client, personas, registry):
    client.force_login(personas["physician"])
    body = client.get(reverse("cases:case_list")).content.decode()
    assert registry["own"].public_id in body and registry["other"].public_id in body
    body = client.get(reverse("cases:case_list"), {"centre": "ctrb"}).content.decode()
    assert registry["other"].public_id in body and registry["own"].public_id not in body


@pytest.mark.django_db
def test_case_list_filters_by_cohort_and_status(client, personas, centre_a):
    axi = Product.objects.get(code="axi-cel")
    oos = CaseFactory(patient=PatientFactory(centre=centre_a), product=axi)
    AttemptFactory(apheresis=ApheresisFactory(case=oos), outcome="oos")
    fresh = CaseFactory(patient=PatientFactory(centre=centre_a), product=axi)
    client.force_login(personas["centre_a"])
    body = client.get(reverse("cases:case_list"), {"cohort": "mf_not_infused"}).content.decode()
    assert oos.public_id in body and fresh.public_id not in body
    body = client.get(reverse("cases:case_list"), {"status": "awaiting_apheresis"}).content.decode()
    assert fresh.public_id in body and oos.public_id not in body
    body = client.get(reverse("cases:case_list"), {"q": "no-such-case"}).content.decode()
    assert "No cases match these filters" in body


def _cases(centre, n):
    axi = Product.objects.get(code="axi-cel")
    for _ in range(n):
        AttemptFactory(apheresis=ApheresisFactory(case=CaseFactory(patient=PatientFactory(centre=centre),
                                                                   product=axi)))


@pytest.mark.django_db
@pytest.mark.parametrize("n", [5, 30])
def test_case_list_queries_do_not_grow_with_the_page(client, personas, centre_a, django_assert_max_num_queries, n):
    _cases(centre_a, n)
    client.force_login(personas["centre_a"])
    # 1 session, 2 user, 3 count, 4 the user's centre (header), 5 products for the filter, 6 the page of
    # cases (annotated, joined with product/centre/patient), 7-9 session save in a savepoint.
    with django_assert_max_num_queries(9):
        response = client.get(reverse("cases:case_list"))
    assert response.status_code == 200


def _full_case(centre, attempts: int):
    """A case with ``attempts`` attempts, each with failure reasons and a full certificate, infused and followed up."""
    from cases.models import Cytopenia, FailureReason, Infusion, Outcome, ReleaseResult

    case = CaseFactory(patient=PatientFactory(centre=centre), product=Product.objects.get(code="axi-cel"))
    apheresis = ApheresisFactory(case=case)
    reasons = list(FailureReason.objects.all()[:2])
    for number in range(1, attempts + 1):
        attempt = AttemptFactory(case=case, apheresis=apheresis, number=number,
                                 outcome="oos" if number == attempts else "no_product",
                                 viable_car_t_dose=1.2e8 if number == attempts else None)
        attempt.failure_reasons.set(reasons)
        for parameter in case.product.release_parameters.all():
            ReleaseResult.objects.create(attempt=attempt, parameter=parameter, value_numeric=1.0, within_spec=False)
    Infusion.objects.create(case=case, attempt=attempt, date=attempt.result_on + dt.timedelta(days=3))
    Outcome.objects.create(case=case, best_response="CR", crs_grade=1, last_contact_date=dt.date(2023, 6, 1))
    Cytopenia.objects.create(case=case, kind="neutropenia", day=30, grade=3)
    return case


@pytest.mark.django_db
@pytest.mark.parametrize("attempts", [1, 6])
def test_case_detail_queries_do_not_grow_with_the_attempts(client, personas, centre_a, attempts,
                                                           django_assert_max_num_queries):
    case = _full_case(centre_a, attempts)
    client.force_login(personas["centre_a"])
    # 1 session, 2 user, 3 case + patient/centre/product, 4 attempts + apheresis, 5 their failure
    # reasons, 6 their release results + parameters, 7 the specification, 8 dose rules, 9 infusion
    # + attempt, 10 outcome, 11 apheresis list, 12 cytopenias, 13 the user's centre (header),
    # 14-16 session save in a savepoint.
    with django_assert_max_num_queries(16):
        response = client.get(reverse("cases:case_detail", args=[case.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Manufacturing attempt {attempts}" in body and "Neutropenia day 30: grade 3" in body


@pytest.mark.django_db
def test_case_list_pages_by_25_and_keeps_the_filters(client, personas, centre_a):
    _cases(centre_a, 30)
    client.force_login(personas["centre_a"])
    first = client.get(reverse("cases:case_list"), {"product": "axi-cel"}).content.decode()
    assert len(re.findall(r'href="/cases/\d+/"', first)) == 25
    assert "Page 1 of 2 · 30 cases" in first and "product=axi-cel&amp;page=2" in first
    second = client.get(reverse("cases:case_list"), {"product": "axi-cel", "page": 2}).content.decode()
    assert "Page 2 of 2" in second


@pytest.mark.django_db
def test_bad_input_returns_the_form_with_messages_not_a_500(client, personas, registry):
    case = registry["own"]
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:patient_create"),
                           {"local_id": "X1", "sex": "M", "birth_year": 1960, "weight_kg": 400})
    assert response.status_code == 200
    assert "less than or equal to 300" in response.content.decode()
    response = client.post(reverse("cases:apheresis_add", args=[case.pk]), {"date": "2001-01-01"})
    assert response.status_code == 200
    assert "before the panel approval" in response.content.decode()
    response = client.post(reverse("cases:outcome_edit", args=[case.pk]),
                           {"last_contact_date": "2022-04-01", "death_date": "2022-02-01"})
    assert response.status_code == 200
    assert "Death cannot be before the panel approval" in response.content.decode()


@pytest.mark.django_db
def test_centre_user_registers_a_patient_and_a_case_end_to_end(client, personas):
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:patient_create"),
                           {"local_id": "A-77", "sex": "F", "birth_year": 1970, "weight_kg": 64})
    assert response.status_code == 302
    patient = personas["centre_a"].centre.patients.get(local_id="A-77")
    response = client.post(reverse("cases:case_create"), {
        "patient": patient.pk, "product": Product.objects.get(code="axi-cel").pk, "indication": "LBCL",
        "approval_date": dt.date(2024, 5, 1).isoformat(), "ecog": 1,
    })
    assert response.status_code == 302
    case = Case.objects.get(patient=patient)
    assert case.public_id == f"CTRA-{case.pk:06d}"
    assert response["Location"] == reverse("cases:case_detail", args=[case.pk])


EDIT_LINKS = ("Edit baseline", "Edit patient", "Add apheresis", "Edit attempt", "Release results",
              "Add manufacturing attempt", "Record infusion", "Record outcome")


@pytest.mark.django_db
@pytest.mark.parametrize("persona", READERS)
def test_read_only_roles_see_the_timeline_without_edit_links(client, personas, registry, persona):
    client.force_login(personas[persona])
    body = client.get(reverse("cases:case_detail", args=[registry["own"].pk])).content.decode()
    assert "Manufacturing attempt 1" in body
    assert not [link for link in EDIT_LINKS if link in body]


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["centre_a", "admin"])
def test_writers_see_every_edit_link(client, personas, registry, persona):
    client.force_login(personas[persona])
    body = client.get(reverse("cases:case_detail", args=[registry["own"].pk])).content.decode()
    assert [link for link in EDIT_LINKS if link not in body] == []


@pytest.mark.django_db
def test_htmx_gets_the_same_form_partial_and_a_redrawn_timeline_on_success(client, personas, registry):
    case = registry["own"]
    client.force_login(personas["centre_a"])
    url = reverse("cases:apheresis_add", args=[case.pk])
    partial = client.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.content.decode() and f'hx-post="{url}"' in partial.content.decode()
    full = client.get(url).content.decode()
    assert "<html" in full and f'hx-post="{url}"' in full

    response = client.post(url, {"date": "2022-04-20", "lymphocytes": "0.9"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#timeline"
    assert "Apheresis 2" in response.content.decode()
    assert case.apheresis_set.count() == 2


@pytest.mark.django_db
def test_without_htmx_a_valid_post_redirects_to_the_case_section(client, personas, registry):
    case = registry["own"]
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:outcome_edit", args=[case.pk]), {"last_contact_date": "2023-01-01"})
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:case_detail", args=[case.pk]) + "#outcome"
    # The same URL then edits the one outcome instead of adding a second.
    response = client.post(reverse("cases:outcome_edit", args=[case.pk]), {"last_contact_date": "2023-02-01"})
    assert response.status_code == 302
    assert case.outcome.last_contact_date == dt.date(2023, 2, 1)


@pytest.mark.django_db
def test_every_error_of_a_form_is_shown_at_once_next_to_its_field(client, personas, registry):
    case = registry["own"]
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:apheresis_add", args=[case.pk]), {"date": "2022-01-01", "wbc": "-1"},
                           headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "before the panel approval" in body and "greater than or equal to 0" in body
    assert case.apheresis_set.count() == 1


@pytest.mark.django_db
def test_attempt_dates_out_of_order_are_refused_with_the_message(client, personas, registry):
    case = registry["own"]
    apheresis = case.apheresis_set.get()
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:attempt_add", args=[case.pk]), {
        "apheresis": apheresis.pk, "shipped_on": "2022-03-02", "result_on": "2022-03-01", "outcome": "pending"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "cannot start before the apheresis" in body and "cannot be before the manufacture started" in body
    assert case.attempts.count() == 1


@pytest.mark.django_db
def test_garbage_input_is_a_form_error_not_a_500(client, personas, registry):
    case = registry["own"]
    client.force_login(personas["centre_a"])
    for url_name, body in [
        ("case_edit", {"approval_date": "not-a-date", "product": "999999", "ecog": "nine"}),
        ("attempt_edit", {"apheresis": "x", "outcome": "banana", "viable_car_t_dose": "lots"}),
        ("attempt_results", {f"p{p.pk}": "n/a" for p in case.product.release_parameters.all()}),
        ("infusion_edit", {"attempt": "-1", "date": "31/31/2022"}),
        ("outcome_edit", {"crs_grade": "7", "last_contact_date": ""}),
    ]:
        kwargs = {"pk": case.pk, **({"number": 1} if "attempt" in url_name else {})}
        response = client.post(reverse(f"cases:{url_name}", kwargs=kwargs), body)
        assert response.status_code == 200, url_name
        assert 'class="errorlist"' in response.content.decode(), url_name


@pytest.mark.django_db
def test_release_results_entered_inline_show_pass_and_fail_against_the_spec(client, personas, registry):
    case = registry["own"]
    parameters = {p.kind: p for p in case.product.release_parameters.all()}
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:attempt_results", kwargs={"pk": case.pk, "number": 1}),
                           {f"p{parameters['viability'].pk}": "55", f"p{parameters['sterility'].pk}": "pass"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    results = {r.parameter.kind: r.within_spec for r in case.attempts.get().release_results.all()}
    assert results == {"viability": False, "sterility": True}
    assert 'badge fail">fail' in response.content.decode() and 'badge pass">pass' in response.content.decode()


@pytest.mark.django_db
def test_patient_edit_reports_a_local_id_already_used_at_the_centre(client, personas, registry, centre_a):
    PatientFactory(centre=centre_a, local_id="TAKEN")
    patient = registry["own"].patient
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:patient_edit", args=[patient.pk]),
                           {"local_id": "TAKEN", "sex": "M", "birth_year": 1960, "weight_kg": 70})
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    patient.refresh_from_db()
    assert patient.local_id != "TAKEN"


@pytest.mark.django_db
def test_a_case_whose_patient_died_before_infusion_is_listed_as_closed(client, personas, registry):
    from cases.models import Outcome

    case = registry["own"]
    Outcome.objects.create(case=case, death_date=dt.date(2022, 4, 1), last_contact_date=dt.date(2022, 4, 1))
    client.force_login(personas["centre_a"])
    body = client.get(reverse("cases:case_list"), {"status": "closed"}).content.decode()
    assert case.public_id in body and "Closed, not infused" in body


@pytest.mark.django_db
def test_registering_a_patient_leads_to_the_case_form_with_that_patient_chosen(client, personas):
    client.force_login(personas["centre_a"])
    response = client.post(reverse("cases:patient_create"),
                           {"local_id": "A-88", "sex": "M", "birth_year": 1958, "weight_kg": 90})
    patient = personas["centre_a"].centre.patients.get(local_id="A-88")
    assert response["Location"] == f"{reverse('cases:case_create')}?patient={patient.pk}"
    body = client.get(response["Location"]).content.decode()
    assert f'<option value="{patient.pk}" selected>' in body


@pytest.mark.django_db
def test_a_cytopenia_already_recorded_at_that_day_is_a_form_error(client, personas, centre_a):
    case = _full_case(centre_a, 1)  # has neutropenia at day 30
    client.force_login(personas["centre_a"])
    url = reverse("cases:cytopenia_add", args=[case.pk])
    response = client.post(url, {"kind": "neutropenia", "day": 30, "grade": 2, "ctcae_version": "5.0"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    response = client.post(url, {"kind": "neutropenia", "day": 90, "grade": 9, "ctcae_version": "5.0"})
    assert response.status_code == 200 and "less than or equal to 5" in response.content.decode()
    assert case.cytopenias.count() == 1


@pytest.mark.django_db
def test_a_centre_user_cannot_register_a_patient_at_another_centre(client, personas, centre_a, centre_b):
    client.force_login(personas["centre_b"])
    response = client.post(reverse("cases:patient_create"), {"local_id": "SNEAK", "sex": "M", "birth_year": 1960,
                                                             "weight_kg": 70, "centre": centre_a.pk})
    assert response.status_code == 302
    assert list(centre_b.patients.values_list("local_id", flat=True)) == ["SNEAK"]
    assert not centre_a.patients.exists()


@pytest.mark.django_db
def test_an_admin_registers_a_patient_for_a_chosen_centre(client, personas, centre_a):
    client.force_login(personas["admin"])
    assert 'name="centre"' in client.get(reverse("cases:patient_create")).content.decode()
    response = client.post(reverse("cases:patient_create"), {"local_id": "ADM-1", "sex": "F", "birth_year": 1975,
                                                             "weight_kg": 60, "centre": centre_a.pk})
    assert response.status_code == 302
    assert centre_a.patients.get().local_id == "ADM-1"


@pytest.mark.django_db
def test_htmx_filtering_swaps_only_the_rows(client, personas, registry):
    client.force_login(personas["physician"])
    response = client.get(reverse("cases:case_list"), {"centre": "ctra"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body and "<form" not in body
    assert registry["own"].public_id in body and registry["other"].public_id not in body


@pytest.mark.django_db
def test_saving_release_results_unchanged_keeps_the_certificates_wording(client, personas, registry):
    from cases.models import ReleaseResult

    case = registry["own"]
    attempt = case.attempts.get()
    sterility = case.product.release_parameters.get(kind="sterility")
    viability = case.product.release_parameters.get(kind="viability")
    ReleaseResult.objects.create(attempt=attempt, parameter=sterility, value_text="Sterile", within_spec=True)
    ReleaseResult.objects.create(attempt=attempt, parameter=viability, value_numeric=81.5, within_spec=True)
    client.force_login(personas["centre_a"])
    url = reverse("cases:attempt_results", kwargs={"pk": case.pk, "number": 1})
    form = client.get(url).context["form"]
    # Post back exactly what the form shows.
    response = client.post(url, {name: form[name].value() or "" for name in form.fields})
    assert response.status_code == 302
    assert {r.parameter.kind: (r.value_numeric, r.value_text) for r in attempt.release_results.all()} == {
        "sterility": (None, "Sterile"), "viability": (81.5, "")}
