"""A test-only, idempotent Celery task for the worker-kill test (loaded with `celery --include`)."""

import os
import time

from celery import shared_task
from django.db import connection

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS fault_task_runs (id serial PRIMARY KEY, key text NOT NULL, pid int NOT NULL);
CREATE TABLE IF NOT EXISTS fault_task_done (key text PRIMARY KEY, runs int NOT NULL);
"""


@shared_task(name="tests.faults.tasks.record_run", acks_late=True, reject_on_worker_lost=True)
def record_run(key: str, hold_seconds: float):
    """Record each start; the first start holds (to be killed); completion is written once."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO fault_task_runs (key, pid) VALUES (%s, %s)", [key, os.getpid()])
        cursor.execute("SELECT count(*) FROM fault_task_runs WHERE key = %s", [key])
        runs = cursor.fetchone()[0]
    if runs == 1:
        time.sleep(hold_seconds)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO fault_task_done (key, runs) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                       [key, runs])
    return runs
