"""A full report recompute over 100,000 cases in PostgreSQL, load included, against R survival on the same data.

Goal: at most 10 s on the 2-core reference machine for the whole recompute, and no slower than R computing the
same statistics on the exported analysis dataset in the same run: our whole recompute (load from PostgreSQL,
statistics, figures, save) against R's whole run (start-up, CSV read, statistics), and our statistics against
R's alone. Prints ours, R's and both ratios.
"""

import json
import re
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from analytics import services
from analytics.dataset import load_analysis_data, load_dataset, write_csv
from analytics.models import ReportStatus
from analytics.report import build_report
from cases import models as m

SIZE = 100_000
BUDGET_SECONDS = 10
ROUNDS = 3
R_SCRIPT = Path(__file__).with_name("report_statistics.R")


@pytest.mark.django_db(transaction=True)
def test_recompute_100k_cases_within_budget_and_against_r(tmp_path):
    if connection.vendor != "postgresql":
        pytest.fail("The recompute benchmark measures PostgreSQL: set DATABASE_URL.")
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.fail("The recompute benchmark compares with R: install r-base-core and r-cran-survival.")
    if m.Case.objects.filter(indication="LBCL").count() != SIZE:
        call_command("seed_demo", "--reset", "--size", str(SIZE), "--seed", "1", stdout=open("/dev/null", "w"))  # noqa: SIM115
    with connection.cursor() as cursor:
        # A registry in service has planner statistics (autovacuum); a bulk load just now has none yet.
        cursor.execute("ANALYZE")
    csv_path = tmp_path / "analysis.csv"
    write_csv(load_dataset(), csv_path)
    runs = {"ours": [], "load": [], "statistics": [], "r": [], "r_statistics": []}
    # Interleaved rounds, medians compared: a shared machine's noise hits both sides alike.
    for _ in range(ROUNDS):
        snapshot, _ = services.request_recompute(actor=None, filters={}, queue=False)
        started = time.perf_counter()
        snapshot = services.run_recompute(snapshot.pk)
        runs["ours"].append(time.perf_counter() - started)
        assert snapshot.status == ReportStatus.COMPLETE, snapshot.error
        assert snapshot.n_cases == SIZE

        started = time.perf_counter()
        data = load_analysis_data()
        runs["load"].append(time.perf_counter() - started)
        started = time.perf_counter()
        build_report(data)
        runs["statistics"].append(time.perf_counter() - started)

        started = time.perf_counter()
        done = subprocess.run([rscript, str(R_SCRIPT), str(csv_path), str(tmp_path / "r.json")], capture_output=True,
                              text=True, check=False, timeout=900)
        runs["r"].append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr
        runs["r_statistics"].append(float(re.search(r"R_SECONDS ([0-9.]+)", done.stdout).group(1)))
    r_json = json.loads((tmp_path / "r.json").read_text())
    # Same data, same numbers: a spot check that R computed what the report did.
    ours_lr = {r["endpoint"]: r["chisq"] for r in snapshot.report["logrank"]}
    assert abs(r_json["logrank"]["os"] - ours_lr["os"]) <= 1e-6 * max(1, ours_lr["os"])
    median = {name: statistics.median(values) for name, values in runs.items()}
    print(f"\nrecompute of {SIZE} cases, median of {ROUNDS} interleaved rounds "
          f"(each: {', '.join(f'{name} ' + '/'.join(f'{v:.2f}' for v in values) for name, values in runs.items())})")
    print(f"ours (load from PostgreSQL + statistics + figures + save): {median['ours']:.2f} s "
          f"(load {median['load']:.2f} s, statistics {median['statistics']:.2f} s)")
    print(f"R survival/stats on the exported dataset: {median['r']:.2f} s (start-up and CSV read included; "
          f"statistics alone {median['r_statistics']:.2f} s)")
    print(f"ratio ours / R: {median['ours'] / median['r']:.2f}; "
          f"statistics alone: {median['statistics'] / median['r_statistics']:.2f}")
    assert median["ours"] <= BUDGET_SECONDS
    assert median["ours"] <= median["r"]
    # The same statistics on the same cases: our report sections (which also hold the apheresis labs R skips)
    # against R's.
    assert median["statistics"] <= median["r_statistics"]
