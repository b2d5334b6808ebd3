"""PostgreSQL restarted under a running server: the next request reconnects, no restart needed."""

import httpx
import pytest
from django.db import connection

from tests.faults.procs import Gunicorn, TcpProxy, postgres_test_database_url, service_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _terminate_server_connections():
    """What a database restart does to the app: every one of its connections is cut."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def test_persistent_connections_cut_by_the_database_are_replaced(api_token, tmp_path):
    # CONN_MAX_AGE keeps connections between requests: the worst case for a restart.
    env = service_env(postgres_test_database_url(), CONN_MAX_AGE=600)
    server = Gunicorn(env, workers=2, log=tmp_path / "gunicorn.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for _ in range(6):
                assert http.get("/api/v1/applications/", headers=api_token).status_code == 200
            assert _terminate_server_connections() >= 1
            statuses = [http.get("/api/v1/applications/", headers=api_token).status_code for _ in range(6)]
            assert statuses == [200] * 6
            assert http.get("/healthz").json()["database"] == "ok"
    finally:
        server.stop()


def test_a_database_outage_is_reported_and_service_resumes_when_it_is_back(api_token, tmp_path):
    params = connection.settings_dict
    postgres_test_database_url()
    proxy = TcpProxy(int(params["PORT"] or 5432)).start()
    url = postgres_test_database_url().replace(f":{params['PORT'] or 5432}/", f":{proxy.port}/")
    server = Gunicorn(service_env(url, CONN_MAX_AGE=600), workers=2, log=tmp_path / "gunicorn.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/api/v1/applications/", headers=api_token).status_code == 200
            proxy.stop()  # the database goes down: connections cut, new ones refused
            health = http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["database"].startswith("error")
            proxy.start()  # back on the same address
            wait_until(lambda: http.get("/healthz").status_code == 200, timeout=15, what="database back")
            statuses = [http.get("/api/v1/applications/", headers=api_token).status_code for _ in range(6)]
            assert statuses == [200] * 6
    finally:
        server.stop()
        proxy.stop()
