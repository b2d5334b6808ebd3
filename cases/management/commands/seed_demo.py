"""python manage.py seed_demo [--seed S] [--size N] [--reset] [--if-empty] [--logins-json PATH]"""

import json
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cases.demo import demo_logins, registry_is_empty, registry_reset, registry_seed
from cases.demo.design import DEFAULT_SIZE
from cases.demo.panel import demo_mail_kept_quiet, panel_reset, panel_seed
from cases.errors import DomainError


class Command(BaseCommand):
    help = ("Load the demo registry shaped like the UK OOS CAR-T panel paper (981 LBCL cases by default, "
            "plus a few dozen of other products) and the demo accounts.")

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2025, help="random seed (same seed and size, same data)")
        parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="number of LBCL cases (default 981)")
        parser.add_argument("--reset", action="store_true", help="empty the registry first")
        parser.add_argument("--if-empty", action="store_true", help="do nothing when the registry holds cases")
        parser.add_argument("--logins-json", type=Path, help="write the demo accounts to this JSON file")

    def handle(self, *args, seed, size, reset, if_empty, logins_json, **options):
        if if_empty and not reset and not registry_is_empty():
            self.stdout.write("The registry already holds cases; nothing loaded (--if-empty).")
            self._print_logins(demo_logins())
            return
        started = time.perf_counter()
        try:
            # Reset and load in one transaction: a failed load leaves the old registry in place.
            # The panel's demo e-mails are delivered (and counted) but not printed.
            with demo_mail_kept_quiet(), transaction.atomic():
                if reset:
                    registry_reset()
                    panel_reset()
                counts = registry_seed(seed=seed, size=size)
                panel = panel_seed(seed=seed)
        except DomainError as error:
            raise CommandError(error.message) from error
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(
            f"Demo registry loaded in {elapsed:.1f} s (seed {seed}): {counts['cases_case']} cases "
            f"({counts['lbcl_paper_cohort']} LBCL of the paper's cohort, {counts['other_cases']} others), "
            f"{counts['cases_manufacturingattempt']} manufacturing attempts, {counts['matched_pairs']} matched pairs."))
        states = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in sorted(panel["applications"].items()))
        self.stdout.write(f"Panel: {panel['members']} seats, {sum(panel['applications'].values())} OOS "
                          f"applications ({states or 'none'}).")
        logins = demo_logins()
        if logins_json:
            logins_json.write_text(json.dumps(logins, indent=2) + "\n", encoding="utf-8")
            self.stdout.write(f"Demo logins written to {logins_json}.")
        self._print_logins(logins)

    def _print_logins(self, logins):
        if not settings.DEMO_MODE or not logins:
            return
        self.stdout.write(f"Demo logins (password for all: {logins[0]['password']}):")
        for login in logins:
            self.stdout.write(f"  {login['username']:<14} {login['role']:<17} {login['centre'] or '-'}")
        self.stdout.write("Panel members, ops and admin then enter a code from an authenticator app: scan the QR "
                          "code shown at first login, or run `.venv/bin/python manage.py demo_totp physician1` "
                          "for the code valid now.")
