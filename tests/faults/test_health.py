"""/healthz against real processes: database, Redis and Celery worker status."""

import httpx
import pytest

from tests.faults.procs import CeleryWorker, Gunicorn, postgres_test_database_url, service_env, wait_until


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_health_reports_the_worker_coming_and_going(redis_server, tmp_path):
    env = service_env(postgres_test_database_url(), redis_server.url)
    server = Gunicorn(env, workers=1, log=tmp_path / "gunicorn.log").start()
    worker = None
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            body = http.get("/healthz").json()
            assert body == {"status": "ok", "database": "ok", "redis": "ok", "worker": "no worker"}
            worker = CeleryWorker(env, log=tmp_path / "worker.log").start()
            wait_until(lambda: http.get("/healthz").json()["worker"] == "ok", timeout=60, what="the worker")
            response = http.get("/healthz")
            assert response.status_code == 200 and response.json()["status"] == "ok"
            worker.kill()
            wait_until(lambda: http.get("/healthz").json()["worker"] == "no worker", timeout=30, what="worker gone")
            # A missing worker is reported but keeps the web instance in service.
            assert http.get("/healthz").status_code == 200
    finally:
        if worker:
            worker.kill()
        server.stop()
