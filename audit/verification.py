"""Recompute the audit chain: each entry's hash over its content and its predecessor's hash."""

from dataclasses import dataclass

from audit.models import AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    event_id: int
    reason: str


def verify_chain(*, batch_size: int = 5000) -> tuple[int, ChainBreak | None]:
    """(entries checked, first break or None), streaming in id order without loading it all."""
    previous_hash, checked, last_id = "", 0, 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        if not batch:
            return checked, None
        for event in batch:
            if event.previous_hash != previous_hash:
                # An entry before this one was deleted, or this link was rewritten.
                return checked, ChainBreak(event.id, "does not chain onto the entry before it (deleted or "
                                                     "reordered entries)")
            if event.compute_hash() != event.entry_hash:
                return checked, ChainBreak(event.id, "its content no longer matches its hash (altered)")
            previous_hash, checked, last_id = event.entry_hash, checked + 1, event.id
