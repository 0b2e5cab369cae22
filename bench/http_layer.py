"""The HTTP layer's own figures, apart from the main benchmark (`bench/run.py`):

- `throttle`: what one rate-limit check costs in-process, per backend (the database of
  DATABASE_URL or the scratch SQLite, and Redis when it answers), beside DRF's former
  SimpleRateThrottle on the database cache;
- `workers`: gunicorn worker models side by side on a scratch SQLite database (sync, gthread):
  /healthz and intake throughput with wrk, and /healthz's answer time while slow clients
  hold connections with half-sent request headers.

    python -m bench.http_layer throttle [--n 2000]
    python -m bench.http_layer workers [--duration 8] [--slow 8]

`make bench` runs both after the main benchmark (BENCH_ARGS=--quick makes them short).
Figures go to stdout as one JSON line per measurement, and to
bench/results/http-<date>-<what>.json.
"""

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "wrk" / "minicrm.lua"
RESULTS = ROOT / "bench" / "results"

# Worker models measured; the first is what gunicorn.conf.py uses.
BUFFERING = "minicrm_project.gunicorn_worker.BufferingThreadWorker"
MODELS = {
    "buffering 5x4": {"GUNICORN_WORKER_CLASS": BUFFERING, "WEB_CONCURRENCY": "5", "GUNICORN_THREADS": "4"},
    "buffering 5x2": {"GUNICORN_WORKER_CLASS": BUFFERING, "WEB_CONCURRENCY": "5", "GUNICORN_THREADS": "2"},
    "gthread 5x4": {"GUNICORN_WORKER_CLASS": "gthread", "WEB_CONCURRENCY": "5", "GUNICORN_THREADS": "4"},
    "sync 5": {"GUNICORN_WORKER_CLASS": "sync", "WEB_CONCURRENCY": "5", "GUNICORN_THREADS": "1"},
}


def emit(record: dict, results: list) -> None:
    results.append(record)
    print(json.dumps(record), flush=True)


# --- throttle cost ------------------------------------------------------------------------


def throttle_cost(n: int, results: list) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "minicrm_project.settings.bench")
    django.setup()
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings
    from rest_framework.throttling import SimpleRateThrottle

    from crm.api.throttling import rate_limit_hit

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)

    def timed(label: str, fn) -> None:
        for i in range(50):  # warm-up: connection, statement caches
            fn(i)
        started = time.perf_counter()
        for i in range(n):
            fn(i)
        per_call_us = (time.perf_counter() - started) / n * 1e6
        emit(
            {"measure": "throttle_cost", "backend": label, "calls": n, "us_per_request": round(per_call_us, 1)}, results
        )

    # 16 clients in turn, far below their rate: the allowed path, which is every request's.
    def gcra_db(i: int) -> None:
        rate_limit_hit(key=f"bench:{i % 16}", limit=10**9, period=60, now=time.time())

    timed(f"gcra {connection.vendor}", gcra_db)

    class OldThrottle(SimpleRateThrottle):
        rate = "1200/min"

        def get_cache_key(self, request, view):
            return f"bench-old-{request}"

    def old_db(i: int) -> None:
        OldThrottle().allow_request(i % 16, None)

    # DRF's list of timestamps grows to the rate (1,200 floats pickled per request at 1200/min).
    timed(f"drf SimpleRateThrottle, {connection.vendor} cache (1200/min)", old_db)

    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return
    redis_cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"minicrm-bench-{os.getpid()}",
        }
    }
    with override_settings(CACHES=redis_cache):
        caches["default"].close()
        timed("gcra redis", gcra_db)


# --- worker models ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(env: dict, port: int, log: Path):
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "minicrm_project.wsgi"],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped by its id, nothing else
        )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
            time.sleep(0.3)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def wrk(port: int, mode: str, duration: int, token: str, sources: str, tmp: Path, tag: str) -> dict:
    out = tmp / f"wrk-{tag}.json"
    path = "/healthz" if mode == "healthz" else ""
    argv = ["wrk", "-t1", "-c16", f"-d{duration}s", "-s", str(LUA), f"http://127.0.0.1:{port}{path}"]
    if mode != "healthz":
        argv += ["--", mode, tag, sources]
    else:
        argv = ["wrk", "-t1", "-c16", f"-d{duration}s", "--latency", f"http://127.0.0.1:{port}/healthz"]
    proc = subprocess.run(
        argv, env={**os.environ, "BENCH_TOKEN": token, "BENCH_WRK_OUT": str(out)}, capture_output=True, text=True
    )
    if mode == "healthz":
        for line in proc.stdout.splitlines():
            if line.startswith("Requests/sec:"):
                return {"rps": float(line.split()[1])}
        raise SystemExit(proc.stdout + proc.stderr)
    figures = json.loads(out.read_text())
    return {
        "rps": round(figures["ok_2xx"] / (figures["duration_us"] / 1e6), 1),
        "p99": figures["latency_us"]["p99"],
        "non_2xx": figures["non_2xx"],
    }


def healthz_with_slow_clients(port: int, slow: int) -> dict:
    """Open `slow` connections that send half a request head and then nothing (a client on a
    bad link, or slowloris), then time five /healthz in a row; the slowest counts. Each answer
    time is capped at 60 s."""
    sockets = []
    try:
        for _ in range(slow):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sockets.append(sock)
        time.sleep(1)  # let the server pick them up
        samples = []
        for _ in range(5):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=60) as response:
                    response.read()
                samples.append(time.monotonic() - started)
            except OSError:
                samples.append(60.0)
        return {"healthz_ms_max": round(max(samples) * 1000, 1)}
    finally:
        for sock in sockets:
            sock.close()


def workers(duration: int, slow: int, rounds: int, results: list) -> None:
    """Each model once per round, rounds interleaved (the machine's load drifts)."""
    tmp = Path(tempfile.mkdtemp(prefix="minicrm-http-bench-"))
    for name, model in [item for _ in range(rounds) for item in MODELS.items()]:
        db = tmp / f"{name.replace(' ', '-')}-{time.monotonic_ns()}.sqlite3"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "minicrm_project.settings.bench",
            "SQLITE_PATH": str(db),
            "DJANGO_LOG_LEVEL": "WARNING",
            **model,
        }
        env.pop("DATABASE_URL", None)
        for argv in (["migrate", "-v0"], ["createcachetable"]):
            subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, check=True)
        setup = json.loads(
            subprocess.run(
                [sys.executable, "manage.py", "bench_setup"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout.splitlines()[-1]
        )
        sources = ",".join(str(s) for s in setup["source_ids"][:1])
        port = free_port()
        with server(env, port, tmp / "gunicorn.log"):
            health = wrk(port, "healthz", duration, "", "", tmp, f"h-{port}")
            intake = wrk(port, "intake", duration, setup["bot_key"], sources, tmp, f"i{port}")
            slow_figures = healthz_with_slow_clients(port, slow)
        emit(
            {
                "measure": "worker_model",
                "model": name,
                "healthz_rps": health["rps"],
                "intake_rps": intake["rps"],
                "intake_p99_ms": round(intake["p99"] / 1000, 1),
                "intake_non_2xx": intake["non_2xx"],
                f"healthz_ms_with_{slow}_slow_clients": slow_figures["healthz_ms_max"],
            },
            results,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["throttle", "workers", "all"])
    parser.add_argument("--n", type=int, default=2000, help="throttle checks per backend")
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--slow", type=int, default=8, help="slow clients held open")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of each worker model")
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.duration, args.rounds = 300, 3, 1
    results: list = []
    if args.what in ("workers", "all"):
        workers(args.duration, args.slow, args.rounds, results)
    if args.what in ("throttle", "all"):
        throttle_cost(args.n, results)
    RESULTS.mkdir(exist_ok=True)
    name = f"http-{date.today().isoformat()}-{args.what}{'-quick' if args.quick else ''}.json"
    (RESULTS / name).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
