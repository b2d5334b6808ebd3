"""python manage.py recompute_reports [--sync] [--json PATH] [--all-cases] [--product P] [--indication I] ..."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics import services
from analytics.models import CohortReport, ReportStatus, ReportTrigger
from cases.errors import DomainError


class Command(BaseCommand):
    help = ("Build a new CohortReport snapshot (the paper's cohort by default) through the Celery worker, or in "
            "this process with --sync; with --json also write the report JSON of CONTRACT.md to PATH. "
            "Exit status is not 0 when the report could not be built.")

    def add_arguments(self, parser):
        parser.add_argument("--sync", action="store_true", help="build in this process instead of through Celery")
        parser.add_argument("--json", type=Path, dest="json_path", help="also write the report JSON here")
        parser.add_argument("--all-cases", action="store_true", help="every case, not only the paper's cohort")
        parser.add_argument("--product", help="product code, e.g. axi-cel")
        parser.add_argument("--indication", help="e.g. LBCL")
        parser.add_argument("--era", type=int, choices=(1, 2))
        parser.add_argument("--centre", help="centre code")
        parser.add_argument("--no-wait", action="store_true",
                            help="queue the recompute and exit at once (prints the snapshot id)")
        parser.add_argument("--timeout", type=float, default=1800,
                            help="seconds to wait for the worker (default 1800)")

    def handle(self, *args, sync, json_path, all_cases, product, indication, era, centre, no_wait, timeout,
               **options):
        if json_path is not None and not json_path.parent.is_dir():
            raise CommandError(f"Cannot write {json_path}: the folder {json_path.parent} does not exist.")
        filters = {"scope": "all" if all_cases else "paper", "product": product, "indication": indication,
                   "era": era, "centre": centre}
        started = time.perf_counter()
        try:
            snapshot, created = services.request_recompute(actor=None, filters=filters,
                                                           trigger=ReportTrigger.COMMAND, queue=not sync)
            if sync:
                if not created:
                    raise CommandError(f"Report {snapshot.pk} for these filters is already being computed.")
                snapshot = self._run(snapshot)
            elif no_wait:
                self.stdout.write(f"Queued report {snapshot.pk}.")
                return
            else:
                snapshot = self._wait(snapshot, timeout)
        except DomainError as error:
            raise CommandError(error.message) from error
        except DatabaseError as error:
            raise CommandError(f"The registry could not be read: {error}") from error
        if snapshot.status != ReportStatus.COMPLETE:
            raise CommandError(f"Report {snapshot.pk} failed: {snapshot.error}")
        if json_path is not None:
            try:
                json_path.write_text(json.dumps(snapshot.report, indent=2, allow_nan=False), encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot write {json_path}: {error.strerror or error}") from error
        elapsed = time.perf_counter() - started
        where = f", written to {json_path}" if json_path else ""
        self.stdout.write(f"Report {snapshot.pk} built over {snapshot.n_cases} case(s) in {elapsed:.2f} s{where}.")

    def _run(self, snapshot):
        try:
            return services.run_recompute(snapshot.pk)
        except Exception:  # noqa: BLE001 - the snapshot records the error; report it below
            return CohortReport.objects.get(pk=snapshot.pk)

    def _wait(self, snapshot, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            snapshot.refresh_from_db()
            if snapshot.is_finished:
                return snapshot
            if (snapshot.progress, snapshot.progress_message) != last:
                last = (snapshot.progress, snapshot.progress_message)
                self.stdout.write(f"  {snapshot.progress:3d}% {snapshot.progress_message}")
            if time.monotonic() > deadline:
                raise CommandError(f"Report {snapshot.pk} did not finish within {timeout:g} s; it may still be "
                                   "running (see the report page).")
            services.fail_orphans()
            time.sleep(0.5)
