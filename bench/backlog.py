"""The backlog scenario: a source with a weekend's worth of waiting contacts (16,000 and
100,000) and its only operator inactive. Then, with gunicorn and the task worker running as
`make run` runs them, on PostgreSQL:

- the activating `PATCH /api/v1/operators/{id}` {"is_active": true}: its status and latency
  (it assigns one bounded batch and leaves the rest to the worker);
- the time until the worker has drained the whole queue (every contact assigned), and the
  drain rate;
- intake on the same source meanwhile: one client posting contacts back to back, latency
  p50 / p95 / max and errors (they wait behind the queue, then are served in order).

    python -m bench.backlog [--sizes 16000,100000] [--pg-url ...] [--port 8611]

Also run by `make bench` (scenario backlog-pg). Writes bench/results/backlog-<date>.json.
"""

import argparse
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench"


def backlog_setup(*, waiting: int) -> dict:
    """In a database prepared by bench_setup: the source "backlog", its one operator inactive
    (room for the backlog and what arrives during the run), `waiting` contacts of as many
    leads waiting on it, oldest first. Plain SQL, as the bulk load."""
    from bench.fixtures import _lead_insert
    from crm.models import Contact, Lead, Operator, OperatorSource, Source, UnassignedReason

    with transaction.atomic():
        source = Source.objects.create(name="backlog")
        operator = Operator.objects.create(name="backlog-op", is_active=False, max_load=min(100_000, waiting + 20_000))
        OperatorSource.objects.create(operator=operator, source=source, weight=1)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        tag = "backlog-"
        series = "SELECT g AS n FROM generate_series(1, %s) AS g"
        with connection.cursor() as cursor:
            first = (Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
            cursor.execute(*_lead_insert(series=series, tag=tag, now=now, n_leads=waiting, first=first))
            cursor.execute(
                """
                INSERT INTO crm_contact
                    (lead_id, source_id, operator_id, status, unassigned_reason, assignment, message, metadata,
                     created_at, closed_at)
                SELECT l.id, %s, NULL, 'open', %s, '{}', 'Hello!', '{}', %s, NULL
                FROM crm_lead AS l WHERE l.external_id LIKE %s ORDER BY l.id
                """,
                [source.pk, UnassignedReason.ALL_INACTIVE, now, tag + "%"],
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE crm_contact" if connection.vendor == "postgresql" else "ANALYZE")
    last_id = Contact.objects.filter(source=source).order_by("-id").values_list("id", flat=True).first()
    return {"source_id": source.pk, "operator_id": operator.pk, "waiting": waiting, "last_id": last_id}


def _request(url: str, *, key: str, method: str, body: dict) -> tuple[int, float]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", f"Token {key}")
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        status = 0
    return status, time.perf_counter() - t0


def _percentiles(latencies: list[float]) -> dict:
    if not latencies:
        return {"n": 0}
    ms = sorted(x * 1000 for x in latencies)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
        "max_ms": round(ms[-1], 1),
    }


def _waiting(url: str, source_id: int, last_id: int | None = None) -> int:
    """Contacts of the source still waiting; with `last_id`, only those of the backlog."""
    import psycopg

    sql = "SELECT count(*) FROM crm_contact WHERE source_id = %s AND status = 'open' AND operator_id IS NULL"
    params = [source_id]
    if last_id is not None:
        sql += " AND id <= %s"
        params.append(last_id)
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def run_backlog(*, servers, db: dict, port: int, sizes: list[int], log) -> list[dict]:
    """The scenario for each size; `servers` is bench.servers.Servers, `db` a PostgreSQL db."""
    return [_run_size(servers=servers, db=db, port=port, size=size, log=log) for size in sizes]


def _run_size(*, servers, db: dict, port: int, size: int, log) -> dict:
    from bench.servers import SETTINGS

    # The web servers and the worker share the task queue: a SQLite file of this run's own
    # (never a shared Redis).
    queue_file = servers.tmp / f"tasks-{size}.sqlite3"
    db = {
        **db,
        "env": {**db["env"], "TASKS_SQLITE_PATH": str(queue_file), "TASKS_REDIS_URL": "", "REDIS_URL": ""},
        "shown": {**db["shown"], "TASKS_SQLITE_PATH": f"$TMP/{queue_file.name}"},
    }
    setup = servers.reset(db)
    servers.manage(db, "createcachetable")  # the worker's heartbeat lives in the cache
    t0 = time.time()
    backlog = servers.manage_json(db, "bench_backlog", "--waiting", str(size))
    log(f"  backlog of {size:,} waiting contacts loaded in {time.time() - t0:.1f} s")
    worker_env = servers.env(db)
    servers.record(["python", "manage.py", "run_huey"], {**db["shown"], "DJANGO_SETTINGS_MODULE": SETTINGS})
    worker_log = open(servers.tmp / f"worker-{size}.log", "ab")  # noqa: SIM115 - closed with the process
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey"],
        cwd=ROOT,
        env=worker_env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    servers.start(db, port)
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        intake_url = f"{base}/contacts/"
        counter = iter(range(10**9))

        def intake() -> tuple[int, float]:
            n = next(counter)
            return _request(
                intake_url,
                key=setup["bot_key"],
                method="POST",
                body={"external_id": f"during-{size}-{n}", "source_id": backlog["source_id"]},
            )

        before = [intake() for _ in range(30)]
        during: list[tuple[float, int, float]] = []
        stop = threading.Event()

        def intake_loop() -> None:
            while not stop.is_set():
                status, latency = intake()
                during.append((time.time(), status, latency))

        loop = threading.Thread(target=intake_loop, daemon=True)
        loop.start()
        time.sleep(1)  # the intake client is going before the activation
        patch_status, patch_latency = _request(
            f"{base}/operators/{backlog['operator_id']}/",
            key=setup["staff_key"],
            method="PATCH",
            body={"is_active": True},
        )
        activated = time.time()
        log(f"  PATCH activation: {patch_status} in {patch_latency * 1000:.0f} ms")
        deadline = activated + 1800
        # Drained: every contact of the backlog assigned. (The operator's room is capped at
        # MAX_CAPACITY, so with 100,000 waiting the contacts posted meanwhile may find him full.)
        while _waiting(db["url"], backlog["source_id"], backlog["last_id"]) and time.time() < deadline:
            time.sleep(0.5)
        drained = time.time()
        stop.set()
        loop.join(timeout=120)
    finally:
        servers.stop_all()
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    drain_s = drained - activated
    in_drain = [(status, latency) for t, status, latency in during if activated <= t <= drained]
    result = {
        "waiting": size,
        "patch": {"status": patch_status, "ms": round(patch_latency * 1000, 1)},
        "drained": drained < deadline,
        "drain_s": round(drain_s, 1),
        "drain_rate_per_s": round(size / drain_s) if drain_s > 0 else None,
        "waiting_after": _waiting(db["url"], backlog["source_id"]),
        "intake_before": _percentiles([lat for status, lat in before if status == 201]),
        "intake_during_drain": _percentiles([lat for status, lat in in_drain if status == 201]),
        "intake_errors": sum(1 for status, _ in [*before, *in_drain] if status != 201),
    }
    log(
        f"  {size:,} waiting: drained in {result['drain_s']} s ({result['drain_rate_per_s']}/s); intake "
        f"before {result['intake_before']}, during {result['intake_during_drain']}, "
        f"errors {result['intake_errors']}"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16000,100000")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8601")) + 10)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    from bench.load import loadavg
    from bench.servers import Servers, pg_db

    started = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - started:6.0f}s] {msg}", flush=True)

    servers = Servers(workers=args.workers)
    load_start = loadavg()
    results = run_backlog(
        servers=servers, db=pg_db(args.pg_url), port=args.port, sizes=[int(s) for s in args.sizes.split(",")], log=log
    )
    now = datetime.datetime.now(datetime.UTC)
    report = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "gunicorn_workers": servers.workers,
        "drain_batch": int(os.environ.get("QUEUE_DRAIN_BATCH", "100")),
        "loadavg_start": load_start,
        "loadavg_end": loadavg(),
        "results": results,
        "commands": servers.commands,
    }
    out = ROOT / "bench" / "results" / f"backlog-{now:%Y-%m-%d}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
