"""Fast bulk writes for seeding: rows as tuples, ids chosen up front, COPY on PostgreSQL.

Seeding 100,000 cases writes well over a million rows; building a model instance per row and
going through ``bulk_create`` costs most of the time budget, so the seeder writes plain tuples.
The rows skip ``save()`` and its signals on purpose: django-simple-history records later changes
to the seeded data, and the one ``cases.registry.seeded`` audit event records the load itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection, models

BATCH_SIZE = 5000
_ID_BLOCK = 10_000


class IdAllocator:
    """Hands out primary keys for one table before its rows are written.

    PostgreSQL: blocks of ``nextval`` from the table's own sequence, so ids never collide with
    rows other sessions insert meanwhile. Other databases (SQLite, a single writer): counting on
    from the highest id in the table.
    """

    def __init__(self, model: type[models.Model]):
        self.table = model._meta.db_table
        self._free: list[int] = []
        self._next: int | None = None

    def __call__(self) -> int:
        if connection.vendor == "postgresql":
            if not self._free:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                                   [self.table, _ID_BLOCK])
                    self._free = [row[0] for row in cursor.fetchall()][::-1]
            return self._free.pop()
        if self._next is None:
            with connection.cursor() as cursor:
                cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{self.table}"')  # noqa: S608 - own table name
                self._next = cursor.fetchone()[0] + 1
        value, self._next = self._next, self._next + 1
        return value


class TableWriter:
    """Buffers rows for one model's table and flushes them in batches."""

    def __init__(self, model: type[models.Model], fields: Sequence[str]):
        self.model = model
        self.fields = [model._meta.get_field(name) for name in fields]
        self.columns = [f.column for f in self.fields]
        self.table = model._meta.db_table
        self.rows: list[tuple] = []
        self.count = 0
        self.next_id = IdAllocator(model) if fields[0] == "id" else None

    def add(self, row: tuple) -> None:
        self.rows.append(row)
        if len(self.rows) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        quoted = ", ".join(f'"{c}"' for c in self.columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f'COPY "{self.table}" ({quoted}) FROM STDIN') as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(f'INSERT INTO "{self.table}" ({quoted}) VALUES ({placeholders})',
                                   [tuple(_portable(v) for v in row) for row in self.rows])
        self.count += len(self.rows)
        self.rows = []


def _portable(value):
    # sqlite3's own date adapters are deprecated; store dates the way Django does (ISO text).
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class BulkForeignKeys:
    """On PostgreSQL, check the foreign keys of freshly loaded tables once, at the end of the load.

    Row-by-row foreign-key triggers cost as much as the load itself at a million rows; dropping
    the constraints and adding them back validates every row with one join per constraint. All
    inside the caller's transaction, so a failure leaves the constraints as they were.
    """

    def __init__(self, models_: Sequence[type[models.Model]]):
        self.tables = [model._meta.db_table for model in models_]
        self.constraints: list[tuple[str, str, str]] = []

    def __enter__(self):
        if connection.vendor != "postgresql":
            return self
        with connection.cursor() as cursor:
            # ALTER TABLE refuses tables with deferred checks still queued: run those first.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)", [self.tables])
            self.constraints = cursor.fetchall()
            for table, name, _ in self.constraints:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self.constraints:
            return False
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table, name, definition in self.constraints:
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        return False
