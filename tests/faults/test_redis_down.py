"""Redis stopped: pages and the API keep working, /healthz says Redis is down, and recovers."""

import httpx
import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from tests.faults.procs import Gunicorn, postgres_test_database_url, service_env, wait_until

PAGES = ["/", "/cases/", "/panel/applications/", "/analytics/", "/audit/"]


@pytest.fixture
def redis_cache(settings, redis_server, monkeypatch):
    """The production cache configuration, pointed at our own redis-server, with real throttles."""
    from rest_framework.throttling import SimpleRateThrottle

    settings.REDIS_URL = redis_server.url
    settings.CACHES = {"default": {"BACKEND": "config.cache.ResilientRedisCache", "LOCATION": redis_server.url,
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    return redis_server


@pytest.mark.django_db
def test_pages_api_and_cache_survive_a_redis_outage(client, personas, redis_cache):
    token = Token.objects.create(user=personas["ops"])
    api = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    client.force_login(personas["centre_a"])
    before = {url: client.get(url).status_code for url in PAGES}
    assert before["/"] == before["/cases/"] == 200
    cache.set("probe", "up")
    assert cache.get("probe") == "up"
    assert client.get("/healthz").json()["redis"] == "ok"

    redis_cache.kill()
    assert {url: client.get(url).status_code for url in PAGES} == before
    # Throttled API calls keep their counters in the cache: they still answer while it is away.
    for _ in range(3):
        assert client.get("/api/v1/applications/", **api).status_code == 200
    assert cache.get("probe") is None
    cache.set("probe", "down")  # silently dropped, never raised
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json()["redis"].startswith("error") and health.json()["database"] == "ok"

    redis_cache.start()
    wait_until(lambda: client.get("/healthz").status_code == 200, timeout=10, what="healthz after Redis restart")
    assert client.get("/healthz").json()["redis"] == "ok"
    # After the retry pause the cache is used again.
    wait_until(lambda: cache.set("probe", "back") or cache.get("probe") == "back", timeout=10, what="cache")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_running_server_serves_through_a_redis_outage_and_health_says_so(personas, redis_server, api_token,
                                                                           tmp_path):
    server = Gunicorn(service_env(postgres_test_database_url(), redis_server.url), workers=2,
                      log=tmp_path / "gunicorn.log").start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/healthz").json()["redis"] == "ok"
            assert http.get("/api/v1/applications/", headers=api_token).status_code == 200
            redis_server.kill()
            for _ in range(4):  # both workers
                assert http.get("/api/v1/applications/", headers=api_token).status_code == 200
                assert http.get("/accounts/login/").status_code == 200
            health = http.get("/healthz")
            assert health.status_code == 503
            assert health.json()["redis"].startswith("error")
            assert health.json()["worker"] == "unknown: broker unreachable"
            redis_server.start()
            wait_until(lambda: http.get("/healthz").status_code == 200, timeout=15, what="recovery")
    finally:
        server.stop()
