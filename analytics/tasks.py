"""Celery tasks of the analytics app."""

from celery import shared_task

from analytics import services
from analytics.models import ReportTrigger


@shared_task(name="analytics.tasks.recompute_report", acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(), max_retries=0)
def recompute_report(snapshot_id: int) -> dict:
    """Compute one requested report snapshot. Never retried: a failure leaves the previous report served,
    and a redelivery after a lost worker marks the snapshot failed instead of computing it twice."""
    snapshot = services.run_recompute(snapshot_id)
    return {"id": snapshot.pk, "status": snapshot.status}


@shared_task(name="analytics.tasks.nightly_recompute", acks_late=True, max_retries=0)
def nightly_recompute() -> dict:
    """Beat: request a fresh unfiltered report (skipped while another recompute runs)."""
    try:
        snapshot, created = services.request_recompute(actor=None, filters={}, trigger=ReportTrigger.SCHEDULE)
    except services.RecomputeBusy as busy:
        return {"skipped": True, "running": busy.running.pk}
    return {"id": snapshot.pk, "created": created}
