"""A Celery worker killed in the middle of a task: the task is delivered again and completes once."""

import os
import signal
import uuid

import pytest
from celery import Celery
from django.db import connection

from tests.faults.procs import CeleryWorker, postgres_test_database_url, service_env, wait_until
from tests.faults.tasks import TABLE_DDL

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def task_tables():
    postgres_test_database_url()
    with connection.cursor() as cursor:
        cursor.execute(TABLE_DDL)
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS fault_task_runs, fault_task_done")


def _runs(key):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM fault_task_runs WHERE key = %s ORDER BY id", [key])
        return [row[0] for row in cursor.fetchall()]


def _done(key):
    with connection.cursor() as cursor:
        cursor.execute("SELECT runs FROM fault_task_done WHERE key = %s", [key])
        return [row[0] for row in cursor.fetchall()]


def _send(redis_url, key, hold):
    sender = Celery("faults", broker=redis_url)
    try:
        sender.send_task("tests.faults.tasks.record_run", args=[key, hold])
    finally:
        sender.close()


def _worker(redis_url, tmp_path, name, **env):
    environment = service_env(postgres_test_database_url(), redis_url, **env)
    return CeleryWorker(environment, include="tests.faults.tasks", log=tmp_path / f"{name}.log").start()


def test_the_pool_process_killed_mid_task_is_redelivered(redis_server, task_tables, tmp_path):
    worker = _worker(redis_server.url, tmp_path, "worker")
    try:
        key = uuid.uuid4().hex
        _send(redis_server.url, key, hold=60)
        wait_until(lambda: len(_runs(key)) == 1, timeout=60, what="the task to start")
        first_pid = _runs(key)[0]
        assert first_pid in worker.pool_children()
        os.kill(first_pid, signal.SIGKILL)  # the process running the task dies, unacknowledged
        wait_until(lambda: _done(key), timeout=60, what="the redelivered task to complete")
        runs = _runs(key)
        assert len(runs) == 2 and runs[1] != first_pid
        assert _done(key) == [2]  # completed exactly once, by the second delivery
    finally:
        worker.stop()


def test_the_whole_worker_killed_mid_task_is_redelivered_to_the_next_worker(redis_server, task_tables, tmp_path):
    # Redis redelivers a message nobody acknowledged after the visibility timeout (1 h in
    # production, CELERY_VISIBILITY_TIMEOUT; a few seconds here).
    first = _worker(redis_server.url, tmp_path, "first", CELERY_VISIBILITY_TIMEOUT=3, CELERY_RESTORE_INTERVAL=1,
                     CELERY_RESTORE_THROTTLE=1)
    key = uuid.uuid4().hex
    try:
        _send(redis_server.url, key, hold=120)
        wait_until(lambda: len(_runs(key)) == 1, timeout=60, what="the task to start")
    finally:
        first.kill()
    for pid in _runs(key):
        try:
            os.kill(pid, signal.SIGKILL)  # the orphaned pool process, if it outlived its parent
        except ProcessLookupError:
            pass
    assert not _done(key)
    second = _worker(redis_server.url, tmp_path, "second", CELERY_VISIBILITY_TIMEOUT=3, CELERY_RESTORE_INTERVAL=1,
                     CELERY_RESTORE_THROTTLE=1)
    try:
        wait_until(lambda: _done(key), timeout=90, what="the next worker to complete the task")
        assert len(_runs(key)) == 2
        assert _done(key) == [2]
    finally:
        second.stop()
