"""The panel's review writes: comments, questions to the centre, and the operations manager told of decisions."""
# ruff: noqa: F811 - pytest fixtures imported from tests.panel.review_fixtures are redefined as arguments

import pytest
from django.db import transaction
from django.urls import reverse

from accounts.roles import Role
from audit.models import AuditEvent
from cases.errors import DomainError
from notifications.models import Channel, OutboxMessage
from panel import review, services
from panel.models import ApplicationStatus, Comment, InformationRequest
from panel.services import ApplicationNotOpen, NotEligible
from tests.factories import UserFactory
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


def _ask(application, user, question="Was the certificate re-issued?"):
    return review.information_request_ask(application_id=application.pk, user=user, question=question)


# --- Comments ----------------------------------------------------------------------------------


def test_comment_is_stored_audited_and_kept_in_history(application, personas):
    comment = review.comment_add(application_id=application.pk, user=personas["physician"], body="  Looks fine  ")
    assert comment.body == "Looks fine" and comment.author == personas["physician"]
    assert comment.history.first().history_user == personas["physician"]
    event = AuditEvent.objects.get(code="panel.comment.added")
    assert event.context["application"] == application.pk


@pytest.mark.parametrize("persona", ["centre_a", "analyst", "admin"])
def test_only_panel_and_ops_comment(application, personas, persona):
    with pytest.raises(NotEligible):
        review.comment_add(application_id=application.pk, user=personas[persona], body="Hello")
    assert not Comment.objects.exists()


@pytest.mark.parametrize("body", ["", "   ", "x" * (review.COMMENT_MAX_LENGTH + 1)])
def test_comment_text_is_checked(application, personas, body):
    with pytest.raises(DomainError) as error:
        review.comment_add(application_id=application.pk, user=personas["ops"], body=body)
    assert error.value.field == "body"


def test_comment_on_withdrawn_application_is_refused(application, personas, submitter):
    services.application_withdraw(application_id=application.pk, user=submitter)
    with pytest.raises(ApplicationNotOpen, match="discussion is closed"):
        review.comment_add(application_id=application.pk, user=personas["ops"], body="Too late")


# --- Information requests ----------------------------------------------------------------------


def test_question_pauses_the_review_and_notifies_the_centre(application, personas, submitter, centre_a):
    other_user = UserFactory(role=Role.CENTRE_USER, centre=centre_a, email="nurse@centre-a.example")
    UserFactory(role=Role.CENTRE_USER, centre=personas["centre_b"].centre, email="elsewhere@centre-b.example")
    request = _ask(application, personas["physician"])

    application.refresh_from_db()
    assert application.status == ApplicationStatus.INFO_REQUESTED
    assert application.sla_paused_at == request.asked_at
    assert request.answered_at is None and request.asked_by == personas["physician"]
    event = AuditEvent.objects.get(code="panel.information_request.asked")
    assert event.changes["status"] == ["under_review", "info_requested"]

    messages = OutboxMessage.objects.filter(idempotency_key__startswith=f"application:{application.pk}:information")
    emails = set(messages.filter(channel=Channel.EMAIL).values_list("to_email", flat=True))
    assert emails == {submitter.email, other_user.email, "oos-contact@centre-a.example"}
    in_app = set(messages.filter(channel=Channel.IN_APP).values_list("recipient_id", flat=True))
    assert in_app == {submitter.pk, other_user.pk, personas["centre_a"].pk}
    assert all("Was the certificate re-issued?" in body for body in messages.values_list("body", flat=True))


def test_contact_address_of_a_centre_user_is_written_to_once(centre_a, submitter, panel, personas):
    application = submit_application(centre_a, submitter, contact_email=submitter.email.upper())
    _ask(application, personas["ops"])
    emails = list(OutboxMessage.objects.filter(channel=Channel.EMAIL).values_list("to_email", flat=True))
    assert emails == [submitter.email]


def test_one_open_question_at_a_time(application, personas):
    _ask(application, personas["physician"])
    with pytest.raises(ApplicationNotOpen, match="already open"):
        _ask(application, personas["pharmacist"], "Another?")
    assert InformationRequest.objects.count() == 1


def test_questions_only_while_under_review(application, panel, personas):
    for member in [*panel[PHYSICIAN][:3], panel[PHARMACIST][0]]:
        vote(application, member, "approve")
    with pytest.raises(ApplicationNotOpen, match="approved"):
        _ask(application, personas["ops"])


@pytest.mark.parametrize("persona", ["centre_a", "analyst", "admin", "physician"])
def test_who_may_not_ask(application, personas, persona):
    if persona == "physician":
        # A panel-role user without an active seat.
        personas["physician"].panel_memberships.update(active_to="2020-12-31")
    with pytest.raises(NotEligible):
        _ask(application, personas[persona])


def test_recused_member_may_not_ask(application, centre_a):
    member = PanelMemberFactory(role=PHYSICIAN, affiliations=[centre_a])
    with pytest.raises(NotEligible, match="recused"):
        _ask(application, member.user)


def test_empty_question_is_refused_before_anything_changes(application, personas):
    with pytest.raises(DomainError) as error:
        _ask(application, personas["ops"], "  ")
    assert error.value.field == "question"
    application.refresh_from_db()
    assert application.status == ApplicationStatus.UNDER_REVIEW and application.sla_paused_at is None


# --- The operations manager is told of each decision -------------------------------------------


def test_decision_notifies_ops_managers_with_a_link(application, panel, personas):
    second_ops = UserFactory(role=Role.OPS_MANAGER, email="ops2@panel.example")
    UserFactory(role=Role.OPS_MANAGER, is_active=False, email="gone@panel.example")
    for member in panel[PHYSICIAN][:3]:
        vote(application, member, "approve")
    key = f"application:{application.pk}:decided"
    assert not OutboxMessage.objects.filter(idempotency_key__startswith=key).exists()
    vote(application, panel[PHARMACIST][0], "approve")
    messages = OutboxMessage.objects.filter(idempotency_key__startswith=key, channel=Channel.IN_APP)
    assert set(messages.values_list("recipient_id", flat=True)) == {personas["ops"].pk, second_ops.pk}
    message = messages.first()
    assert message.url == reverse("panel:review", args=[application.pk])
    assert "approved" in message.subject and "4 approve (3 physicians, 1 pharmacists)" in message.body


def test_decline_notifies_and_a_rolled_back_decision_notifies_nobody(application, panel, personas):
    key = f"application:{application.pk}:decided"
    with pytest.raises(RuntimeError), transaction.atomic():
        for member in panel[PHYSICIAN][:3]:
            vote(application, member, "decline")
        raise RuntimeError("the request failed after the decision")
    assert not OutboxMessage.objects.filter(idempotency_key__startswith=key).exists()
    for member in panel[PHYSICIAN][:3]:
        vote(application, member, "decline")
    assert OutboxMessage.objects.filter(idempotency_key__startswith=key, recipient=personas["ops"],
                                        subject__contains="declined").exists()


def test_every_review_audit_code_has_its_text(application, panel, personas):
    from audit.labels import label

    review.comment_add(application_id=application.pk, user=personas["ops"], body="Noted")
    vote(application, panel[PHYSICIAN][0], "decline")
    vote(application, panel[PHYSICIAN][0], "approve")
    services.member_declare_conflict(application_id=application.pk, user=panel[PHYSICIAN][1].user, reason="Friend")
    for member in [*panel[PHYSICIAN][2:4], panel[PHARMACIST][0]]:
        vote(application, member, "approve")
    written = set(AuditEvent.objects.filter(code__regex=r"^panel\.(vote|member|decision|comment)")
                  .values_list("code", flat=True))
    _ask(submit_application(application.centre, application.submitted_by), personas["ops"])
    written.add("panel.information_request.asked")
    assert written == set(review.AUDIT_EVENTS)
    assert all(label(code) != code for code in written)
