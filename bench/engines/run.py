"""Measure one engine: enqueue cost inside a request-like transaction, jobs/s of one worker,
and what a SIGKILL mid-job does. Prints one JSON line."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ENGINE, DB = sys.argv[1], sys.argv[2]
N = int(os.environ.get("ENGINES_N", "1000"))
os.environ.update(ENGINES_ENGINE=ENGINE, ENGINES_DB=DB, DJANGO_SETTINGS_MODULE="bench.engines.settings")
ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

scratch = Path(os.environ.setdefault("ENGINES_SCRATCH", "/tmp/minicrm-engines"))
shutil.rmtree(scratch, ignore_errors=True)
scratch.mkdir(parents=True)

import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench.engines import tasks  # noqa: E402

with connection.cursor() as c:
    c.execute("DROP TABLE IF EXISTS engines_done")
    c.execute("DROP TABLE IF EXISTS engines_rows")
    c.execute("CREATE TABLE engines_done (n integer)")
    c.execute("CREATE TABLE engines_rows (n integer)")
if ENGINE == "q2-orm":
    with connection.cursor() as c:
        for table in ("django_q_ormq", "django_q_task", "django_q_schedule", "django_q_success", "django_q_failure"):
            c.execute(f"DROP TABLE IF EXISTS {table} CASCADE" if DB == "pg" else f"DROP TABLE IF EXISTS {table}")
        c.execute(
            "DELETE FROM django_migrations WHERE app = 'django_q'"
        ) if "django_migrations" in connection.introspection.table_names() else None
    call_command("migrate", "django_q", verbosity=0)
    from django_q.tasks import async_task
else:
    from huey.contrib.djhuey import HUEY

    HUEY.flush()


def enqueue(n: int, sleep: float = 0.0) -> None:
    if ENGINE == "q2-orm":
        async_task("bench.engines.tasks.done", n, sleep)  # joins the open transaction
    else:
        transaction.on_commit(lambda: tasks.done_task(n, sleep))  # huey's storage is not ours


def timed(with_job: bool) -> float:
    start = time.perf_counter()
    for i in range(N):
        with transaction.atomic():
            with connection.cursor() as c:
                c.execute("INSERT INTO engines_rows (n) VALUES (%s)", [i])
            if with_job:
                enqueue(i)
    return (time.perf_counter() - start) / N * 1e6


bare_us = timed(False)
with_us = timed(True)


def done_count() -> int:
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM engines_done")
        return c.fetchone()[0]


def worker() -> subprocess.Popen:
    cmd = ["run_huey", "-w", "1", "-k", "thread"] if ENGINE.startswith("huey") else ["qcluster"]
    return subprocess.Popen(
        [sys.executable, "-m", "django", *cmd],
        cwd=ROOT,
        env=os.environ,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=open(scratch / "worker.log", "ab"),
    )


def wait_for(predicate, limit: float) -> float | None:
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        if predicate():
            return time.perf_counter() - start
        time.sleep(0.02)
    return None


proc = worker()
# Throughput: N jobs waiting before the worker starts; start-up excluded by timing from the first.
wait_for(lambda: done_count() > 0, 60)
first = time.perf_counter()
first_count = done_count()
took = wait_for(lambda: done_count() >= N, 300)
rate = (N - first_count) / (time.perf_counter() - first) if took is not None else None
print(f"enqueue {bare_us:.0f}/{with_us:.0f} us, {rate} jobs/s", file=sys.stderr, flush=True)

# SIGKILL mid-job: the job marks "started", sleeps 3 s, then writes. Kill the worker's whole
# process group while it sleeps, start a new worker, and see whether the job ever completes.
with transaction.atomic():
    enqueue(-1, 3.0)
wait_for(lambda: (scratch / "started--1").exists(), 30)
os.killpg(proc.pid, signal.SIGKILL)
proc.wait()
proc = worker()
recovered = wait_for(lambda: done_count() > N, float(os.environ.get("ENGINES_RECOVERY_WAIT", "40")))
os.killpg(proc.pid, signal.SIGTERM)
try:
    proc.wait(timeout=15)
except subprocess.TimeoutExpired:  # a cluster that does not stop on SIGTERM in time
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
print(
    json.dumps(
        {
            "engine": ENGINE,
            "db": DB,
            "n": N,
            "txn_bare_us": round(bare_us),
            "txn_with_enqueue_us": round(with_us),
            "enqueue_cost_us": round(with_us - bare_us),
            "jobs_per_s_one_worker": round(rate) if rate else None,
            "sigkill_job_rerun_after_s": round(recovered, 1) if recovered is not None else "lost",
        }
    )
)
