#!/usr/bin/env python
"""Back up and restore the database and the private media files.

    python scripts/backup.py backup [--dir backups]          -> backups/<UTC timestamp>/
    python scripts/backup.py restore backups/<timestamp>     (replaces the current data)

PostgreSQL (DATABASE_URL=postgres://...): pg_dump custom format (`db.dump`), restored with
pg_restore --clean into the configured database. SQLite (the embedded default): an online copy with
SQLite's backup API (`db.sqlite3`). Private media (MEDIA_ROOT: certificates, letters) go into
`media.tar.gz`. `manifest.json` records what was saved, with the row count of every table, and
restore checks the counts after loading.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def _settings():
    import django
    from django.conf import settings

    django.setup()
    return settings.DATABASES["default"], Path(settings.MEDIA_ROOT)


def _pg_args(db: dict) -> tuple[list[str], dict]:
    args = ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432), "-U", db.get("USER") or "postgres"]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return args, env


def row_counts() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        tables = sorted(connection.introspection.table_names(cursor))
        counts = {}
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


def backup(directory: Path) -> Path:
    db, media = _settings()
    target = directory / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target.mkdir(parents=True, exist_ok=False)
    engine = "postgresql" if "postgresql" in db["ENGINE"] else "sqlite" if "sqlite" in db["ENGINE"] else db["ENGINE"]
    if engine == "postgresql":
        args, env = _pg_args(db)
        subprocess.run(["pg_dump", "-Fc", "--no-owner", "--no-privileges", *args, "-f", str(target / "db.dump"),
                        db["NAME"]], env=env, check=True)
    elif engine == "sqlite":
        source = sqlite3.connect(db["NAME"])
        copy = sqlite3.connect(target / "db.sqlite3")
        with copy:
            source.backup(copy)  # consistent even while the app writes
        copy.close()
        source.close()
    else:
        raise SystemExit(f"Unsupported database engine {db['ENGINE']}")
    with tarfile.open(target / "media.tar.gz", "w:gz") as archive:
        if media.exists():
            archive.add(media, arcname="media")
    manifest = {"created_at": datetime.now(UTC).isoformat(), "engine": engine, "database": Path(str(db["NAME"])).name,
                "media_root": str(media), "row_counts": row_counts()}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"Backup written to {target} ({sum(manifest['row_counts'].values())} rows in "
          f"{len(manifest['row_counts'])} tables)")
    return target


def restore(source: Path) -> None:
    db, media = _settings()
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    engine = "postgresql" if "postgresql" in db["ENGINE"] else "sqlite"
    if manifest["engine"] != engine:
        raise SystemExit(f"The backup is of a {manifest['engine']} database; DATABASE_URL is {engine}")
    from django.db import connection

    connection.close()
    if engine == "postgresql":
        args, env = _pg_args(db)
        subprocess.run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                        "--exit-on-error", *args, "-d", db["NAME"], str(source / "db.dump")], env=env, check=True)
    else:
        copy = sqlite3.connect(source / "db.sqlite3")
        live = sqlite3.connect(db["NAME"])
        with live:
            copy.backup(live)
        live.close()
        copy.close()
    if media.exists():
        shutil.rmtree(media)
    with tarfile.open(source / "media.tar.gz", "r:gz") as archive:
        media.parent.mkdir(parents=True, exist_ok=True)
        staging = media.parent / f".restore-{media.name}"
        archive.extractall(staging, filter="data")
        if (staging / "media").exists():
            (staging / "media").rename(media)
        shutil.rmtree(staging, ignore_errors=True)
    counts = row_counts()
    missing = {t: (n, counts.get(t)) for t, n in manifest["row_counts"].items() if counts.get(t) != n}
    if missing:
        raise SystemExit(f"Restored row counts differ from the backup: {missing}")
    print(f"Restored {source} into {db['NAME']}: {sum(counts.values())} rows in {len(counts)} tables, as backed up")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("backup")
    make.add_argument("--dir", type=Path, default=ROOT / "backups")
    load = sub.add_parser("restore")
    load.add_argument("path", type=Path)
    options = parser.parse_args(argv)
    if options.command == "backup":
        backup(options.dir)
    else:
        restore(options.path)


if __name__ == "__main__":
    main()
