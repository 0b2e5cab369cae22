"""CPU per request of one endpoint, in one process, without HTTP noise or contention:

    python -m bench.profile intake|baseline [--requests 1000] [--settings bench|make-run]
        [--cprofile | --pyinstrument] [--pg-url URL]

Sends the requests one after the other through Django's test client (the full middleware,
DRF, authentication, permissions, service and database; no gunicorn), and reports the
process's CPU time per request and the CPU time of its PostgreSQL backend per request. The
two are what the intake costs the machine; on a CPU-bound server, throughput is about
cores / (their sum + the HTTP server's share).

--settings make-run: the settings `make run` serves with (minicrm_project.settings.local: DEBUG
off, throttling on through the database's throttle bucket) with THROTTLE_INTAKE_RATE and
THROTTLE_API_RATE set so high that they never trip, so the throttle's cost counts; the default
`bench` is the bench settings (throttling off). The baseline endpoint exists only in `bench`.

Also reported: the SQL statements per request (counted on the last requests), and the
intake's lock hold time, p50 and p99: from the start of the statement that takes its first
operator lock (the one-operator path's claim of the chosen operator, or the source path's
lock of all the source's operators) to the end of the commit that releases it, timed from
outside crm/ by wrapping those statements and the connection's commit; and the commit's own
share of it (its WAL flush). In one process nobody waits for a lock, so this is the hold time
itself. Under contention, an operator's hold bounds his intakes (1 / hold), and a source's
intakes are bounded by its operators' together (the source path, which locks them all, by
1 / hold).

--cprofile: cProfile with a CPU-time clock, so waiting on the database does not count: the
cumulative CPU time of the frames on the path (the evidence in docs/performance.md).
--pyinstrument: the wall-clock call tree (CPU and waits). Uses the database
minicrm_bench_prof (dropped and re-created)."""

import argparse
import os
import time

from bench.load import cpu_seconds
from bench.servers import Servers, pg_db

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench_prof"
SETTINGS = {"bench": "minicrm_project.settings.bench", "make-run": "minicrm_project.settings.local"}
NEVER_TRIPS = "100000000/s"


class LockHoldTimer:
    """Times the intake's lock hold without touching crm/: wraps the intake's lock statements
    (the one-operator path's claim_for_intake, or the source path's
    RoutingContext.lock_for_source: the first operator lock it takes) and the connection's
    commit; one sample per transaction that took a lock and committed."""

    def __init__(self, connection):
        from crm.services.locking import RoutingContext

        self.times: list[float] = []
        self.commits: list[float] = []  # the commit's own share of each hold (its WAL flush)
        self._started: float | None = None
        lock_for_source = RoutingContext.lock_for_source.__func__

        def timed_lock(cls, source_id):
            if self._started is None:
                self._started = time.perf_counter()
            return lock_for_source(cls, source_id)

        RoutingContext.lock_for_source = classmethod(timed_lock)
        # The one-operator path's lock: the chosen operator's claim (crm.services.intake).
        from crm.services import intake

        claim = getattr(intake, "claim_for_intake", None)  # absent from trees before it

        def timed_claim(operator_id):
            if self._started is None:
                self._started = time.perf_counter()
            return claim(operator_id)

        if claim is not None:
            intake.claim_for_intake = timed_claim
        commit = connection.commit

        def timed_commit():
            commit_started = time.perf_counter()
            try:
                commit()
            finally:
                if self._started is not None:
                    ended = time.perf_counter()
                    self.times.append(ended - self._started)
                    self.commits.append(ended - commit_started)
                    self._started = None

        connection.commit = timed_commit
        rollback = connection.rollback

        def untimed_rollback():
            self._started = None  # a rolled-back intake is not a sample
            rollback()

        connection.rollback = untimed_rollback


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["intake", "baseline"])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=45, help="lines of the cProfile listing")
    parser.add_argument("--pg-url", default=DEFAULT_URL)
    parser.add_argument("--settings", choices=["bench", "make-run"], default="bench")
    parser.add_argument("--hot", action="store_true", help="only the busy source with ten operators with room")
    args = parser.parse_args()
    if args.mode == "baseline" and args.settings != "bench":
        parser.error("the baseline endpoint exists only with --settings bench")

    db = pg_db(args.pg_url)
    setup = Servers(workers=1).reset(db)
    os.environ.update(DJANGO_SETTINGS_MODULE=SETTINGS[args.settings], DATABASE_URL=args.pg_url)
    if args.settings == "make-run":
        os.environ.update(THROTTLE_INTAKE_RATE=NEVER_TRIPS, THROTTLE_API_RATE=NEVER_TRIPS)
        os.environ.pop("REDIS_URL", None)  # make run's default: the database holds the buckets
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    holds = LockHoldTimer(connection)

    client = Client(HTTP_AUTHORIZATION=f"Token {setup['bot_key']}", HTTP_HOST="127.0.0.1")
    path = "/api/v1/contacts/" if args.mode == "intake" else "/bench/baseline/"
    # The four sources of the first rounds (some operators full, contacts waiting), as "today's"
    # figures were taken; --hot: the headline's one busy source with ten operators with room.
    hot = setup["hot_source_id"]
    sources = [hot] if args.hot else [s for s in setup["source_ids"] if s != hot]

    def send(i: int) -> None:
        body = {"external_id": f"p-{i}", "source_id": sources[i % len(sources)]}
        r = client.post(path, body, content_type="application/json")
        assert r.status_code == 201, r.content

    for i in range(100):  # warm-up: imports, connection, caches
        send(-i - 1)
    backend = connection.connection.info.backend_pid
    profiler = None
    if args.pyinstrument:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
        profiler.start()
    cprof = None
    if args.cprofile:
        import cProfile

        cprof = cProfile.Profile(time.process_time)
        cprof.enable()
    app0, db0, wall0 = time.process_time(), cpu_seconds([backend]), time.perf_counter()
    holds.times.clear()
    holds.commits.clear()
    for i in range(args.requests):
        send(i)
    app1, db1, wall1 = time.process_time(), cpu_seconds([backend]), time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        for i in range(20):
            send(args.requests + i)
    if cprof is not None:
        import pstats

        cprof.disable()
        if os.environ.get("BENCH_PROFILE_DUMP"):
            cprof.dump_stats(os.environ["BENCH_PROFILE_DUMP"])
        stats = pstats.Stats(cprof)
        stats.sort_stats("cumulative").print_stats(
            r"crm/|bench/views|rest_framework/(views|permissions|request|serializers)|knox|auth/(backends|models)"
            r"|db/models/(query|sql/compiler)|transaction|psycopg/cursor|core/handlers/base",
            args.top,
        )
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))
    n = args.requests
    print(
        f"{args.mode}: {n} requests, app CPU {(app1 - app0) * 1000 / n:.2f} ms/req, "
        f"PostgreSQL backend CPU {(db1 - db0) * 1000 / n:.2f} ms/req, wall {(wall1 - wall0) * 1000 / n:.2f} ms/req"
        + (" (profiled: app CPU includes the profiler)" if profiler or cprof else "")
    )
    print(f"settings {args.settings}: {len(queries.captured_queries) / 20:.1f} SQL statements per request")
    if holds.times:
        ms = sorted(t * 1000 for t in holds.times)
        p50, p99 = ms[len(ms) // 2], ms[min(len(ms) - 1, int(len(ms) * 0.99))]
        print(
            f"lock hold (first operator lock to commit), {len(ms)} intakes: p50 {p50:.2f} ms, p99 {p99:.2f} ms "
            f"-> one source's ceiling 1/hold: {1000 / p50:.0f}/s at p50"
        )
        commits = sorted(t * 1000 for t in holds.commits)
        print(f"of which the commit (its WAL flush): p50 {commits[len(commits) // 2]:.2f} ms")


if __name__ == "__main__":
    main()
