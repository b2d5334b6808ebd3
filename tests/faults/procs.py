"""Real service processes for fault and load tests: a private redis-server, gunicorn, a Celery worker.

Each runs as a subprocess this test owns and stops (never the shared Redis on 6379 or the shared
PostgreSQL server). A missing binary or database skips locally and fails in CI (REQUIRE_FAULTS=1).
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def need(condition: bool, why: str, require: str = "REQUIRE_FAULTS"):
    """Skip when a service is missing here; fail instead where ``require`` is set in the environment (CI)."""
    if condition:
        return
    if os.environ.get(require):
        pytest.fail(why)
    pytest.skip(f"{why} (CI requires it: {require}=1)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _stop(process: subprocess.Popen | None, sig=signal.SIGTERM, timeout: float = 15.0):
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


class RedisServer:
    """`redis-server --port P --save ''` of our own, which can be killed and started again."""

    def __init__(self, port: int | None = None, require: str = "REQUIRE_FAULTS"):
        need(shutil.which("redis-server") is not None, "redis-server is not installed (apt-get install redis-server)",
             require)
        self.port = port or free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        import redis

        wait_until(lambda: redis.Redis(port=self.port, socket_connect_timeout=0.2).ping(), what="redis-server")
        return self

    def kill(self):
        _stop(self.process, signal.SIGKILL)

    def stop(self):
        _stop(self.process)


def service_env(database_url: str, redis_url: str = "", **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_SETTINGS"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, CELERY_TASK_ALWAYS_EAGER="0" if redis_url else "1",
               PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Gunicorn:
    """gunicorn as deployed (``gunicorn.conf.py``), on a free local port; ``workers`` overrides the file's."""

    def __init__(self, env: dict, workers: int | None = None, log: Path | None = None):
        self.port = free_port()
        self.env, self.workers, self.log = env, workers, log
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0):
        out = open(self.log, "w") if self.log else subprocess.DEVNULL  # noqa: SIM115
        command = [str(BIN / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), "config.wsgi:application",
                   "--bind", f"127.0.0.1:{self.port}", "--access-logfile", "-" if self.log else "/dev/null"]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_until(lambda: httpx.get(f"{self.url}/healthz", timeout=2).status_code in (200, 503),
                   timeout=timeout, what="gunicorn")
        return self

    def stop(self):
        _stop(self.process)


class CeleryWorker:
    def __init__(self, env: dict, include: str = "", concurrency: int = 1, log: Path | None = None):
        self.env, self.include, self.concurrency, self.log = env, include, concurrency, log
        self.process = None

    def start(self):
        out = open(self.log, "w") if self.log else subprocess.DEVNULL  # noqa: SIM115
        command = [str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork",
                   "--concurrency", str(self.concurrency), "--loglevel", "INFO", "--without-gossip",
                   "--without-mingle", "-n", f"faults-{os.getpid()}-{time.monotonic_ns()}@%h"]
        if self.include:
            command += ["--include", self.include]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    def pool_children(self) -> list[int]:
        """Process ids of the pool processes that execute tasks (children of the main worker)."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self):
        _stop(self.process, signal.SIGKILL)

    def stop(self):
        _stop(self.process)


def postgres_test_database_url() -> str:
    """The URL of the test database pytest-django created, for subprocesses to share it."""
    from django.db import connection

    need(connection.vendor == "postgresql", "fault tests need PostgreSQL: set DATABASE_URL=postgres://...")
    params = connection.settings_dict
    auth = params["USER"] + (f":{params['PASSWORD']}" if params.get("PASSWORD") else "")
    return f"postgres://{auth}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


class TcpProxy:
    """A TCP relay in front of PostgreSQL: stopping it is, to the app, the database going away
    (every connection cut, new ones refused); starting it again on the same port is the restart."""

    def __init__(self, target_port: int, port: int | None = None):
        self.target_port = target_port
        self.port = port or free_port()
        self._server = None
        self._sockets: list[socket.socket] = []
        self._lock = None

    def start(self):
        import threading

        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()
        return self

    def _accept(self, server):
        import threading

        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self):
        if self._server is not None:
            try:
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            self._server.close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
