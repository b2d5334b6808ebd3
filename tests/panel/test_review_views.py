"""The review page and its actions: who may see it, what a voter sees, votes, conflicts, comments, questions."""
# ruff: noqa: F811 - pytest fixtures imported from tests.panel.review_fixtures are redefined as arguments

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from panel import review, services
from panel.models import ApplicationStatus, Comment, InformationRequest, Recusal, Vote
from tests.panel.factories import PanelMemberFactory
from tests.panel.review_fixtures import (  # noqa: F401 - fixtures
    PHARMACIST,
    PHYSICIAN,
    application,
    panel,
    submit_application,
    submitter,
    vote,
)

pytestmark = pytest.mark.django_db


def _url(name, application):
    return reverse(f"panel:{name}", args=[application.pk])


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "status"), [
    ("physician", 200), ("pharmacist", 200), ("ops", 200), ("admin", 200),
    ("centre_a", 403), ("centre_b", 403), ("analyst", 403),
])
def test_review_page_access_matrix(client, personas, application, persona, status):
    client.force_login(personas[persona])
    assert client.get(_url("review", application)).status_code == status


@pytest.mark.parametrize("name", ["vote", "comment_add", "declare_conflict", "info_request"])
@pytest.mark.parametrize("persona", ["centre_a", "centre_b", "analyst"])
def test_centre_users_and_analysts_cannot_post_any_review_action(client, personas, application, name, persona):
    client.force_login(personas[persona])
    data = {"choice": "approve", "comment": "x", "body": "x", "reason": "x", "question": "x"}
    assert client.post(_url(name, application), data).status_code == 403
    assert not Vote.objects.exists() and not Comment.objects.exists()
    assert not InformationRequest.objects.exists()
    assert not Recusal.objects.filter(automatic=False).exists()


def test_anonymous_is_sent_to_login(client, application):
    response = client.get(_url("review", application))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_draft_and_unknown_applications_are_not_found(client, personas, submitter, panel):
    from tests.panel.factories import OOSAttemptFactory

    attempt = OOSAttemptFactory(apheresis__case__patient__centre=submitter.centre)
    draft = services.application_create_draft(user=submitter, attempt=attempt)
    client.force_login(personas["physician"])
    assert client.get(reverse("panel:review", args=[draft.pk])).status_code == 404
    assert client.get(reverse("panel:review", args=[999_999])).status_code == 404
    assert client.post(reverse("panel:vote", args=[draft.pk]), {"choice": "approve"}).status_code == 404


def test_review_page_answers_get_only(client, personas, application):
    client.force_login(personas["physician"])
    assert client.post(_url("review", application)).status_code == 405
    assert client.get(_url("vote", application)).status_code == 405


# --- What a voter sees -------------------------------------------------------------------------


def test_review_page_shows_what_a_voter_needs_without_identifiers(client, personas, application):
    patient = application.case.patient
    client.force_login(personas["physician"])
    response = client.get(_url("review", application))
    html = response.content.decode()
    assert "60–69 years" in html  # born 1962: an age band, never the year
    assert "Male" in html and "78.0 kg" in html
    assert patient.local_id not in html
    assert str(patient.birth_year) not in html
    assert "Yescarta" in html and "LBCL" in html
    assert "Cell viability" in html or "viability" in html.lower()
    assert "61" in html  # the failed value from the submission snapshot
    assert "Within the SmPC range" in html
    # Cell counts as clinicians write them (the case page's notation), never 1.2e+08.
    assert "1.2 ×10⁸ viable CAR+ T cells" in html and "e+0" not in html
    assert "Refractory LBCL" in html
    assert 'name="choice"' in html and 'value="abstain"' in html
    assert response.context["tally"]["eligible"] == 8
    assert "Who has voted" not in html  # names are for the operations manager and admins


def test_ops_and_admin_see_who_has_voted_and_no_vote_form(client, personas, application, panel):
    vote(application, panel[PHYSICIAN][1], "approve")
    for persona in ("ops", "admin"):
        client.force_login(personas[persona])
        response = client.get(_url("review", application))
        html = response.content.decode()
        assert "Who has voted" in html
        assert panel[PHYSICIAN][1].user.display_name in html
        assert response.context["vote_form"] is None


def test_attempt_history_lists_every_attempt_of_the_case(client, personas, application):
    client.force_login(personas["physician"])
    response = client.get(_url("review", application))
    assert [a.number for a in response.context["attempts"]] == [1]
    assert "(this application)" in response.content.decode()


def test_review_page_queries_do_not_grow_with_comments_and_attempts(client, personas, application, panel,
                                                                   django_assert_max_num_queries):
    client.force_login(personas["ops"])
    client.get(_url("review", application))
    for index in range(10):
        review.comment_add(application_id=application.pk, user=panel[PHYSICIAN][index % 5].user, body=f"Note {index}")
        vote(application, panel[PHYSICIAN][index % 2], "abstain")
    with django_assert_max_num_queries(40):
        assert client.get(_url("review", application)).status_code == 200


# --- Voting ------------------------------------------------------------------------------------


def test_vote_then_change_it_keeps_history(client, personas, application):
    client.force_login(personas["physician"])
    response = client.post(_url("vote", application), {"choice": "approve", "comment": "Benefit outweighs risk"})
    assert response.status_code == 302 and response["Location"].endswith("#vote")
    response = client.post(_url("vote", application), {"choice": "abstain", "comment": "Need the CoA"}, follow=True)
    html = response.content.decode()
    assert "Your vote (abstain) is changed." in html
    assert "Your current vote: <strong>Abstain</strong>" in html
    assert "Your vote history (2 versions)" in html and "Benefit outweighs risk" in html
    current = Vote.objects.get(application=application)
    assert current.choice == "abstain" and current.history.count() == 2
    codes = AuditEvent.objects.filter(code__startswith="panel.vote").order_by("id").values_list("code", flat=True)
    assert list(codes) == ["panel.vote.cast", "panel.vote.changed"]


def test_vote_form_is_prefilled_with_the_current_vote(client, personas, application):
    client.force_login(personas["physician"])
    client.post(_url("vote", application), {"choice": "decline", "comment": "Too low"})
    response = client.get(_url("review", application))
    assert response.context["vote_form"].initial == {"choice": "decline", "comment": "Too low"}


@pytest.mark.parametrize("data", [{}, {"choice": "maybe"}, {"choice": "approve", "comment": "x" * 5001}])
def test_invalid_vote_is_400_with_the_error_next_to_the_field(client, personas, application, data):
    client.force_login(personas["physician"])
    response = client.post(_url("vote", application), data)
    assert response.status_code == 400
    assert response.context["vote_form"].errors
    assert not Vote.objects.exists()


def test_vote_over_htmx_returns_the_vote_panel(client, personas, application):
    client.force_login(personas["pharmacist"])
    response = client.post(_url("vote", application), {"choice": "approve", "comment": ""}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("{#") is False and 'id="vote-panel"' in html
    assert "<html" not in html
    assert "Your vote (approve) is recorded." in html
    assert "Your current vote: <strong>Approve</strong>" in html


def test_last_approval_decides_and_the_form_goes(client, personas, application, panel):
    for member in panel[PHYSICIAN][1:4]:
        vote(application, member, "approve")
    client.force_login(personas["pharmacist"])
    response = client.post(_url("vote", application), {"choice": "approve"}, follow=True)
    html = response.content.decode()
    assert "The panel&#x27;s decision is made: approved." in html
    assert response.context["decision"].outcome == "approved"
    assert response.context["vote_form"] is None
    assert "votes are closed" in html


def test_vote_on_a_decided_application_is_409_with_a_clear_message(client, personas, application, panel):
    for member in [*panel[PHYSICIAN][1:4], panel[PHARMACIST][1]]:
        vote(application, member, "approve")
    client.force_login(personas["physician"])
    response = client.post(_url("vote", application), {"choice": "decline"})
    assert response.status_code == 409
    assert "The panel has already decided this application." in response.content.decode()
    assert not Vote.objects.filter(member__user=personas["physician"]).exists()
    # Over htmx the panel comes back (200, so htmx swaps it) with the same message and no form.
    response = client.post(_url("vote", application), {"choice": "decline"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "already decided" in response.content.decode() and 'name="choice"' not in response.content.decode()


def test_user_without_a_seat_gets_403_on_vote(client, personas, application):
    client.force_login(personas["ops"])
    response = client.post(_url("vote", application), {"choice": "approve"})
    assert response.status_code == 403
    assert "Only an active panel physician or pharmacist can vote." in response.content.decode()


# --- Recusal and conflicts ---------------------------------------------------------------------


def test_affiliated_member_sees_they_are_recused_and_no_vote_form(client, application, centre_a):
    member = PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a])
    client.force_login(member.user)
    response = client.get(_url("review", application))
    html = response.content.decode()
    assert "You are recused" in html and "ctra" in html
    assert response.context["vote_form"] is None and 'name="choice"' not in html
    assert response.context["conflict_form"] is None
    assert client.post(_url("vote", application), {"choice": "approve"}).status_code == 403


def test_automatically_recused_member_sees_the_recorded_reason(client, centre_a, submitter, panel):
    member = PanelMemberFactory(role=PHARMACIST, affiliations=[centre_a])
    application = submit_application(centre_a, submitter)
    assert Recusal.objects.filter(member=member, automatic=True).exists()
    client.force_login(member.user)
    html = client.get(_url("review", application)).content.decode()
    assert "You are recused" in html and "Affiliated with the submitting centre ctra." in html


def test_declare_conflict_requires_a_reason_then_recuses(client, personas, application):
    client.force_login(personas["physician"])
    response = client.post(_url("declare_conflict", application), {"reason": "  "})
    assert response.status_code == 400
    assert "Say what the conflict of interest is." in response.content.decode()
    response = client.post(_url("declare_conflict", application), {"reason": "Co-author with the applicant"},
                           follow=True)
    html = response.content.decode()
    assert "you are recused from this application" in html
    assert "You are recused" in html and "Co-author with the applicant" in html
    assert response.context["vote_form"] is None
    response = client.post(_url("declare_conflict", application), {"reason": "again"})
    assert response.status_code == 400 and "already recused" in response.content.decode()
    assert Recusal.objects.filter(member__user=personas["physician"]).count() == 1


def test_conflict_that_makes_approval_unreachable_declines(client, application, panel):
    # One physician recused and one declining leave exactly three who could approve; one more recusal ends it.
    services.member_declare_conflict(application_id=application.pk, user=panel[PHYSICIAN][2].user, reason="Conflict")
    vote(application, panel[PHYSICIAN][4], "decline")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW
    client.force_login(panel[PHYSICIAN][1].user)
    response = client.post(_url("declare_conflict", application), {"reason": "Treated the patient"}, follow=True)
    assert "the application is declined" in response.content.decode()
    application.refresh_from_db()
    assert application.status == ApplicationStatus.DECLINED


# --- Discussion --------------------------------------------------------------------------------


def test_members_and_ops_post_to_the_thread(client, personas, application):
    for persona, body in (("physician", "Viability 61 % is close"), ("ops", "CoA attached")):
        client.force_login(personas[persona])
        response = client.post(_url("comment_add", application), {"body": body})
        assert response.status_code == 302 and response["Location"].endswith("#discussion")
    client.force_login(personas["pharmacist"])
    html = client.get(_url("review", application)).content.decode()
    assert "Viability 61 % is close" in html and "CoA attached" in html
    assert AuditEvent.objects.filter(code="panel.comment.added").count() == 2


def test_empty_comment_is_refused_and_admin_reads_without_posting(client, personas, application):
    client.force_login(personas["physician"])
    assert client.post(_url("comment_add", application), {"body": "   "}).status_code == 400
    client.force_login(personas["admin"])
    response = client.get(_url("review", application))
    assert response.context["comment_form"] is None
    assert client.post(_url("comment_add", application), {"body": "Audit note"}).status_code == 403
    assert not Comment.objects.exists()


# --- Information requests (asking) -------------------------------------------------------------


def test_member_asks_the_centre_and_the_review_pauses(client, personas, application):
    client.force_login(personas["physician"])
    response = client.post(_url("info_request", application), {"question": "Was the CoA re-tested?"}, follow=True)
    html = response.content.decode()
    assert "Your question is sent to the centre" in html
    assert "Information requested" in html and "Was the CoA re-tested?" in html
    assert response.context["vote_form"] is None
    assert response.context["info_form"] is None  # one open question at a time
    application.refresh_from_db()
    assert application.status == ApplicationStatus.INFO_REQUESTED
    # A second question while one is open is a 409 with the reason.
    response = client.post(_url("info_request", application), {"question": "And the dose?"})
    assert response.status_code == 409
    assert "already open" in response.content.decode()
    # Votes wait too.
    assert client.post(_url("vote", application), {"choice": "approve"}).status_code == 409


def test_empty_question_is_400(client, personas, application):
    client.force_login(personas["ops"])
    response = client.post(_url("info_request", application), {"question": ""})
    assert response.status_code == 400
    assert "Write the question first." in response.content.decode()


def test_recused_member_cannot_question_the_centre(client, application, centre_a):
    member = PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a])
    client.force_login(member.user)
    assert client.post(_url("info_request", application), {"question": "Why?"}).status_code == 403
    assert not InformationRequest.objects.exists()
