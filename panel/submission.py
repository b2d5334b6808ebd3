"""The treating centre's side of an OOS application: the draft, its evidence, answers to the panel's
questions, and what happened to the product after the decision.

Each service locks the application row first (``panel.services._lock_application``), like every
other panel write, then checks who is acting and the application's status, writes, audits and
queues its notifications in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.selectors import ops_managers
from cases.errors import DomainError
from cases.models import ManufacturingAttempt
from notifications.services import notify
from panel import services
from panel.models import (
    ApplicationStatus,
    Attachment,
    AttachmentKind,
    DecisionOutcome,
    InformationRequest,
    OOSApplication,
    Urgency,
)
from panel.services import ApplicationNotOpen, _audit, _check_centre_user, _lock_application, _set_status
from panel.sla import due_after_pause
from panel.uploads import check_pdf

# The manufacturer and the competent authority must hear of an infused OOS product within 48 hours.
REGULATORY_NOTIFICATION_WINDOW = dt.timedelta(hours=48)
JUSTIFICATION_MAX = 10_000
WITHDRAW_REASON_MAX = 1_000
ANSWER_MAX = 10_000

# Every audit event code the centre's services write, with the text the audit pages show for it.
AUDIT_EVENTS = {
    # Written by panel.services for the centre's steps; named here with the rest of the centre's codes.
    "panel.application.created": "started a draft OOS application",
    "panel.application.submitted": "submitted an OOS application to the panel",
    "panel.application.withdrawn": "withdrew an OOS application",
    "panel.application.updated": "changed a draft OOS application",
    "panel.attachment.added": "attached a document to an OOS application",
    "panel.attachment.downloaded": "downloaded a document of an OOS application",
    "panel.letter.downloaded": "downloaded the decision letter of an OOS application",
    "panel.information_request.answered": "answered the panel's information request",
    "panel.application.infusion_recorded": "recorded whether the OOS product was infused",
    "panel.application.regulatory_notification_recorded": "recorded the notification of the manufacturer and "
                                                         "the competent authority",
}

DRAFT_FIELDS = ("clinical_justification", "urgency", "contact", "contact_email")


def _clean_draft_values(*, clinical_justification: str, urgency: str, contact: str, contact_email: str) -> dict:
    values = {"clinical_justification": (clinical_justification or "").strip(), "urgency": urgency,
              "contact": (contact or "").strip(), "contact_email": (contact_email or "").strip()}
    if urgency not in Urgency.values:
        raise DomainError(f"Unknown urgency {urgency!r}: choose routine, urgent or emergency.", field="urgency")
    if len(values["clinical_justification"]) > JUSTIFICATION_MAX:
        raise DomainError(f"Keep the clinical justification under {JUSTIFICATION_MAX:,} characters; attach longer "
                          "documents as a PDF.", field="clinical_justification")
    if values["contact_email"]:
        try:
            validate_email(values["contact_email"])
        except ValidationError:
            raise DomainError("Enter a valid e-mail address.", field="contact_email") from None
    return values


def live_application_for(attempt: ManufacturingAttempt) -> OOSApplication | None:
    """The attempt's application that is still live (anything but withdrawn or declined), if any."""
    return (OOSApplication.objects.filter(attempt=attempt)
            .exclude(status__in=[ApplicationStatus.WITHDRAWN, ApplicationStatus.DECLINED]).first())


@transaction.atomic
def application_create(*, user, attempt: ManufacturingAttempt, clinical_justification: str = "",
                       urgency: str = Urgency.ROUTINE, contact: str = "", contact_email: str = "") -> OOSApplication:
    """Start a draft application for an OOS attempt of the user's centre; one live application per product.

    Two users of a centre pressing "Save" at once both pass the check for a live application; the
    database's unique constraint then refuses the second, reported with the same message.
    """
    values = _clean_draft_values(clinical_justification=clinical_justification, urgency=urgency, contact=contact,
                                 contact_email=contact_email)
    existing = live_application_for(attempt)
    if existing is not None:
        raise DomainError(_already_live_message(existing))
    try:
        with transaction.atomic():
            return services.application_create_draft(user=user, attempt=attempt, **values)
    except IntegrityError:
        existing = live_application_for(attempt)
        raise DomainError(_already_live_message(existing) if existing else
                          "This product already has an open OOS application.") from None


def _already_live_message(application: OOSApplication) -> str:
    return (f"This product already has OOS application {application.pk} "
            f"({application.get_status_display().lower()}): continue with that one, or withdraw it first.")


@transaction.atomic
def application_update_draft(*, application_id: int, user, clinical_justification: str, urgency: str,
                             contact: str, contact_email: str) -> OOSApplication:
    """Change a draft's justification, urgency and contact; the panel sees only what is submitted."""
    application = _lock_application(application_id)
    _check_centre_user(user, application.centre_id, "change")
    if application.status != ApplicationStatus.DRAFT:
        raise ApplicationNotOpen("Only a draft can be changed: once submitted the panel decides on what it was sent.")
    values = _clean_draft_values(clinical_justification=clinical_justification, urgency=urgency, contact=contact,
                                 contact_email=contact_email)
    changes = {name: [getattr(application, name), value] for name, value in values.items()
               if getattr(application, name) != value}
    if not changes:
        return application
    for name, value in values.items():
        setattr(application, name, value)
    application._history_user = user
    application.save(update_fields=[*changes, "updated_at"])
    _audit(code="panel.application.updated", actor=user, application=application, changes=changes)
    return application


# What a draft still lacks, for the centre's submit page; the core service applies the same check.
missing_for_submission = services.missing_for_submission


def application_submit(*, application_id: int, user) -> OOSApplication:
    """Submit the centre's draft once it is complete (``missing_for_submission``): the panel's submission
    (facts, recusals, SLA, notification of the eligible members) is ``panel.services.application_submit``,
    which refuses an incomplete draft whoever calls it."""
    return services.application_submit(application_id=application_id, user=user)


@transaction.atomic
def application_withdraw(*, application_id: int, user, reason: str) -> OOSApplication:
    """Withdraw with a stated reason (kept in the audit trail)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why the application is withdrawn.", field="reason")
    if len(reason) > WITHDRAW_REASON_MAX:
        raise DomainError(f"Keep the reason under {WITHDRAW_REASON_MAX:,} characters.", field="reason")
    return services.application_withdraw(application_id=application_id, user=user, reason=reason)


def _open_request(application: OOSApplication) -> InformationRequest | None:
    return application.information_requests.filter(answered_at__isnull=True).first()


def _store_attachment(*, application: OOSApplication, user, kind: str, uploaded_file) -> Attachment:
    if kind not in AttachmentKind.values:
        raise DomainError("Choose what kind of document this is.", field="kind")
    checked = check_pdf(uploaded_file)
    attachment = Attachment(application=application, kind=kind, original_name=checked.display_name,
                            size=checked.size, sha256=checked.sha256, uploaded_by=user)
    attachment.file.save(checked.display_name, uploaded_file, save=False)
    try:
        attachment._history_user = user
        attachment.save()
        _audit(code="panel.attachment.added", actor=user, application=application, obj=attachment,
               changes={"attachment": [None, attachment.original_name]},
               context={"kind": kind, "size": checked.size, "sha256": checked.sha256,
                        "status": application.status})
    except Exception:
        # No row, no file. (A rollback later in the caller's transaction can still leave an
        # unreferenced file: random-named and private, it is never served.)
        attachment.file.storage.delete(attachment.file.name)
        raise
    return attachment


@transaction.atomic
def attachment_add(*, application_id: int, user, kind: str, uploaded_file) -> Attachment:
    """Attach a PDF while the application is a draft or the panel has asked the centre for more."""
    application = _lock_application(application_id)
    _check_centre_user(user, application.centre_id, "add documents to")
    if application.status not in (ApplicationStatus.DRAFT, ApplicationStatus.INFO_REQUESTED):
        raise ApplicationNotOpen("Documents can be added to a draft, or when the panel has asked for information.")
    return _store_attachment(application=application, user=user, kind=kind, uploaded_file=uploaded_file)


@transaction.atomic
def information_answer(*, request_id: int, user, answer: str, attachment_kind: str = "",
                       uploaded_file=None) -> InformationRequest:
    """Answer the panel's open question; the review resumes and the SLA moves on by the time it waited.

    An optional PDF is attached in the same transaction, so the member who asked is told only once
    the answer and its evidence are both there.
    """
    try:
        application_id = InformationRequest.objects.values_list("application_id", flat=True).get(pk=request_id)
    except InformationRequest.DoesNotExist:
        raise DomainError("This information request does not exist.") from None
    application = _lock_application(application_id)
    _check_centre_user(user, application.centre_id, "answer for")
    request = InformationRequest.objects.select_related("asked_by").get(pk=request_id)
    if request.answered_at is not None:
        raise ApplicationNotOpen("This question has already been answered.")
    if application.status != ApplicationStatus.INFO_REQUESTED:
        raise ApplicationNotOpen("The panel is not waiting for information on this application.")
    answer = (answer or "").strip()
    if not answer:
        raise DomainError("Write the answer to the panel's question.", field="answer")
    if len(answer) > ANSWER_MAX:
        raise DomainError(f"Keep the answer under {ANSWER_MAX:,} characters; attach longer documents as a PDF.",
                          field="answer")
    attachment = None
    if uploaded_file is not None:
        attachment = _store_attachment(application=application, user=user, kind=attachment_kind or AttachmentKind.OTHER,
                                       uploaded_file=uploaded_file)

    now = timezone.now()
    request.answer, request.answered_by, request.answered_at = answer, user, now
    request._history_user = user
    request.save(update_fields=["answer", "answered_by", "answered_at"])

    old_due, paused_at = application.sla_due_at, application.sla_paused_at
    application.sla_due_at = due_after_pause(old_due, paused_at, now)
    application.sla_paused_at = None
    _set_status(application, ApplicationStatus.UNDER_REVIEW, user=user, extra_fields=("sla_due_at", "sla_paused_at"))
    _audit(code="panel.information_request.answered", actor=user, application=application, obj=request,
           changes={"status": [ApplicationStatus.INFO_REQUESTED, application.status],
                    "sla_due_at": [old_due, application.sla_due_at]},
           context={"paused_at": paused_at, "attachment": attachment.pk if attachment else None})
    notify(users=[request.asked_by], key=f"information-request:{request.pk}:answered",
           subject=f"The centre answered your question on OOS application {application.pk}",
           body=f"{application.centre.name} answered: {answer[:500]}",
           url=services._member_url(application))
    return request


def _check_time(value: dt.datetime | None, *, field: str, label: str, not_before: dt.datetime | None,
                not_before_label: str) -> dt.datetime:
    if value is None:
        raise DomainError(f"Enter when {label}.", field=field)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if value > timezone.now() + dt.timedelta(minutes=5):
        raise DomainError("This time is in the future.", field=field)
    if not_before is not None and value < not_before:
        raise DomainError(f"This is before {not_before_label} "
                          f"({timezone.localtime(not_before):%d %b %Y %H:%M}).", field=field)
    return value


@transaction.atomic
def application_record_infusion(*, application_id: int, user, infused: bool,
                                infused_at: dt.datetime | None = None) -> OOSApplication:
    """Record whether the OOS product was given after the decision was communicated.

    An infusion starts the 48-hour deadline to notify the manufacturer and the competent
    authority; the operations manager is told so the deadline is watched from the dashboard too.
    """
    application = _lock_application(application_id)
    _check_centre_user(user, application.centre_id, "record the infusion for")
    if application.status != ApplicationStatus.COMMUNICATED:
        raise ApplicationNotOpen("The infusion is recorded once the panel's decision has been communicated, "
                                 "and only once.")
    now = timezone.now()
    if infused:
        decision = getattr(application, "decision", None)
        if decision is None or decision.outcome != DecisionOutcome.APPROVED:
            raise DomainError("The panel declined this application: the OOS product cannot be recorded as infused "
                              "under it.", field="infused")
        infused_at = _check_time(infused_at, field="infused_at", label="the product was infused",
                                 not_before=application.submitted_at, not_before_label="the application was submitted")
        application.infused_at = infused_at
        application.regulatory_deadline_at = infused_at + REGULATORY_NOTIFICATION_WINDOW
        status = ApplicationStatus.INFUSED
    else:
        status = ApplicationStatus.NOT_INFUSED
    application.infusion_recorded_at = now
    _set_status(application, status, user=user,
                extra_fields=("infused_at", "infusion_recorded_at", "regulatory_deadline_at"))
    _audit(code="panel.application.infusion_recorded", actor=user, application=application,
           changes={"status": [ApplicationStatus.COMMUNICATED, status], "infused_at": [None, application.infused_at]},
           context={"regulatory_deadline_at": application.regulatory_deadline_at})
    if infused:
        deadline = timezone.localtime(application.regulatory_deadline_at)
        notify(users=ops_managers(), key=f"application:{application.pk}:infused",
               subject=f"OOS product infused (application {application.pk}): notifications due by "
                       f"{deadline:%d %b %H:%M}",
               body=(f"{application.centre.name} infused the OOS product on "
                     f"{timezone.localtime(application.infused_at):%d %b %Y %H:%M}. The manufacturer and the "
                     f"competent authority must be notified by {deadline:%d %b %Y %H:%M}."),
               url=reverse("panel:application_detail", args=[application.pk]))
    return application


@transaction.atomic
def application_record_regulatory_notification(*, application_id: int, user,
                                               manufacturer_notified_at: dt.datetime | None = None,
                                               authority_notified_at: dt.datetime | None = None) -> OOSApplication:
    """Record when the manufacturer and/or the competent authority were told of the infused OOS product.

    Either may be recorded on its own, in any order; a time already recorded can be corrected
    (the audit trail keeps the earlier value).
    """
    application = _lock_application(application_id)
    _check_centre_user(user, application.centre_id, "record notifications for")
    if application.status != ApplicationStatus.INFUSED:
        raise ApplicationNotOpen("Notifications are recorded for an infused OOS product.")
    if manufacturer_notified_at is None and authority_notified_at is None:
        raise DomainError("Enter when the manufacturer or the competent authority was notified.",
                          field="manufacturer_notified_at")
    changes = {}
    for field, value, label in (("manufacturer_notified_at", manufacturer_notified_at, "the manufacturer was notified"),
                                ("authority_notified_at", authority_notified_at, "the authority was notified")):
        if value is None:
            continue
        value = _check_time(value, field=field, label=label, not_before=application.infused_at,
                            not_before_label="the infusion")
        if getattr(application, field) != value:
            changes[field] = [getattr(application, field), value]
            setattr(application, field, value)
    if changes:
        application._history_user = user
        application.save(update_fields=[*changes, "updated_at"])
        _audit(code="panel.application.regulatory_notification_recorded", actor=user, application=application,
               changes=changes, context={"regulatory_deadline_at": application.regulatory_deadline_at})
    return application
