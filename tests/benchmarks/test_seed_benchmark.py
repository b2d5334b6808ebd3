"""Seeding 100,000 LBCL cases into PostgreSQL takes at most 60 seconds on the 2-core reference machine."""

import time

import pytest
from django.core.management import call_command
from django.db import connection

from cases import models as m

SIZE = 100_000
BUDGET_SECONDS = 60


@pytest.mark.django_db(transaction=True)
def test_seed_100k_cases_within_budget():
    if connection.vendor != "postgresql":
        pytest.fail("The seeding benchmark measures PostgreSQL: set DATABASE_URL.")
    started = time.perf_counter()
    call_command("seed_demo", "--reset", "--size", str(SIZE), "--seed", "1", stdout=open("/dev/null", "w"))  # noqa: SIM115
    elapsed = time.perf_counter() - started
    print(f"\nseed_demo --size {SIZE}: {elapsed:.1f} s ({m.Case.objects.count()} cases, "
          f"{m.ReleaseResult.objects.count()} release results)")
    assert m.Case.objects.filter(indication="LBCL", product__code__in=["axi-cel", "tisa-cel"]).count() == SIZE
    assert elapsed <= BUDGET_SECONDS
