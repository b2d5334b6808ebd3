"""python manage.py recompute_reports [--sync] [--json PATH] [--all-cases] [--product P] [--indication I] ..."""

import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.report import report_from_db


class Command(BaseCommand):
    help = ("Build the cohort report (the paper's cohort by default) and, with --json, write the report JSON "
            "of CONTRACT.md to PATH.")

    def add_arguments(self, parser):
        parser.add_argument("--sync", action="store_true", help="build in this process instead of through Celery")
        parser.add_argument("--json", type=Path, dest="json_path", help="also write the report JSON here")
        parser.add_argument("--all-cases", action="store_true", help="every case, not only the paper's cohort")
        parser.add_argument("--product", help="product code, e.g. axi-cel")
        parser.add_argument("--indication", help="e.g. LBCL")
        parser.add_argument("--era", type=int, choices=(1, 2))
        parser.add_argument("--centre", help="centre code")

    def handle(self, *args, sync, json_path, all_cases, product, indication, era, centre, **options):
        if not sync:
            # No report snapshot or Celery task exists yet, so the report is always built here.
            self.stdout.write("Building the report synchronously (no background recompute is available yet).")
        started = time.perf_counter()
        try:
            report = report_from_db(paper_cohort=not all_cases, product=product, indication=indication, era=era,
                                    centre=centre)
        except (ValueError, ArithmeticError, DatabaseError) as error:
            raise CommandError(f"The report could not be built: {error}") from error
        if json_path is not None:
            try:
                json_path.write_text(json.dumps(report, indent=2, allow_nan=False), encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot write {json_path}: {error.strerror or error}") from error
        elapsed = time.perf_counter() - started
        where = f", written to {json_path}" if json_path else ""
        self.stdout.write(f"Report built over {report['n_cases']} case(s) in {elapsed:.2f} s{where}.")
