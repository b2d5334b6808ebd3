"""python manage.py export_analysis PATH.csv [--paper-cohort] [--product P] [--indication I] [--era 1|2] [--centre C]"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.dataset import load_dataset, write_csv


class Command(BaseCommand):
    help = "Write the analysis dataset (CONTRACT.md: one row per case, every case of the registry by default)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="CSV file to write")
        parser.add_argument("--paper-cohort", action="store_true", help="only the paper's cohort")
        parser.add_argument("--product", help="product code, e.g. axi-cel")
        parser.add_argument("--indication", help="e.g. LBCL")
        parser.add_argument("--era", type=int, choices=(1, 2))
        parser.add_argument("--centre", help="centre code")

    def handle(self, *args, path, paper_cohort, product, indication, era, centre, **options):
        try:
            frame = load_dataset(paper_cohort=paper_cohort, product=product, indication=indication, era=era,
                                 centre=centre)
            rows = write_csv(frame, path)
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror or error}") from error
        except DatabaseError as error:
            raise CommandError(f"The registry could not be read: {error}") from error
        self.stdout.write(f"Wrote {rows} case(s) to {path}.")
