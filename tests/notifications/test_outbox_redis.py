"""The outbox against a real Redis broker that goes away and comes back.

Starts its own ``redis-server`` on a free port (the shared one on 6379 is never touched), runs
Celery non-eager against it, stops it, works (submission, vote, decision letter), starts it again
on the same port and lets a real worker deliver. Skips when redis-server is not installed, unless
REQUIRE_REDIS_SERVER=1 (CI), where it fails instead.
"""

import logging
import socket
import time
from collections import Counter

import pytest
from django.core import mail

from notifications.models import Channel, Notification, OutboxMessage, OutboxStatus
from panel.communication import decision_communicate
from tests.faults.procs import RedisServer, wait_until
from tests.panel.ops_fixtures import PHARMACIST, PHYSICIAN, full_panel, submitted, vote


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
def redis_server():
    server = RedisServer(require="REQUIRE_REDIS_SERVER").start()
    yield server
    server.kill()


@pytest.fixture
def celery_on(redis_server):
    """The project's Celery app, non-eager, publishing to our own Redis."""
    from config.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager", "task_publish_retry_policy",
                                            "broker_connection_timeout", "result_backend")}

    def reset_pools():
        app._pool = None
        app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)

    app.conf.update(broker_url=f"redis://127.0.0.1:{redis_server.port}/0", task_always_eager=False,
                    broker_connection_timeout=1, result_backend=None,
                    task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.1,
                                               "interval_max": 0.2})
    reset_pools()
    yield app
    app.conf.update(saved)
    reset_pools()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_work_succeeds_with_redis_down_and_every_message_is_delivered_once_when_back(
        reference_data, redis_server, celery_on, centre_a, personas, settings, tmp_path, caplog):
    from celery.contrib.testing.worker import start_worker

    from notifications.tasks import flush_outbox

    settings.MEDIA_ROOT = tmp_path / "private"
    panel = full_panel()
    personas["centre_a"].email = "centre.a@example.org"
    personas["centre_a"].save(update_fields=["email"])
    redis_server.kill()
    assert not _ping(redis_server.port)

    with caplog.at_level(logging.WARNING, logger="notifications.services"):
        application = submitted(centre_a, personas["centre_a"])
        for member in panel[PHYSICIAN][:3] + panel[PHARMACIST][:1]:
            vote(application, member, "approve")
        decision_communicate(application_id=application.pk, user=personas["ops"],
                             recipients="lead@ctra.example.org, centre.a@example.org")

    application.refresh_from_db()
    assert application.status == "communicated"
    pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
    assert pending.filter(idempotency_key__startswith=f"application:{application.pk}:communicated").count() == 3
    assert pending.count() == OutboxMessage.objects.count()
    assert not Notification.objects.exists() and mail.outbox == []
    assert "Broker unavailable" in caplog.text

    redis_server.start()
    with start_worker(celery_on, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        flush_outbox.delay()
        wait_until(lambda: not OutboxMessage.objects.filter(status=OutboxStatus.PENDING).exists(),
                   what="every pending message delivered")
        # A second sweep, and a late delivery request for the same messages, deliver nothing again.
        flush_outbox.delay()
        ids = list(OutboxMessage.objects.values_list("id", flat=True))
        from notifications.tasks import deliver_outbox

        deliver_outbox.delay(ids)
        time.sleep(1.5)
    assert flush_outbox() == 0

    messages = OutboxMessage.objects.all()
    assert all(message.status == OutboxStatus.SENT for message in messages)
    in_app = messages.filter(channel=Channel.IN_APP)
    assert Notification.objects.count() == in_app.count() > 0
    assert set(Notification.objects.values_list("outbox_id", flat=True)) == set(in_app.values_list("id", flat=True))
    emails = Counter((message.to[0], message.subject) for message in mail.outbox)
    assert len(mail.outbox) == messages.filter(channel=Channel.EMAIL).count()
    assert max(emails.values()) == 1
    letters = [message for message in mail.outbox if message.attachments]
    assert sorted(message.to[0] for message in letters) == ["centre.a@example.org", "lead@ctra.example.org"]
