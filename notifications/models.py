"""The transactional outbox and the in-app notifications it delivers.

A state change writes its ``OutboxMessage`` rows in its own transaction (``notify``), so a
notification exists if and only if the change committed. Delivery is a Celery task that can run
any number of times: each message carries an idempotency key, an in-app notification is created at
most once per message, and a message is marked sent only after its e-mail went out.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    IN_APP = "in_app", "In the app"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxMessage(models.Model):
    idempotency_key = models.CharField(max_length=200, unique=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    to_email = models.EmailField(blank=True)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=300, blank=True, help_text="Link in the app the notification is about")
    attachment_path = models.CharField(max_length=300, blank=True,
                                       help_text="Private file (under MEDIA_ROOT) attached to the e-mail")
    attachment_name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "id"])]
        constraints = [
            models.CheckConstraint(condition=~Q(channel=Channel.EMAIL) | ~Q(to_email=""),
                                   name="outbox_email_has_address"),
            models.CheckConstraint(condition=~Q(channel=Channel.IN_APP) | Q(recipient__isnull=False),
                                   name="outbox_in_app_has_recipient"),
        ]

    def __str__(self):
        return f"{self.channel} {self.idempotency_key} ({self.status})"


class Notification(models.Model):
    """A message shown in the app to one user; created from exactly one outbox message."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    outbox = models.OneToOneField(OutboxMessage, on_delete=models.PROTECT, related_name="notification")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self):
        return f"{self.user} — {self.subject}"
