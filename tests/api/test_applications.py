"""The contract's application endpoints: list, detail with the tally, and casting votes."""

import pytest

from api.tallies import tallies_for
from audit.models import AuditEvent
from panel.models import ApplicationStatus, OOSApplication, Vote
from panel.selectors import application_tally, applications_visible_to
from tests.api.conftest import PHARMACIST, PHYSICIAN, submit_application
from tests.panel.factories import PanelMemberFactory

pytestmark = pytest.mark.django_db


def _vote(api_as, member, application, choice="approve", comment=""):
    return api_as(member.user).post(f"/api/v1/applications/{application.pk}/votes/",
                                    {"choice": choice, "comment": comment}, format="json")


def test_list_under_review_is_paginated_with_the_contract_shape(api_as, personas, application, centre_b):
    draft_elsewhere = submit_application(centre_b)
    OOSApplication.objects.filter(pk=draft_elsewhere.pk).update(status=ApplicationStatus.APPROVED)
    response = api_as(personas["ops"]).get("/api/v1/applications/?status=under_review")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 1 and [row["id"] for row in body["results"]] == [application.pk]
    row = body["results"][0]
    assert row["status"] == "under_review" and row["centre"] == application.centre.code
    assert row["product"] == application.case.product.code
    assert row["tally"]["approve"] == 0 and row["decision"] is None


def test_detail_has_tally_and_decision(api_as, personas, application, panel):
    _vote(api_as, panel[PHYSICIAN][0], application, "approve")
    _vote(api_as, panel[PHARMACIST][0], application, "decline")
    body = api_as(personas["physician"]).get(f"/api/v1/applications/{application.pk}/").json()
    assert {"id", "status", "centre", "product", "tally", "decision"} <= set(body)
    assert {k: body["tally"][k] for k in ("approve", "approve_physicians", "approve_pharmacists", "decline",
                                          "abstain")} == {"approve": 1, "approve_physicians": 1,
                                                          "approve_pharmacists": 0, "decline": 1, "abstain": 0}
    assert body["decision"] is None


def test_first_vote_is_201_and_a_replacement_200(api_as, application, panel):
    member = panel[PHYSICIAN][0]
    first = _vote(api_as, member, application, "decline", "Viability too low")
    assert first.status_code == 201, first.json()
    assert first.json()["choice"] == "decline" and first.json()["replaced"] is False
    second = _vote(api_as, member, application, "approve", "Reassured by the risk assessment")
    assert second.status_code == 200 and second.json()["replaced"] is True
    assert Vote.objects.get(application=application, member=member).choice == "approve"
    codes = list(AuditEvent.objects.filter(context__application=application.pk).values_list("code", flat=True))
    assert "panel.vote.cast" in codes and "panel.vote.changed" in codes


def test_deciding_vote_returns_the_decision_and_later_votes_are_409(api_as, application, panel):
    for member in panel[PHYSICIAN][:3]:
        assert _vote(api_as, member, application).status_code == 201
    last = _vote(api_as, panel[PHARMACIST][0], application)
    assert last.status_code == 201 and last.json()["decision"]["outcome"] == "approved"
    detail = api_as(panel[PHYSICIAN][0].user).get(f"/api/v1/applications/{application.pk}/").json()
    assert detail["status"] == "approved" and detail["decision"]["outcome"] == "approved"
    assert detail["tally"]["approve"] == 4
    late = _vote(api_as, panel[PHYSICIAN][4], application, "decline")
    assert late.status_code == 409
    assert "already decided" in late.json()["detail"] and late.json()["errors"] == {}


def test_withdrawn_application_is_409_not_open(api_as, application, panel, centre_a):
    from panel import services

    services.application_withdraw(application_id=application.pk, user=application.submitted_by)
    response = _vote(api_as, panel[PHYSICIAN][0], application)
    assert response.status_code == 409 and "withdrawn" in response.json()["detail"]


def test_not_a_member_or_recused_is_403(api_as, personas, application, centre_a):
    assert _vote(api_as, PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a]), application).status_code \
        == 403
    ops = api_as(personas["ops"]).post(f"/api/v1/applications/{application.pk}/votes/", {"choice": "approve"},
                                       format="json")
    assert ops.status_code == 403 and "physician or pharmacist" in ops.json()["detail"]
    centre = api_as(application.submitted_by).post(f"/api/v1/applications/{application.pk}/votes/",
                                                   {"choice": "approve"}, format="json")
    assert centre.status_code == 403
    assert not Vote.objects.exists()


@pytest.mark.parametrize("body", [{}, {"choice": "maybe"}, {"choice": ""}, {"choice": ["approve"]},
                                  {"choice": "approve", "comment": 12 * "x" * 500}])
def test_invalid_body_is_400_with_field_errors(api_as, application, panel, body):
    response = api_as(panel[PHYSICIAN][0].user).post(f"/api/v1/applications/{application.pk}/votes/", body,
                                                     format="json")
    assert response.status_code == 400
    payload = response.json()
    assert payload["detail"] and set(payload["errors"]) <= {"choice", "comment"} and payload["errors"]
    assert not Vote.objects.exists()


def test_not_json_is_400(api_as, application, panel):
    response = api_as(panel[PHYSICIAN][0].user).post(f"/api/v1/applications/{application.pk}/votes/", "{not json",
                                                     content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json()


def test_unknown_or_invisible_application_is_404(api_as, personas, application, centre_b, panel):
    member = panel[PHYSICIAN][0]
    assert api_as(member.user).post("/api/v1/applications/999999/votes/", {"choice": "approve"},
                                    format="json").status_code == 404
    # Another centre's user cannot even see it.
    assert api_as(personas["centre_b"]).get(f"/api/v1/applications/{application.pk}/").status_code == 404
    assert api_as(personas["analyst"]).get(f"/api/v1/applications/{application.pk}/").status_code == 404


def test_anonymous_is_401_and_session_auth_works(client, personas, application):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/applications/").status_code == 401
    client.force_login(personas["ops"])
    assert client.get("/api/v1/applications/").json()["count"] == 1


def test_bad_token_is_401(application):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.get("/api/v1/applications/")
    assert response.status_code == 401 and response.json()["errors"] == {}


def test_bulk_tallies_match_the_selector(api_as, panel, centre_a, centre_b):
    apps = [submit_application(centre_a) for _ in range(2)] + [submit_application(centre_b)]
    PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_b])
    _vote(api_as, panel[PHYSICIAN][0], apps[0], "approve")
    _vote(api_as, panel[PHARMACIST][1], apps[0], "abstain")
    _vote(api_as, panel[PHYSICIAN][2], apps[2], "decline")
    from panel import services

    services.member_declare_conflict(application_id=apps[1].pk, user=panel[PHYSICIAN][3].user, reason="Treated")
    for member in panel[PHYSICIAN][:3] + panel[PHARMACIST][:1]:
        _vote(api_as, member, apps[1], "approve")
    queryset = applications_visible_to(panel[PHYSICIAN][0].user).select_related("decision")
    bulk = tallies_for(queryset)
    for app in queryset:
        assert bulk[app.pk] == application_tally(application=app)


def test_list_queries_do_not_grow_with_the_page(api_as, personas, panel, centre_a, django_assert_max_num_queries):
    for _ in range(3):
        submit_application(centre_a)
    client = api_as(personas["ops"])
    with django_assert_max_num_queries(9):
        small = client.get("/api/v1/applications/?page_size=3")
    for _ in range(12):
        submit_application(centre_a)
    with django_assert_max_num_queries(9):
        large = client.get("/api/v1/applications/?page_size=15")
    assert len(small.json()["results"]) == 3 and len(large.json()["results"]) == 15
