"""`/healthz`: database, Redis and worker status for the load balancer and monitoring."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "down", reported, never raised
        return f"error: {exc.__class__.__name__}"


def _redis() -> str:
    if not settings.REDIS_URL:
        return "not configured"
    try:
        import redis

        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
        return "ok"
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"


def _worker(redis_status: str) -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    if redis_status.startswith("error"):
        # No broker, no answer: asking would only wait out connection retries.
        return "unknown: broker unreachable"
    from config.celery import app

    try:
        replies = app.control.ping(timeout=0.5)
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"
    return "ok" if replies else "no worker"


def healthz(request):
    redis_status = _redis()
    checks = {"database": _database(), "redis": redis_status, "worker": _worker(redis_status)}
    # 503 when this instance cannot serve (database) or queue work (Redis); a missing worker is
    # reported for monitoring but does not take the web tier out of the load balancer.
    healthy = checks["database"] == "ok" and not checks["redis"].startswith("error")
    return JsonResponse({"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503)
