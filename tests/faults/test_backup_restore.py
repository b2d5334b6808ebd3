"""`make backup` / `make restore`: a seeded registry restored into an empty database, every record found."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import environ
import pytest

from tests.faults.procs import ROOT, need

BACKUP = [sys.executable, str(ROOT / "scripts" / "backup.py")]


def _run(command, env, timeout=600):
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _env(database_url, media_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(DATABASE_URL=database_url, MEDIA_ROOT=str(media_root), REDIS_URL="", DEMO_MODE="1")
    return env


def _media(root: Path):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


def _put_media(root: Path):
    (root / "attachments" / "2026").mkdir(parents=True)
    (root / "attachments" / "2026" / "coa.pdf").write_bytes(b"%PDF-1.4 certificate of analysis\n" * 100)
    (root / "letters").mkdir()
    (root / "letters" / "decision-1.pdf").write_bytes(os.urandom(4096))


@pytest.fixture
def postgres_admin():
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    need(url.startswith(("postgres://", "postgresql://")), "the backup test needs DATABASE_URL=postgres://...")
    config = environ.Env.db_url_config(url)
    base = f"{config['NAME']}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    names = {"src": f"{base}_src", "restored": f"{base}_restored"}
    conninfo = dict(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, user=config["USER"],
                    password=config.get("PASSWORD") or None, dbname="postgres", autocommit=True)
    admin = psycopg.connect(**conninfo)

    def reset():
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')

    reset()
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    yield {key: f"postgres://{auth}@{conninfo['host']}:{conninfo['port']}/{name}" for key, name in names.items()}, \
        lambda key: psycopg.connect(**{**conninfo, "dbname": names[key], "autocommit": True})
    for name in names.values():
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _tables(conn):
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
    return [row[0] for row in rows]


def _sample(conn, table, limit=25):
    """The first rows in order of their whole text: a content check beyond the counts."""
    return conn.execute(f'SELECT t::text FROM "{table}" t ORDER BY 1 LIMIT {limit}').fetchall()


def test_a_postgresql_backup_restores_every_record_into_an_empty_database(postgres_admin, tmp_path):
    need(shutil.which("pg_dump") and shutil.which("pg_restore"), "pg_dump/pg_restore are not installed")
    urls, connect = postgres_admin
    media, restored_media = tmp_path / "media", tmp_path / "restored-media"
    _put_media(media)
    source_env = _env(urls["src"], media)
    _run([sys.executable, "manage.py", "migrate", "--noinput"], source_env)
    _run([sys.executable, "manage.py", "seed_demo", "--size", "120"], source_env)

    out = _run([*BACKUP, "backup", "--dir", str(tmp_path / "backups")], source_env)
    backup_dir = Path(out.split("Backup written to ", 1)[1].split(" (", 1)[0])
    assert {p.name for p in backup_dir.iterdir()} == {"db.dump", "media.tar.gz", "manifest.json"}
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["engine"] == "postgresql" and manifest["row_counts"]["cases_case"] > 100

    restored_env = _env(urls["restored"], restored_media)
    out = _run([*BACKUP, "restore", str(backup_dir)], restored_env)
    assert "as backed up" in out

    with connect("src") as source, connect("restored") as restored:
        tables = _tables(source)
        assert tables == _tables(restored) and len(tables) > 30
        for table in tables:
            count = source.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            assert restored.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == count, table
            assert _sample(restored, table) == _sample(source, table), table
        # Sequences continue after the restored rows: the next insert does not collide.
        assert restored.execute("SELECT last_value FROM cases_case_id_seq").fetchone()[0] == \
            source.execute("SELECT last_value FROM cases_case_id_seq").fetchone()[0]
        # The audit chain is intact after the restore.
        assert restored.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0] == \
            source.execute("SELECT count(*) FROM audit_auditevent").fetchone()[0]
    assert _media(restored_media) == _media(media)


def test_the_embedded_sqlite_database_is_backed_up_and_restored(tmp_path):
    import sqlite3

    database, media = tmp_path / "live.sqlite3", tmp_path / "media"
    _put_media(media)
    env = _env(f"sqlite:///{database}", media)
    _run([sys.executable, "manage.py", "migrate", "--noinput"], env)
    _run([sys.executable, "manage.py", "shell", "-c",
          "from tests.factories import CentreFactory; [CentreFactory() for _ in range(7)]"], env)
    before = sqlite3.connect(database).execute("SELECT code, name FROM cases_centre ORDER BY id").fetchall()
    files = _media(media)
    out = _run([*BACKUP, "backup", "--dir", str(tmp_path / "backups")], env)
    backup_dir = Path(out.split("Backup written to ", 1)[1].split(" (", 1)[0])
    # Lose the data, then restore it.
    database.unlink()
    shutil.rmtree(media)
    _run([*BACKUP, "restore", str(backup_dir)], env)
    assert sqlite3.connect(database).execute("SELECT code, name FROM cases_centre ORDER BY id").fetchall() == before
    assert len(before) == 7
    assert _media(media) == files and len(files) == 2
