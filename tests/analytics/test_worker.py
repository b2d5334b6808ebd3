"""Recompute through a real Celery worker process against PostgreSQL and Redis, and survive its death.

Skipped without PostgreSQL (DATABASE_URL) or Redis; CI sets REQUIRE_CELERY=1 so they fail there instead.
The worker uses its own Redis database (ANALYTICS_WORKER_REDIS_URL, default db 4) and the test database.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.roles import Role
from analytics import services
from analytics.models import CohortReport, ReportStatus
from tests.factories import UserFactory
from tests.faults.procs import need

BASE = Path(settings.BASE_DIR)
WORKER_REDIS = os.environ.get("ANALYTICS_WORKER_REDIS_URL", "redis://127.0.0.1:6379/4")
CELERY = str(Path(sys.executable).with_name("celery"))
# One queue per test process, so parallel test runs never take each other's tasks.
QUEUE = f"analytics-test-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def _unavailable(reason):
    need(False, reason, require="REQUIRE_CELERY")


@pytest.fixture
def services_up():
    if connection.vendor != "postgresql":
        _unavailable("the database is not PostgreSQL (set DATABASE_URL)")
    try:
        import redis

        client = redis.Redis.from_url(WORKER_REDIS, socket_connect_timeout=2)
        client.ping()
    except Exception as error:  # noqa: BLE001 - any failure means no broker
        _unavailable(f"Redis at {WORKER_REDIS} is not reachable ({error})")
    client.delete(QUEUE)  # no stale task from an earlier run
    return client


def _env(**extra):
    db = connection.settings_dict
    url = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    env = {**os.environ, "DATABASE_URL": urlunsplit((url.scheme, url.netloc, "/" + db["NAME"], "", "")),
           "REDIS_URL": WORKER_REDIS, "CELERY_BROKER_URL": WORKER_REDIS, "CELERY_RESULT_BACKEND": WORKER_REDIS,
           "CELERY_TASK_ALWAYS_EAGER": "0", "ANALYTICS_TASK_QUEUE": QUEUE, "DJANGO_SETTINGS_MODULE": "config.settings",
           **extra}
    return env


def _start_worker(tmp_path, **extra):
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [CELERY, "-A", "config", "worker", "--pool=solo", "-Q", QUEUE, "-l", "info",
         "-n", f"analytics-test-{os.getpid()}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=BASE, env=_env(**extra), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return process


def _stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _manage(*args, timeout=180):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE, env=_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def _previous_report():
    call_command("seed_demo", "--size", "200", "--seed", "3", stdout=open(os.devnull, "w"))  # noqa: SIM115
    snapshot, _ = services.request_recompute(actor=None, filters={}, queue=False)
    return services.run_recompute(snapshot.pk)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_recompute_reports_through_a_real_worker(services_up, reference_data, tmp_path):
    previous = _previous_report()
    worker = _start_worker(tmp_path)
    try:
        path = tmp_path / "report.json"
        done = _manage("recompute_reports", "--json", str(path), "--timeout", "150")
    finally:
        _stop(worker)
    assert done.returncode == 0, done.stdout + done.stderr + (tmp_path / "worker.log").read_text()
    new = CohortReport.objects.get(is_current=True, filter_key="")
    previous.refresh_from_db()
    assert new.pk != previous.pk and not previous.is_current
    assert new.status == ReportStatus.COMPLETE and new.trigger == "command" and new.task_id
    assert json.loads(path.read_text(encoding="utf-8"))["generated_at"] == new.report["generated_at"]
    assert "analytics.tasks.recompute_report" in (tmp_path / "worker.log").read_text()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_worker_killed_mid_run_leaves_the_previous_report_served(services_up, reference_data, tmp_path):
    previous = _previous_report()
    worker = _start_worker(tmp_path, ANALYTICS_STAGE_PAUSE_SECONDS="1.5")
    try:
        queued = _manage("recompute_reports", "--no-wait")
        assert queued.returncode == 0, queued.stdout + queued.stderr
        snapshot_id = int(queued.stdout.strip().split()[-1].rstrip("."))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            progress = CohortReport.objects.values_list("progress", flat=True).get(pk=snapshot_id)
            if progress >= 20:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the worker never got going:\n" + (tmp_path / "worker.log").read_text())
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        _stop(worker)
    half = CohortReport.objects.get(pk=snapshot_id)
    assert half.status == ReportStatus.RUNNING and not half.is_current and half.report is None
    assert 20 <= half.progress < 100
    assert list(CohortReport.objects.filter(is_current=True).values_list("pk", flat=True)) == [previous.pk]
    api = APIClient()
    api.force_authenticate(UserFactory(username="worker-test-analyst", role=Role.ANALYST))
    served = api.get("/api/v1/reports/latest/")
    assert served.status_code == 200 and served.json()["generated_at"] == previous.report["generated_at"]
    # The killed worker's connection (and with it the advisory lock) is gone: the run is marked failed.
    deadline = time.monotonic() + 20
    while services.fail_orphans() == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    half.refresh_from_db()
    assert half.status == ReportStatus.FAILED and "Interrupted" in half.error and not half.is_current
