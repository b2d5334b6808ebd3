"""The panel's side of an application under review: its discussion thread and questions to the centre.

Same locking rule as ``panel.services``: the application row is locked first, so a question, a
vote and the centre's answer on one application run one after another.
"""

from __future__ import annotations

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.roles import PANEL_ROLES, Role
from accounts.selectors import centre_users
from cases.errors import DomainError
from notifications.services import notify
from panel.models import ApplicationStatus, Comment, InformationRequest, OOSApplication
from panel.selectors import active_member_for, member_recusal_reason
from panel.services import ApplicationNotOpen, NotEligible, _audit, _lock_application, _set_status

# Every audit event code of the members' review, with the text the audit pages show for it: this
# module's own, and those that ``panel.services`` writes for votes, conflicts and the decision.
AUDIT_EVENTS = {
    "panel.comment.added": "commented on an OOS application",
    "panel.information_request.asked": "asked the centre for information on an OOS application",
    "panel.vote.cast": "voted on an OOS application",
    "panel.vote.changed": "changed their vote on an OOS application",
    "panel.member.recused": "declared a conflict of interest and was recused",
    "panel.decision.made": "brought about the panel's decision on an OOS application",
}

COMMENT_MAX_LENGTH = 5000
QUESTION_MAX_LENGTH = 5000

# A thread stays open for the panel and the operations manager until the letter has gone out.
COMMENTABLE_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW,
                         ApplicationStatus.INFO_REQUESTED, ApplicationStatus.APPROVED, ApplicationStatus.DECLINED)


def can_discuss(user) -> bool:
    """May the user post to a discussion thread? Panel members and the operations manager."""
    return bool(user.is_authenticated and (user.role in PANEL_ROLES or user.role == Role.OPS_MANAGER))


def _clean_text(text: str, *, field: str, what: str, max_length: int) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(f"Write the {what} first.", field=field)
    if len(text) > max_length:
        raise DomainError(f"The {what} is {len(text)} characters long; keep it to {max_length}.", field=field)
    return text


def _application_url(application: OOSApplication, name: str) -> str:
    try:
        return reverse(name, args=[application.pk])
    except NoReverseMatch:
        return reverse("panel:review", args=[application.pk])


@transaction.atomic
def comment_add(*, application_id: int, user, body: str) -> Comment:
    """Add a message to the application's discussion thread (panel members and the operations manager)."""
    body = _clean_text(body, field="body", what="comment", max_length=COMMENT_MAX_LENGTH)
    if not can_discuss(user):
        raise NotEligible("Only panel members and the operations manager take part in the discussion.")
    application = _lock_application(application_id)
    if application.status not in COMMENTABLE_STATUSES:
        raise ApplicationNotOpen(f"The application is {application.get_status_display().lower()}: "
                                 "its discussion is closed.")
    comment = Comment(application=application, author=user, body=body)
    comment._history_user = user
    comment.save()
    _audit(code="panel.comment.added", actor=user, application=application, obj=comment,
           changes={"body": [None, body]})
    return comment


def _check_may_ask(user, application: OOSApplication) -> None:
    if user.role == Role.OPS_MANAGER:
        return
    member = active_member_for(user)
    if member is None:
        raise NotEligible("Only an active panel member or the operations manager can ask the centre a question.")
    reason = member_recusal_reason(member, application)
    if reason:
        raise NotEligible(f"You are recused from this application ({reason}) and cannot question the centre.")


@transaction.atomic
def information_request_ask(*, application_id: int, user, question: str) -> InformationRequest:
    """Ask the centre a question: the application waits for the answer and its SLA clock stops.

    Only while the panel is reviewing it, one open question at a time. The centre's users and the
    application's contact address are told, in this transaction (outbox).
    """
    question = _clean_text(question, field="question", what="question", max_length=QUESTION_MAX_LENGTH)
    application = _lock_application(application_id)
    _check_may_ask(user, application)
    if application.status == ApplicationStatus.INFO_REQUESTED:
        raise ApplicationNotOpen("A question to the centre is already open: wait for its answer before asking another.")
    if application.status != ApplicationStatus.UNDER_REVIEW:
        raise ApplicationNotOpen(f"The application is {application.get_status_display().lower()}: "
                                 "questions can only be asked while the panel is reviewing it.")
    now = timezone.now()
    request = InformationRequest(application=application, asked_by=user, question=question, asked_at=now)
    request._history_user = user
    request.save()
    application.sla_paused_at = now
    _set_status(application, ApplicationStatus.INFO_REQUESTED, user=user, extra_fields=("sla_paused_at",))
    _audit(code="panel.information_request.asked", actor=user, application=application, obj=request,
           changes={"status": [ApplicationStatus.UNDER_REVIEW, application.status], "sla_paused_at": [None, now]},
           context={"question": question})
    case_label = application.case.public_id
    users = list(centre_users(application.centre_id))
    # The contact address is told too, unless it is already one of the centre users' own.
    known = {user.email.lower() for user in users if user.email}
    contact = application.contact_email
    notify(users=users, key=f"application:{application.pk}:information_request:{request.pk}",
           subject=f"The OOS panel has a question on application {application.pk} ({case_label})",
           body=(f"The national OOS panel asks:\n\n{question}\n\nThe panel's review is paused until you answer "
                 "in the application."),
           url=_application_url(application, "panel:application_detail"),
           extra_emails=[contact] if contact and contact.lower() not in known else ())
    return request
