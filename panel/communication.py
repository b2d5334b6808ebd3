"""Communicating the panel's decision to the treating centre: letter, record, e-mail, notification."""

from __future__ import annotations

import hashlib
import re

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.selectors import centre_users
from audit.services import audit_log
from cases.errors import DomainError
from notifications.services import notify
from panel.letters import decision_letter_pdf
from panel.models import ApplicationStatus, Communication, OOSApplication
from panel.services import ApplicationNotOpen

AUDIT_EVENTS = {
    "panel.decision.communicated": "communicated the panel's decision to the centre",
}

MAX_RECIPIENTS = 20
MAX_CONDITIONS = 5000


class AlreadyCommunicated(ApplicationNotOpen):
    """The decision on this application has already been sent. → 409"""


def can_communicate(user) -> bool:
    return bool(user.is_authenticated and (user.is_superuser or user.role == Role.OPS_MANAGER))


def parse_recipients(raw: str | list[str]) -> list[str]:
    """E-mail addresses from a comma, semicolon or line separated list: validated, lower-cased, unique."""
    items = raw if isinstance(raw, list | tuple) else re.split(r"[,;\s]+", raw or "")
    recipients: list[str] = []
    invalid = []
    for item in (value.strip() for value in items):
        if not item:
            continue
        try:
            validate_email(item)
        except ValidationError:
            invalid.append(item)
            continue
        if item.lower() not in recipients:
            recipients.append(item.lower())
    if invalid:
        raise DomainError(f"Not a valid e-mail address: {', '.join(invalid[:5])}.", field="recipients")
    if not recipients:
        raise DomainError("Give at least one recipient for the decision letter.", field="recipients")
    if len(recipients) > MAX_RECIPIENTS:
        raise DomainError(f"At most {MAX_RECIPIENTS} recipients can be named.", field="recipients")
    return recipients


def default_recipients(application: OOSApplication) -> list[str]:
    """The application's contact e-mail and the centre users' e-mails, as the form prefills them."""
    addresses = [application.contact_email] if application.contact_email else []
    addresses += [email for email in centre_users(application.centre_id).order_by("username")
                  .values_list("email", flat=True) if email]
    return list(dict.fromkeys(address.lower() for address in addresses))


def _application_url(application: OOSApplication) -> str:
    try:
        return reverse("panel:application_detail", args=[application.pk])
    except NoReverseMatch:
        return ""


@transaction.atomic
def decision_communicate(*, application_id: int, user, conditions: str = "",
                         recipients: str | list[str]) -> Communication:
    """Send the decision letter of a decided application to the centre, once.

    Builds the letter, stores it privately with its SHA-256, records who sent it to whom and
    when, moves the application to ``communicated`` and queues the e-mails (letter attached) to
    ``recipients`` and the in-app notification to the centre's users — all in one transaction.
    """
    if not can_communicate(user):
        raise DomainError("Only the operations manager communicates the panel's decisions.")
    conditions = (conditions or "").strip()
    if len(conditions) > MAX_CONDITIONS:
        raise DomainError(f"Conditions are limited to {MAX_CONDITIONS} characters.", field="conditions")
    addresses = parse_recipients(recipients)
    # Lock the application first, as every panel service does, so two sends cannot both pass the check.
    try:
        application = OOSApplication.objects.select_for_update().get(pk=application_id)
    except OOSApplication.DoesNotExist:
        raise DomainError("This OOS application does not exist.") from None
    application = OOSApplication.objects.select_related("case__product", "centre", "attempt", "decision").get(
        pk=application.pk)
    if Communication.objects.filter(application=application).exists():
        raise AlreadyCommunicated("The decision on this application has already been communicated.")
    if application.status not in (ApplicationStatus.APPROVED, ApplicationStatus.DECLINED):
        raise ApplicationNotOpen(f"The application is {application.get_status_display().lower()}: only a "
                                 "decided application can be communicated.")
    sent_at = timezone.now()
    pdf = decision_letter_pdf(application, conditions=conditions, sent_by=user, sent_at=sent_at)
    digest = hashlib.sha256(pdf).hexdigest()
    communication = Communication(application=application, sent_by=user, sent_at=sent_at, recipients=addresses,
                                  conditions=conditions, letter_sha256=digest)
    communication.letter.save(f"decision-{application.pk}.pdf", ContentFile(pdf), save=False)
    # The file is written before the row: if anything below fails, the transaction rolls back and
    # the file is removed with it, so no letter is left without its record.
    try:
        communication._history_user = user
        communication.save()
        old = application.status
        application.status = ApplicationStatus.COMMUNICATED
        application._history_user = user
        application.save(update_fields=["status", "updated_at"])
        audit_log(code="panel.decision.communicated", actor=user, obj=communication,
                  centre_code=application.centre.code,
                  changes={"status": [old, application.status]},
                  context={"application": application.pk, "outcome": application.decision.outcome,
                           "recipients": addresses, "letter_sha256": digest, "conditions": conditions})
        outcome = application.decision.get_outcome_display().lower()
        public_id = application.case.public_id
        notify(users=centre_users(application.centre_id), key=f"application:{application.pk}:communicated",
               subject=f"OOS application {application.pk} ({public_id}): {outcome}",
               body=(f"The national OOS CAR-T panel has {outcome} OOS application {application.pk} for case "
                     f"{public_id} ({application.case.product.brand}). The decision letter is attached and "
                     "can be downloaded from the application page."
                     + (f"\n\nConditions:\n{conditions}" if conditions else "")),
               url=_application_url(application), email=False, extra_emails=addresses,
               attachment_path=communication.letter.name,
               attachment_name=f"oos-decision-{application.pk}-{public_id}.pdf")
    except Exception:
        communication.letter.storage.delete(communication.letter.name)
        raise
    return communication
