"""One recompute at a time: a PostgreSQL session advisory lock, or a lease row elsewhere (SQLite).

The advisory lock lives as long as the worker's database connection, so a worker killed mid-run
releases it with its connection; the lease expires on its own after ``LEASE``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from analytics.models import RecomputeLock

# Any constant works: it names the advisory lock of report recomputes (audit uses another).
ADVISORY_KEY = 74_231_005
LEASE_NAME = "recompute"
LEASE = dt.timedelta(hours=2)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _try_advisory() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_KEY])
        return bool(cursor.fetchone()[0])


def _release_advisory() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])


def _try_lease(holder: str) -> bool:
    RecomputeLock.objects.get_or_create(name=LEASE_NAME)
    now = timezone.now()
    taken = (RecomputeLock.objects.filter(name=LEASE_NAME)
             .filter(Q(holder="") | Q(expires_at__lt=now) | Q(expires_at__isnull=True))
             .update(holder=holder, expires_at=now + LEASE))
    return taken == 1


def _release_lease(holder: str) -> None:
    RecomputeLock.objects.filter(name=LEASE_NAME, holder=holder).update(holder="", expires_at=None)


@contextmanager
def recompute_lock():
    """Yields True while this process holds the recompute lock, False (without waiting) when another does."""
    holder = uuid.uuid4().hex
    acquired = _try_advisory() if _postgres() else _try_lease(holder)
    try:
        yield acquired
    finally:
        if acquired:
            _release_advisory() if _postgres() else _release_lease(holder)


def lock_is_free() -> bool:
    """Is no recompute holding the lock right now? (Takes and releases it at once.)"""
    with recompute_lock() as acquired:
        return acquired
