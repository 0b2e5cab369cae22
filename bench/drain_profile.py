"""Where a background drain batch spends its lock hold, in one process (no HTTP, nobody else
waiting for the lock):

    python -m bench.drain_profile [--waiting 20000] [--batches 40] [--pg-url URL] [--cprofile]

A source with --waiting contacts waiting and its one operator activated without draining
(an UPDATE, so nothing is assigned by the activation); then --batches drain batches one after
the other, each exactly what the worker's job runs (crm.tasks.queue_drain_source's
`queue_drain(limit=QUEUE_DRAIN_BATCH)`). Reported: the batch's lock hold (from the start of
the statement that locks the source's operators to the end of the commit that releases them:
what an intake on that source waits for), the process's CPU and its PostgreSQL backend's CPU
per batch, the SQL statements per batch and the time in each kind of statement, and what is
left for Python under the lock. Uses the database minicrm_bench_drain (dropped, re-created).

--cprofile: the cumulative CPU time of the frames of crm/ during the batches.
"""

import argparse
import os
import re
import statistics
import time
from collections import defaultdict

from bench.load import cpu_seconds
from bench.servers import Servers, pg_db

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench_drain"


class HoldTimer:
    """Times each transaction from its first operator lock (RoutingContext.lock, what
    routing_locked takes for a drain) to the end of its commit, and the statements inside."""

    def __init__(self, connection):
        from crm.services.locking import RoutingContext

        self.holds: list[float] = []
        self.statements: list[list[tuple[str, float]]] = []
        self._started: float | None = None
        self._current: list[tuple[str, float]] = []
        lock = RoutingContext.lock.__func__

        def timed_lock(cls, **kwargs):
            if self._started is None:
                self._started = time.perf_counter()
                self._current = []
            return lock(cls, **kwargs)

        RoutingContext.lock = classmethod(timed_lock)
        commit = connection.commit

        def timed_commit():
            t0 = time.perf_counter()
            try:
                commit()
            finally:
                if self._started is not None:
                    end = time.perf_counter()
                    self._current.append(("COMMIT", end - t0))
                    self.holds.append(end - self._started)
                    self.statements.append(self._current)
                    self._started = None

        connection.commit = timed_commit

        def wrapper(execute, sql, params, many, context):
            t0 = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                if self._started is not None:
                    self._current.append((_kind(sql), time.perf_counter() - t0))

        connection.execute_wrappers.append(wrapper)


def _kind(sql: str) -> str:
    """A statement's kind: its verb and first table, e.g. 'UPDATE crm_contact'."""
    verb = sql.lstrip().split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql, re.IGNORECASE)
    lock = " FOR UPDATE" if "FOR UPDATE" in sql or "FOR NO KEY UPDATE" in sql else ""
    return f"{verb} {table.group(1) if table else '?'}{lock}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--waiting", type=int, default=20000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--pg-url", default=DEFAULT_URL)
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()

    db = pg_db(args.pg_url)
    servers = Servers(workers=1)
    servers.reset(db)
    backlog = servers.manage_json(db, "bench_backlog", "--waiting", str(args.waiting))
    os.environ.update(DJANGO_SETTINGS_MODULE="minicrm_project.settings.bench", DATABASE_URL=args.pg_url)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from crm.models import Operator
    from crm.services.queue import queue_drain

    Operator.objects.filter(pk=backlog["operator_id"]).update(is_active=True)
    timer = HoldTimer(connection)
    batch = settings.QUEUE_DRAIN_BATCH
    source_id = backlog["source_id"]
    queue_drain(source_ids=[source_id], limit=batch)  # warm-up: imports, connection, plans
    timer.holds.clear()
    timer.statements.clear()
    backend = connection.connection.info.backend_pid
    cprof = None
    if args.cprofile:
        import cProfile

        cprof = cProfile.Profile(time.process_time)
        cprof.enable()
    app0, db0, wall0 = time.process_time(), cpu_seconds([backend]), time.perf_counter()
    assigned = 0
    for _ in range(args.batches):
        assigned += queue_drain(source_ids=[source_id], limit=batch)
    app1, db1, wall1 = time.process_time(), cpu_seconds([backend]), time.perf_counter()
    if cprof is not None:
        import pstats

        cprof.disable()
        pstats.Stats(cprof).sort_stats("cumulative").print_stats(r"crm/|django/db/models/(query|sql)", args.top)
    n = args.batches
    ms = sorted(h * 1000 for h in timer.holds)
    print(
        f"{n} batches of {batch} ({assigned} assigned, {args.waiting} waiting at the start): "
        f"lock hold p50 {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms; "
        f"app CPU {(app1 - app0) * 1000 / n:.1f} ms/batch, PostgreSQL CPU {(db1 - db0) * 1000 / n:.1f} ms/batch, "
        f"wall {(wall1 - wall0) * 1000 / n:.1f} ms/batch -> {assigned / (wall1 - wall0):.0f} contacts/s"
    )
    per_kind: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for statements in timer.statements:
        for kind, seconds in statements:
            per_kind[kind].append(seconds)
            counts[kind] += 1
    in_sql = sum(sum(s for _, s in statements) for statements in timer.statements) / n
    print(f"per batch: {sum(counts.values()) / n:.1f} statements, {in_sql * 1000:.1f} ms in SQL (commit included),")
    print(f"  {statistics.median(ms) - in_sql * 1000:.1f} ms of the p50 hold outside SQL (Python under the lock)")
    for kind, times in sorted(per_kind.items(), key=lambda kv: -sum(kv[1])):
        print(f"  {counts[kind] / n:5.1f} x {kind:<40} {sum(times) * 1000 / n:7.2f} ms/batch")


if __name__ == "__main__":
    main()
