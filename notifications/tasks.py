from celery import shared_task

from notifications import services


@shared_task(bind=True, max_retries=5, default_retry_delay=30, acks_late=True)
def deliver_outbox(self, ids: list[int]) -> int:
    """Deliver the given outbox messages; retry the ones that failed (their error is kept on the row)."""
    failed = [message_id for message_id in ids if not services.deliver(message_id)]
    if failed:
        raise self.retry(args=[failed])
    return len(ids)


@shared_task(acks_late=True)
def flush_outbox() -> int:
    """Periodic sweep (beat): deliver everything still pending, e.g. queued while the broker was down."""
    delivered, after = 0, 0
    while ids := services.pending_ids(after=after):
        delivered += sum(1 for message_id in ids if services.deliver(message_id))
        after = ids[-1]
    return delivered
