"""The one way to write the audit trail."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audit.context import current_ip
from audit.models import AuditEvent

SENSITIVE_KEYS = {"password", "token", "secret", "otp", "recovery_code"}
# Any constant works: it names the one PostgreSQL advisory lock that serialises the chain.
_CHAIN_LOCK_KEY = 74_231_001


def _masked(values: dict) -> dict:
    return {k: ("***" if any(s in k.lower() for s in SENSITIVE_KEYS) else v) for k, v in (values or {}).items()}


def _jsonable(values: dict) -> dict:
    return json.loads(json.dumps(values or {}, cls=DjangoJSONEncoder))


def diff(old: dict, new: dict) -> dict:
    """{field: [old, new]} for the fields whose value changed."""
    return {k: [old.get(k), new.get(k)] for k in new if old.get(k) != new.get(k)}


@transaction.atomic(savepoint=False)  # in the caller's transaction: its failure is the caller's
def audit_log(*, code: str, actor=None, obj=None, centre_code: str = "", changes: dict | None = None,
              context: dict | None = None, ip: str | None = None) -> AuditEvent:
    """Append one event to the chain, inside the caller's transaction (all or nothing)."""
    if connection.vendor == "postgresql":
        # Serialise appends so two transactions never chain onto the same predecessor.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    previous = AuditEvent.objects.order_by("-id").values_list("entry_hash", flat=True).first() or ""
    actor_ok = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        code=code,
        created_at=timezone.now(),
        actor=actor if actor_ok else None,
        actor_username=actor.username if actor_ok else "",
        actor_role=getattr(actor, "role", "") if actor_ok else "",
        ip=ip or current_ip.get(),
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        centre_code=centre_code,
        changes=_jsonable(_masked(changes)),
        context=_jsonable(_masked(context)),
        previous_hash=previous,
    )
    event.entry_hash = event.compute_hash()
    event.save()
    return event
