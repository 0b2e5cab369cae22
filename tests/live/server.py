"""A real gunicorn serving the test database, for tests that need HTTP over a socket
(schemathesis, the crash test). Ports come from LIVE_PORTS (8300-8399)."""

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent.parent
LIVE_PORTS = range(8300, 8400)


def free_port() -> int:
    """A port of LIVE_PORTS that is free now, tried in random order: the suites of several
    checkouts on one machine do not all race for the first one."""
    for port in random.SystemRandom().sample(LIVE_PORTS, len(LIVE_PORTS)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {LIVE_PORTS}")


def test_database_url() -> str:
    """A DATABASE_URL for the database this test runs on (the test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class LiveServer:
    def __init__(self, process: subprocess.Popen, port: int, log_path: Path):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def worker_pids(self) -> list[int]:
        """The gunicorn workers (children of the arbiter)."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class ServerStartError(RuntimeError):
    pass


def _wait_healthy(server: "LiveServer", timeout: float = 60) -> None:
    """Until our gunicorn listens and answers /healthz. Its log must say that it listens on
    our port: while gunicorn retries a bind that failed, another program may answer there."""
    deadline = time.monotonic() + timeout
    listening = f"Listening at: {server.url} "
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise ServerStartError(f"gunicorn exited with {server.process.returncode}")
        if listening in server.log():
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{server.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise ServerStartError("gunicorn did not become healthy")


def _stop(process: subprocess.Popen) -> None:
    # Our own process group (start_new_session): the arbiter and its workers only.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _start(*, tmp_path: Path, workers: int, timeout: int, extra_env: dict | None) -> LiveServer:
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "minicrm_project.settings.test",
        "DATABASE_URL": test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        **(extra_env or {}),
    }
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--timeout",
                str(timeout),
                "minicrm_project.wsgi",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return LiveServer(process, port, log_path)


@contextlib.contextmanager
def gunicorn_server(*, tmp_path: Path, workers: int = 2, timeout: int = 30, extra_env: dict | None = None):
    """Serve the test database with `workers` gunicorn workers (gunicorn.conf.py's worker
    class and threads), settings.test (throttles off), until the block ends. The server's log
    goes to tmp_path/gunicorn.log. A port taken between free_port() and gunicorn's bind (by
    another suite on the machine) means another port, up to five times."""
    for attempt in range(5):
        server = _start(tmp_path=tmp_path, workers=workers, timeout=timeout, extra_env=extra_env)
        try:
            _wait_healthy(server)
            break
        except ServerStartError:
            _stop(server.process)
            if attempt == 4 or "Connection in use" not in server.log():
                raise
    try:
        yield server
    finally:
        _stop(server.process)
