"""CPU per request of one endpoint, in one process, without HTTP noise or contention:

    python -m bench.profile intake|baseline [--requests 1000] [--cprofile | --pyinstrument] [--pg-url URL]

Sends the requests one after the other through Django's test client (the full middleware,
DRF, authentication, permissions, service and database; no gunicorn), and reports the
process's CPU time per request and the CPU time of its PostgreSQL backend per request. The
two are what the intake costs the machine; on a CPU-bound server, throughput is about
cores / (their sum + the HTTP server's share).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["intake", "baseline"])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--pyinstrument", action="store_true")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--top", type=int, default=45, help="lines of the cProfile listing")
    parser.add_argument("--pg-url", default=DEFAULT_URL)
    args = parser.parse_args()

    db = pg_db(args.pg_url)
    setup = Servers(workers=1).reset(db)
    os.environ.update(DJANGO_SETTINGS_MODULE="minicrm_project.settings.bench", DATABASE_URL=args.pg_url)
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {setup['bot_key']}", HTTP_HOST="127.0.0.1")
    path = "/api/v1/contacts/" if args.mode == "intake" else "/bench/baseline/"
    sources = setup["source_ids"]

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
    for i in range(args.requests):
        send(i)
    app1, db1, wall1 = time.process_time(), cpu_seconds([backend]), time.perf_counter()
    if cprof is not None:
        import pstats

        cprof.disable()
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


if __name__ == "__main__":
    main()
