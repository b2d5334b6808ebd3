"""Reads of a user's in-app notifications."""

from django.db.models import F, QuerySet

from notifications.models import Notification


def notifications_for(user) -> QuerySet[Notification]:
    """The user's notifications, unread first, newest first within each."""
    return Notification.objects.filter(user=user).order_by(F("read_at").asc(nulls_first=True), "-created_at", "-id")


def unread_count(user) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
