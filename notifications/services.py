"""Writing to the outbox (inside the caller's transaction) and delivering from it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from notifications.models import Channel, Notification, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

# After this many failed deliveries a message is left as failed for the operations manager.
MAX_ATTEMPTS = 8


def notify(*, users: Iterable, key: str, subject: str, body: str, url: str = "", email: bool = True,
           extra_emails: Iterable[str] = (), attachment_path: str = "", attachment_name: str = "") -> list[int]:
    """Queue an in-app notification (and an e-mail) for each user, in the caller's transaction.

    ``key`` names the event (e.g. ``"application:12:submitted"``); each message's idempotency key is
    the event key plus channel and recipient, so calling ``notify`` twice for one event queues
    nothing the second time. Delivery is asked for once the transaction commits; if the broker is
    down the messages stay pending and the periodic ``flush_outbox`` sends them later.
    """
    ids = []
    for user in users:
        targets = [(Channel.IN_APP, user, "")]
        if email and user.email:
            targets.append((Channel.EMAIL, user, user.email))
        for channel, recipient, address in targets:
            message, created = OutboxMessage.objects.get_or_create(
                idempotency_key=f"{key}:{channel}:{recipient.pk}",
                defaults={"channel": channel, "recipient": recipient, "to_email": address, "subject": subject[:200],
                          "body": body, "url": url, "attachment_path": attachment_path,
                          "attachment_name": attachment_name})
            if created:
                ids.append(message.pk)
    for address in extra_emails:
        message, created = OutboxMessage.objects.get_or_create(
            idempotency_key=f"{key}:{Channel.EMAIL}:{address.lower()}",
            defaults={"channel": Channel.EMAIL, "to_email": address, "subject": subject[:200], "body": body,
                      "url": url, "attachment_path": attachment_path, "attachment_name": attachment_name})
        if created:
            ids.append(message.pk)
    if ids:
        transaction.on_commit(lambda: request_delivery(ids))
    return ids


def request_delivery(ids: list[int]) -> None:
    """Hand the messages to Celery; a broker that is down only delays them (the outbox keeps them)."""
    from notifications.tasks import deliver_outbox

    try:
        deliver_outbox.delay(ids)
    except Exception:  # noqa: BLE001 - any broker failure: the periodic flush delivers them later
        logger.warning("Broker unavailable: %d notification(s) stay in the outbox until it is back", len(ids))


def _send_email(message: OutboxMessage) -> None:
    link = f"\n\n{settings.SITE_URL.rstrip('/')}{message.url}" if message.url else ""
    email = EmailMessage(subject=message.subject, body=message.body + link, to=[message.to_email])
    if message.attachment_path:
        path = Path(settings.MEDIA_ROOT) / message.attachment_path
        email.attach(message.attachment_name or path.name, path.read_bytes(), "application/pdf")
    email.send(fail_silently=False)


def deliver(message_id: int) -> bool:
    """Deliver one message if still pending; True when it is (now or already) sent.

    The row is locked with SKIP LOCKED, so two workers never deliver the same message at once,
    and the in-app notification is created with the message as its unique key.
    """
    with transaction.atomic():
        message = (OutboxMessage.objects.select_for_update(skip_locked=True)
                   .filter(pk=message_id, status=OutboxStatus.PENDING).first())
        if message is None:
            return OutboxMessage.objects.filter(pk=message_id, status=OutboxStatus.SENT).exists()
        message.attempts += 1
        try:
            if message.channel == Channel.IN_APP:
                Notification.objects.get_or_create(outbox=message, defaults={
                    "user_id": message.recipient_id, "subject": message.subject, "body": message.body,
                    "url": message.url})
            else:
                _send_email(message)
        except Exception as error:  # noqa: BLE001 - recorded on the message, retried later
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.FAILED
            message.save(update_fields=["attempts", "last_error", "status"])
            logger.warning("Delivery of outbox message %s failed (attempt %d): %s", message.pk, message.attempts,
                           message.last_error)
            return False
        message.status = OutboxStatus.SENT
        message.sent_at = timezone.now()
        message.last_error = ""
        message.save(update_fields=["attempts", "last_error", "status", "sent_at"])
        return True


def pending_ids(*, after: int = 0, limit: int = 500) -> list[int]:
    return list(OutboxMessage.objects.filter(status=OutboxStatus.PENDING, id__gt=after).order_by("id")
                .values_list("id", flat=True)[:limit])
