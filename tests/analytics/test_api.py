"""GET /api/v1/reports/latest/ and POST /api/v1/reports/: roles, token or session auth, 202/404/409/400."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analytics import services
from analytics.models import CohortReport

LATEST = "/api/v1/reports/latest/"
REPORTS = "/api/v1/reports/"


@pytest.fixture
def api():
    return APIClient()


def _token(api, user):
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")


@pytest.mark.django_db
def test_latest_is_404_with_a_clear_error_before_any_report(api, people, django_assert_max_num_queries):
    _token(api, people["analyst"])
    with django_assert_max_num_queries(3):
        response = api.get(LATEST)
    assert response.status_code == 404 and "No report has been computed yet" in response.json()["detail"]


@pytest.mark.django_db
def test_latest_serves_the_current_unfiltered_report(api, people, registry, django_assert_max_num_queries):
    first, _ = services.request_recompute(actor=None, filters={}, queue=False)
    services.run_recompute(first.pk)
    filtered, _ = services.request_recompute(actor=None, filters={"product": "tisa-cel"}, queue=False)
    services.run_recompute(filtered.pk)
    _token(api, people["ops_manager"])
    with django_assert_max_num_queries(3):
        response = api.get(LATEST)
    assert response.status_code == 200
    body = response.json()
    assert body["n_cases"] == 981 and body == CohortReport.objects.get(pk=first.pk).report


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "status"), [("analyst", 404), ("admin", 404), ("ops_manager", 404),
                                              ("centre_user", 403), ("panel_physician", 403),
                                              ("panel_pharmacist", 403)])
def test_latest_by_role(api, people, role, status):
    _token(api, people[role])
    assert api.get(LATEST).status_code == status
    assert api.post(REPORTS, {}, format="json").status_code == (202 if status == 404 else 403)


@pytest.mark.django_db
def test_anonymous_is_401_and_session_auth_works(api, people):
    assert api.get(LATEST).status_code == 401
    api.force_login(people["analyst"])
    assert api.get(LATEST).status_code == 404


@pytest.mark.django_db
def test_post_queues_a_snapshot_and_answers_202_with_its_id(api, people, registry, monkeypatch):
    queued = []
    monkeypatch.setattr(services.transaction, "on_commit", lambda fn, *a, **k: queued.append(fn))
    _token(api, people["analyst"])
    response = api.post(REPORTS, {"product": "axi-cel", "era": 2}, format="json")
    assert response.status_code == 202
    body = response.json()
    snapshot = CohortReport.objects.get(pk=body["id"])
    assert body["status"] == "running" and snapshot.filters == {"product": "axi-cel", "era": 2}
    assert snapshot.trigger == "api" and snapshot.requested_by == people["analyst"] and len(queued) == 1
    # the same filters again: the running snapshot; other filters: 409 naming it
    assert api.post(REPORTS, {"era": 2, "product": "axi-cel"}, format="json").json()["id"] == snapshot.pk
    conflict = api.post(REPORTS, {}, format="json")
    assert conflict.status_code == 409 and conflict.json()["id"] == snapshot.pk
    status = api.get(body["url"])
    assert status.status_code == 200 and status.json()["progress"] == 0
    assert api.get(f"{REPORTS}999999/").status_code == 404
    assert api.get(f"{REPORTS}{2**70}/").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"era": 5}, {"product": "nope"}, {"scope": "x"}, {"centre": "zz"}, [1, 2]])
def test_post_refuses_bad_filters_with_400(api, people, registry, body):
    _token(api, people["analyst"])
    response = api.post(REPORTS, body, format="json")
    assert response.status_code == 400 and response.json()["detail"]
    assert not CohortReport.objects.exists()


@pytest.mark.django_db
def test_the_schema_documents_the_report_endpoints(api, people):
    api.force_login(people["admin"])
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert {"202", "400", "409", "401", "403"} <= set(paths["/api/v1/reports/"]["post"]["responses"])
    assert {"200", "404", "401", "403"} <= set(paths["/api/v1/reports/latest/"]["get"]["responses"])
