"""Writes of the analytics app: report snapshots (request, run, swap), control-set regeneration, exports.

A snapshot is created "running" when requested, filled in by the Celery task (or in-process with
``--sync``) under the recompute lock, and made current only in the transaction that completes it;
every state change is audited.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import traceback

from django.db import DatabaseError, transaction
from django.utils import timezone

from analytics import cohorts as c
from analytics import filters as f
from analytics.dataset import consistent_snapshot, load_analysis_data, write_csv
from analytics.locks import lock_is_free, recompute_lock
from analytics.models import CohortReport, MatchedControlPair, MatchedControlSet, RecomputeLock, ReportStatus
from analytics.plots import build_plots
from analytics.report import build_report
from audit.services import audit_log
from cases.errors import DomainError
from cases.models import Case, ManufacturingAttempt

log = logging.getLogger(__name__)
# A requested snapshot no worker has started after this long is given up (the queue is down).
QUEUE_TIMEOUT = dt.timedelta(hours=6)
_REQUESTS_LOCK = "requests"

# Every audit event code these services write, with the text the audit pages show for it.
AUDIT_EVENTS = {
    "analytics.report.requested": "requested a report recompute",
    "analytics.report.completed": "completed a report (now the one served for its filters)",
    "analytics.report.failed": "recorded a failed report recompute",
    "analytics.report.downloaded": "downloaded a report",
    "analytics.dataset.exported": "exported the analysis dataset",
    "analytics.control_set.regenerated": "regenerated the matched control set",
}


class RecomputeBusy(DomainError):
    """Another recompute (for other filters) is running; ``running`` is its snapshot."""

    def __init__(self, running: CohortReport):
        super().__init__(f"Report {running.pk} ({f.describe(running.filters)}) is being computed; "
                         "wait for it to finish before requesting another.")
        self.running = running


def _audit(code, snapshot, actor=None, **context):
    audit_log(code=code, actor=actor, obj=snapshot, context={"filters": snapshot.filters, **context})


@transaction.atomic
def fail_orphans() -> int:
    """Mark as failed the running snapshots whose worker is gone (started, lock free) or that no worker
    ever started within QUEUE_TIMEOUT. Returns how many were marked."""
    running = list(CohortReport.objects.select_for_update().filter(status=ReportStatus.RUNNING))
    if not running:
        return 0
    free = lock_is_free() if any(s.started_at for s in running) else False
    now = timezone.now()
    marked = 0
    for snapshot in running:
        if snapshot.started_at and free:
            reason = "Interrupted: the worker stopped before the report was complete. The previous report is kept."
        elif not snapshot.started_at and snapshot.requested_at < now - QUEUE_TIMEOUT:
            reason = "No worker started this recompute; check that the Celery worker is running."
        else:
            continue
        _finish_failed(snapshot, reason)
        marked += 1
    return marked


def request_recompute(*, actor, filters: dict | None = None, trigger: str = "page",
                      queue: bool = True) -> tuple[CohortReport, bool]:
    """A new running snapshot for these filters, queued for the worker once this transaction commits
    (``queue=False``: the caller runs ``run_recompute`` itself).

    Returns (snapshot, created): the already running snapshot of the same filters is returned as is
    (created False); one of other filters raises RecomputeBusy. DomainError for unknown filter values.
    """
    filters = f.normalise_filters(filters)
    key = f.filter_key(filters)
    fail_orphans()
    RecomputeLock.objects.get_or_create(name=_REQUESTS_LOCK)
    with transaction.atomic():
        # Serialise requests so two at the same moment never both start a recompute.
        RecomputeLock.objects.select_for_update().get(name=_REQUESTS_LOCK)
        running = CohortReport.objects.filter(status=ReportStatus.RUNNING).order_by("requested_at")
        same = running.filter(filter_key=key).first()
        if same is not None:
            return same, False
        other = running.first()
        if other is not None:
            raise RecomputeBusy(other)
        snapshot = CohortReport(filters=filters, filter_key=key, trigger=trigger,
                                requested_by=actor if getattr(actor, "pk", None) else None,
                                progress_message="Waiting for the worker")
        snapshot._history_user = actor
        snapshot.save()
        _audit("analytics.report.requested", snapshot, actor, trigger=trigger)
        if queue:
            transaction.on_commit(lambda: enqueue(snapshot.pk))
    return snapshot, True


def enqueue(snapshot_id: int) -> None:
    """Hand the snapshot to the Celery worker; a broker that cannot be reached fails the snapshot."""
    from analytics.tasks import recompute_report

    try:
        # ANALYTICS_TASK_QUEUE routes recomputes to a dedicated worker (`celery worker -Q <queue>`), so
        # a long report never delays notifications; the default queue otherwise.
        queue = os.environ.get("ANALYTICS_TASK_QUEUE") or None
        result = recompute_report.apply_async(args=[snapshot_id], queue=queue)
    except Exception as error:  # noqa: BLE001 - any broker error means the recompute will never run
        if CohortReport.objects.filter(pk=snapshot_id, status=ReportStatus.RUNNING).exists():
            _finish_failed(CohortReport.objects.get(pk=snapshot_id),
                           f"The task queue could not be reached: {error}")
        return
    CohortReport.objects.filter(pk=snapshot_id, task_id="").update(task_id=result.id or "")


def _pause() -> None:
    # Slows each stage down so progress can be watched, and interruption tested, on small registries.
    seconds = float(os.environ.get("ANALYTICS_STAGE_PAUSE_SECONDS", "0") or 0)
    if seconds > 0:
        time.sleep(seconds)


def _set_progress(snapshot_id: int, percent: float, message: str) -> None:
    CohortReport.objects.filter(pk=snapshot_id).update(progress=max(0, min(99, int(percent))),
                                                       progress_message=message[:200])
    _pause()


def _finish_failed(snapshot: CohortReport, message: str) -> None:
    with transaction.atomic():
        updated = CohortReport.objects.filter(pk=snapshot.pk, status=ReportStatus.RUNNING).update(
            status=ReportStatus.FAILED, error=message[:5000], finished_at=timezone.now(), is_current=False,
            progress_message="Failed")
        if updated:
            snapshot.refresh_from_db()
            _audit("analytics.report.failed", snapshot, error=message[:500])


def _load(filters: dict):
    """The analysis data and the control set it used, read in one consistent snapshot where possible."""
    with consistent_snapshot():
        as_of = timezone.now()
        control_set = MatchedControlSet.objects.filter(is_current=True).first()
        data = load_analysis_data(**f.loader_arguments(filters))
    return data, control_set, as_of


def run_recompute(snapshot_id: int) -> CohortReport:
    """Compute a requested snapshot under the recompute lock and make it current when complete.

    Never retried: a snapshot that was already started (a redelivered task after a lost worker) is
    marked failed instead of being computed twice. Errors fail the snapshot and propagate.
    """
    snapshot = CohortReport.objects.get(pk=snapshot_id)
    if snapshot.status != ReportStatus.RUNNING:
        return snapshot
    if snapshot.started_at is not None:
        _finish_failed(snapshot, "Interrupted: the worker stopped before the report was complete; "
                                 "it is not retried. The previous report is kept.")
        return CohortReport.objects.get(pk=snapshot_id)
    with recompute_lock() as acquired:
        if not acquired:
            _finish_failed(snapshot, "Another recompute was running; request this one again when it has finished.")
            return CohortReport.objects.get(pk=snapshot_id)
        started = time.perf_counter()
        CohortReport.objects.filter(pk=snapshot_id).update(started_at=timezone.now(), progress=1,
                                                           progress_message="Loading the registry")
        _pause()
        try:
            data, control_set, as_of = _load(snapshot.filters)
            _set_progress(snapshot_id, 10, f"Loaded {len(data.cases)} cases")
            report = build_report(data, progress=lambda p, m: _set_progress(snapshot_id, 10 + p * 0.85, m))
            plots = build_plots(data, report)
            _set_progress(snapshot_id, 97, "Drew the figures")
            _complete(snapshot_id, report, plots, control_set, as_of, time.perf_counter() - started)
        except Exception as error:
            log.exception("Report %s failed", snapshot_id)
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            _finish_failed(snapshot, f"The report could not be computed: {detail}")
            raise
    return CohortReport.objects.get(pk=snapshot_id)


def _complete(snapshot_id, report, plots, control_set, as_of, seconds) -> None:
    """Store the finished report and move the current pointer for its filters to it, in one transaction."""
    with transaction.atomic():
        snapshot = CohortReport.objects.select_for_update().get(pk=snapshot_id)
        if snapshot.status != ReportStatus.RUNNING:
            return
        previous = list(CohortReport.objects.select_for_update()
                        .filter(filter_key=snapshot.filter_key, is_current=True).values_list("pk", flat=True))
        CohortReport.objects.filter(pk__in=previous).update(is_current=False)
        snapshot.status = ReportStatus.COMPLETE
        snapshot.is_current = True
        snapshot.report = report
        snapshot.plots = plots
        snapshot.progress = 100
        snapshot.progress_message = "Complete"
        snapshot.finished_at = timezone.now()
        snapshot.data_as_of = as_of
        snapshot.n_cases = report["n_cases"]
        snapshot.control_set = control_set
        snapshot.control_seed = control_set.seed if control_set else None
        snapshot.duration_seconds = seconds
        snapshot.save()
        _audit("analytics.report.completed", snapshot, replaced=previous, n_cases=report["n_cases"],
               seconds=round(seconds, 3))


@transaction.atomic
def regenerate_control_set(*, actor, seed: int) -> MatchedControlSet:
    """A new current 1:1 matched control set drawn with ``seed`` over every MF case of the registry
    (same product and indication, nearest approval date); the seed is recorded and audited."""
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        raise DomainError("The seed must be a whole number.", field="seed") from None
    if not 0 <= seed <= 2**31 - 1:
        raise DomainError("The seed must be between 0 and 2147483647.", field="seed")
    failed = set(ManufacturingAttempt.objects.filter(outcome__in=c.FAILED_OUTCOMES)
                 .values_list("case_id", flat=True))
    if not failed:
        raise DomainError("The registry has no manufacturing failure to match controls to.")
    rows = Case.objects.values_list("id", "product_id", "indication", "approval_date")
    mf_cases, candidates = [], []
    for case_id, product_id, indication, approval in rows:
        (mf_cases if case_id in failed else candidates).append((case_id, (product_id, indication), approval))
    pairs = c.match_controls(mf_cases, candidates, seed)
    previous = MatchedControlSet.objects.select_for_update().filter(is_current=True).first()
    MatchedControlSet.objects.filter(is_current=True).update(is_current=False)
    control_set = MatchedControlSet(seed=seed, is_current=True, created_by=actor if getattr(actor, "pk", None)
                                    else None)
    control_set._history_user = actor
    control_set.save()
    MatchedControlPair.objects.bulk_create([MatchedControlPair(control_set=control_set, mf_case_id=m,
                                                               control_case_id=k) for m, k in pairs],
                                           batch_size=5000)
    audit_log(code="analytics.control_set.regenerated", actor=actor, obj=control_set,
              changes={"current_control_set": [previous.pk if previous else None, control_set.pk]},
              context={"seed": seed, "mf_cases": len(mf_cases), "pairs": len(pairs),
                       "unmatched": len(mf_cases) - len(pairs)})
    return control_set


def record_download(*, actor, snapshot: CohortReport, fmt: str) -> None:
    _audit("analytics.report.downloaded", snapshot, actor, format=fmt)


def export_dataset(*, actor, filters: dict | None, out) -> int:
    """Write the analysis dataset CSV of these filters to ``out`` and audit the export; returns the rows."""
    filters = f.normalise_filters(filters)
    try:
        frame = load_analysis_data(**f.loader_arguments(filters)).cases
    except DatabaseError as error:
        raise DomainError(f"The registry could not be read: {error}") from error
    rows = write_csv(frame, out)
    audit_log(code="analytics.dataset.exported", actor=actor, context={"filters": filters, "rows": rows})
    return rows
