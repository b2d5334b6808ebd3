"""20 panel members browse the queue and vote for 60 s against gunicorn + PostgreSQL (10,000 applications).

Goals: vote POST p95 <= 50 ms, queue page p95 <= 100 ms, 0 errors; every vote stored once and
exactly one decision per decided application. Run with `make bench` (BENCH=1); the figures are
printed. Correctness is asserted; the latency goals are asserted with BENCH_STRICT=1 (on a shared
2-core machine the load client and other work compete with the server).
"""

import json
import os
import runpy
import secrets
import subprocess
import sys

import environ

from tests.faults.procs import ROOT, Gunicorn, RedisServer, need, service_env

SECONDS = float(os.environ.get("LOAD_SECONDS", 60))
APPLICATIONS = int(os.environ.get("LOAD_APPLICATIONS", 10_000))
# Mean pause between a member's requests, uniform between half and one and a half times it: people
# reading the queue, then voting, not a closed loop. 2 s (the 20 members together: about 10 requests a
# second) is already brisker than a member reading an application before voting. Faster paces measure
# capacity: LOAD_THINK_SECONDS=1 or 0.5 (about 19 and 35 requests a second), 0 for saturation.
THINK = float(os.environ.get("LOAD_THINK_SECONDS", 2))
# Run, untimed, before the measured 60 s (every worker's first requests: connection, caches).
WARMUP = float(os.environ.get("LOAD_WARMUP_SECONDS", 5))
GOALS = {"vote POST": 50.0, "queue page": 100.0}


def _load_database_url() -> str:
    url = os.environ.get("LOAD_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    need(url.startswith(("postgres://", "postgresql://")), "the load benchmark needs PostgreSQL (DATABASE_URL)")
    config = environ.Env.db_url_config(url)
    name = config["NAME"] if os.environ.get("LOAD_DATABASE_URL") else f"{config['NAME']}_load"
    auth = config["USER"] + (f":{config['PASSWORD']}" if config.get("PASSWORD") else "")
    return f"postgres://{auth}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}/{name}", config, name


def _recreate(config, name):
    import psycopg

    with psycopg.connect(host=config["HOST"] or "127.0.0.1", port=config["PORT"] or 5432, user=config["USER"],
                         password=config.get("PASSWORD") or None, dbname="postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')


def _python(args, env, timeout=900):
    result = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_twenty_members_browse_and_vote_for_a_minute(tmp_path):
    url, config, name = _load_database_url()
    _recreate(config, name)
    redis = RedisServer().start()
    # Production settings (no DEBUG, verified sessions required); throttles lifted for the load
    # (they are still evaluated on every request, counters in Redis); persistent connections.
    env = service_env(url, redis.url, DEMO_MODE=0, DEBUG=0, SECRET_KEY=secrets.token_urlsafe(50),
                      ALLOWED_HOSTS="127.0.0.1", CONN_MAX_AGE=60, THROTTLE_USER="1000000/min",
                      THROTTLE_VOTE="1000000/min", LOG_LEVEL="WARNING")
    server = None
    try:
        _python(["manage.py", "migrate", "--noinput"], env)
        _python(["manage.py", "collectstatic", "--noinput"], env)
        creds = tmp_path / "creds.json"
        print("\n" + _python(["-m", "tests.benchmarks.loadclient", "seed", "--applications", str(APPLICATIONS),
                              "--members", "20", "--out", str(creds)], env).strip())
        server = Gunicorn(env, log=tmp_path / "gunicorn.log").start()  # the deployed configuration
        results = tmp_path / "results.json"
        _python(["-m", "tests.benchmarks.loadclient", "run", "--url", server.url, "--creds", str(creds),
                 "--seconds", str(SECONDS), "--think", str(THINK), "--warmup", str(WARMUP), "--out", str(results)],
                env, timeout=WARMUP + SECONDS + 300)
    finally:
        if server:
            server.stop()
        redis.kill()
    outcome = json.loads(_python(["-m", "tests.benchmarks.loadclient", "check", "--results", str(results)],
                                 env).strip().splitlines()[-1])
    summary = json.loads(results.read_text())["summary"]
    workers = runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"]
    print(f"gunicorn {workers} sync workers, 20 members, {SECONDS:.0f} s after {WARMUP:.0f} s of warm-up, "
          f"{APPLICATIONS} applications, think time {THINK} s")
    print(f"{'endpoint':<12} {'requests':>8} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}  goal p95")
    for endpoint, row in summary.items():
        goal = GOALS.get(endpoint)
        verdict = "" if goal is None else f"<= {goal:.0f} ms {'met' if row['p95_ms'] <= goal else 'MISSED'}"
        print(f"{endpoint:<12} {row['requests']:>8} {row['per_second']:>7} {row['p50_ms']:>8} {row['p95_ms']:>8} "
              f"{row['p99_ms']:>8} {row['errors']:>6}  {verdict}   statuses {row['statuses']}")
    print("result check:", json.dumps(outcome))
    assert summary["vote POST"]["requests"] > 0 and summary["queue page"]["requests"] > 0
    assert all(row["errors"] == 0 for row in summary.values()), summary
    assert outcome["ok"], outcome
    if os.environ.get("BENCH_STRICT"):
        for endpoint, goal in GOALS.items():
            assert summary[endpoint]["p95_ms"] <= goal, (endpoint, summary[endpoint])
