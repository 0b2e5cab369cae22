"""The benchmark runner behind `make bench`.

    python -m bench.run [--duration 10] [--sizes 1000,100000,1000000] [--scenarios ...] [--quick]

Starts the service the way production does (gunicorn, `gunicorn.conf.py`, its worker rule)
with the bench settings (the product plus the bare-insert baseline endpoint), drives it with
wrk (`bench/wrk/minicrm.lua`: unique external ids, counts what it sent), checks the books
after every intake run, and writes `bench/results/<date>.md` and `.json` with every figure
and every command. It also refreshes the "Latest figures" section of docs/performance.md.

Scenarios, in order:
  1. PostgreSQL, one instance, `make run` settings (throttling on, never tripping): /healthz,
     intake and baseline at 16 connections, three rounds in rotated order (the headline: intake
     on one source with ten operators who all have room / healthz, with its spread), then at
     64; the intake over every source (some full, so contacts wait); then the intake in one
     process (bench.profile: CPU per intake, lock hold time), three times.
  2. PostgreSQL, two instances on two ports, one database, the load split between them.
  3. PostgreSQL growth: 10^3, 10^5, 10^6 contacts bulk-loaded (SQL, not the API; two contacts
     per lead, leads with realistic names, phones and emails), one database and one instance
     per size; the first page of the contact and lead lists and a lead search (at 1
     connection: their own time, not a queue's), the intake and the baseline (16), in three
     rounds that alternate over the sizes; medians of the p50s compared.
  4. and 5. The same as 1 and 3 on the embedded SQLite.
  6. PostgreSQL backlog (bench/backlog.py): 16,000 and 100,000 waiting contacts, the
     activating PATCH, the background drain and intake latency meanwhile (results in
     bench/results/backlog-<date>.json).

Only databases whose name starts with `minicrm_bench` are dropped and re-created.

This module holds the scenarios and the command line; the parts live beside it:
  bench/servers.py  running the service: gunicorn instances, management commands, databases
  bench/load.py     driving load: wrk runs, latency, CPU per request
  bench/books.py    checking the books after every intake run
  bench/report.py   the summary, targets, results files and docs/performance.md
"""

import argparse
import contextlib
import datetime
import os
import re
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from bench import report as reporting
from bench.backlog import run_backlog
from bench.load import STAFF_MODES, Load, loadavg
from bench.reference import REFERENCE_COMMIT, reference_tree
from bench.servers import ROOT, Servers, pg_db, sqlite_db

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench"
SCENARIOS = ["main-pg", "two-pg", "growth-pg", "main-sqlite", "growth-sqlite", "backlog-pg"]
# At each size of the growth scenarios: the first page of the lists, a lead search (a full name,
# a phone as people type it, or an email's local part), the intake, and the baseline.
GROWTH_MODES = ["contacts", "leads", "search", "intake", "baseline"]
HEADLINE_ROUNDS = 3
# The lists and the search at each growth size: one connection, so the p50 is the request's
# own time. At 16 connections on 2 cores it is mostly the wait behind the 15 others (the
# contact list's p50 went 40 -> 59 ms from 10^3 to 10^6 while its throughput rose 264 -> 332
# req/s, 2026-11-27 04:49 run); at 2 it depends on where gunicorn puts them: both on one
# worker process share its interpreter lock and each waits for the other (the same list read
# 272 and 139 req/s in consecutive runs, 2026-11-27 07:25).
GROWTH_READ_CONNS = 1
# Rounds of the growth scenarios, the sizes alternated (Bench.growth).
GROWTH_ROUNDS = 3
# The settings `make run` serves with: throttling on, at rates no run reaches, so its cost counts.
NEVER_TRIPS = "100000000/s"


def sibling_url(url: str, suffix) -> str:
    """A database of its own beside the bench database: its name + _g<suffix> (the growth
    scenario's i-th size, or "today" for the reference tree's)."""
    base, _, query = url.partition("?")
    return f"{base}_g{suffix}" + (f"?{query}" if query else "")


def profile_intake(*, cwd, hot: bool = False) -> dict:
    """One `python -m bench.profile intake --settings make-run` in the tree at `cwd`."""
    argv = [sys.executable, "-m", "bench.profile", "intake", "--requests", "500", "--settings", "make-run"]
    argv += ["--hot"] if hot else []
    out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=True).stdout
    return {
        "app_cpu_ms": float(re.search(r"app CPU ([0-9.]+) ms", out).group(1)),
        "db_cpu_ms": float(re.search(r"backend CPU ([0-9.]+) ms", out).group(1)),
        "statements": float(re.search(r"([0-9.]+) SQL statements", out).group(1)),
        "lock_hold_p50_ms": float(re.search(r"p50 ([0-9.]+) ms, p99", out).group(1)),
        "lock_hold_p99_ms": float(re.search(r"p99 ([0-9.]+) ms ->", out).group(1)),
        "commit_p50_ms": float(re.search(r"the commit \(its WAL flush\): p50 ([0-9.]+) ms", out).group(1)),
    }


def run_inprocess(*, rounds: int, log, today: Path | None) -> list[dict]:
    """`python -m bench.profile intake --settings make-run`, `rounds` times over the four
    sources of today's figures, each round also on "today's" tree (`today`, bench.reference:
    main before the round, same bench, same machine, runs alternated), then once with --hot
    (the headline's source): application and PostgreSQL CPU per intake, statements, and the
    lock hold time (first operator lock to commit), without HTTP and without contention."""
    found = []
    runs = [("now", ROOT, False)] * rounds + [("now", ROOT, True)]
    if today is not None:
        runs[:rounds] = [run for _ in range(rounds) for run in (("today", today, False), ("now", ROOT, False))]
    for tree, cwd, hot in runs:
        figures = {**profile_intake(cwd=cwd, hot=hot), "sources": "hot" if hot else "four", "tree": tree}
        found.append(figures)
        log("  in-process intake: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    return found


class Bench:
    """The scenarios, in the order `main` runs them; servers, load and books come from their
    own modules."""

    def __init__(self, args, today: Path | None = None):
        self.args = args
        # "Today's" tree (bench.reference), measured beside this one; None without git history.
        self.today = today
        self.started = time.time()
        self.servers = Servers(workers=args.workers)
        self.load = Load(self.servers, duration=args.duration, log=self.log)
        self.loads: list[dict] = []
        self.backlog: list[dict] | None = None
        self.inprocess: list[dict] = []

    def log(self, msg: str) -> None:
        print(f"[{time.time() - self.started:6.0f}s] {msg}", flush=True)

    def bulk_load(self, db: dict, contacts: int) -> None:
        result = self.servers.bulk_load(db, contacts)
        self.loads.append(result)
        self.log(f"  bulk load {db['name']} to {contacts:,} contacts: {result['seconds']} s")

    def main_cases(self, db: dict, port: int, measure: bool = True, today_db: dict | None = None) -> None:
        """The headline and the main cases on `db`; with `today_db` (a database of its own) and
        a reference tree, "today's" intake and healthz too, served by that tree on port + 30,
        alternated with this tree's in every round (scenario "main_today")."""
        setup = self.main_setup = self.servers.reset(db)
        if not measure:
            return
        self.servers.start(db, port)
        try:
            self.load.warm_up(setup, [port], modes=("baseline", "intake", "healthz"))
            # The headline's intake: one busy source with ten operators who all have room.
            hot = {**setup, "source_ids": [setup["hot_source_id"]]}
            # The headline, intake / healthz, three times; the order rotates from round to round
            # so that a drift of the machine's speed favours none of them.
            cases = [("main", mode, db, hot, port) for mode in ("healthz", "intake", "baseline")]
            if today_db is not None and self.today is not None:
                today_db = {**today_db, "cwd": self.today}
                today_setup = self.servers.reset(today_db)
                self.servers.start(today_db, port + 30)
                self.load.warm_up(today_setup, [port + 30], modes=("intake", "healthz"))
                today_hot = {**today_setup, "source_ids": [today_setup["hot_source_id"]]}
                cases += [("main_today", mode, today_db, today_hot, port + 30) for mode in ("healthz", "intake")]
            for round_no in range(HEADLINE_ROUNDS):
                shift = round_no % len(cases)
                for scenario, mode, case_db, case_setup, case_port in cases[shift:] + cases[:shift]:
                    self.load.measure(
                        db=case_db,
                        scenario=scenario,
                        mode=mode,
                        conns=16,
                        setup=case_setup,
                        ports=[case_port],
                        label=("today " if scenario == "main_today" else "") + f"{mode} r{round_no + 1}",
                    )
            for mode in ("healthz", "intake", "baseline"):
                self.load.measure(db=db, scenario="main", mode=mode, conns=64, setup=hot, ports=[port])
            # The mixed traffic of the earlier rounds: every source, some of them full (waiting).
            label = "intake all sources"
            self.load.measure(db=db, scenario="main", mode="intake", conns=16, setup=setup, ports=[port], label=label)
        finally:
            self.servers.stop_all()

    def two_instances(self, db: dict, ports: list[int]) -> None:
        """Two app servers, one database, the connections split evenly between them."""
        setup = self.main_setup
        for port in ports:
            self.servers.start(db, port)
        try:
            self.load.warm_up(setup, ports, modes=("intake",))
            for conns in (16, 64):
                self.load.measure(db=db, scenario="two_instances", mode="intake", conns=conns, setup=setup, ports=ports)
        finally:
            self.servers.stop_all()

    def growth(self, db_at, port: int) -> None:
        """One database per size, `db_at(i)`, each bulk-loaded to its size and served by its own
        instance, so that every request of every size runs in alternation, GROWTH_ROUNDS rounds
        in rotated order: a drift of the machine's speed (autovacuum after a big load, other
        work on the host) falls on every size alike, where one growing database measured size
        after size put minutes between the two ends of the ratio. The baseline, whose cost does
        not depend on the tables, shows what drift is left."""
        sizes = self.args.sizes
        dbs, setups, ports = [], [], []
        for i, size in enumerate(sizes):
            db = db_at(i)
            setups.append(self.servers.reset(db))
            self.bulk_load(db, size)
            dbs.append(db)
            ports.append(port + i)
        # The same people are searched at every size: every load starts from the same profiles
        # (bench.fixtures), and the terms are taken from the first leads.
        terms = self.servers.manage_json(dbs[0], "bench_search_terms")
        self.load.search_terms = self.servers.tmp / f"search-terms-{dbs[0]['name']}.txt"
        self.load.search_terms.write_text("".join(urllib.parse.quote(term, safe="") + "\n" for term in terms))
        waited = self.servers.wait_for_autovacuum(dbs[-1])
        self.log(f"  waited {waited} s for autovacuum to finish")
        try:
            contacts = []
            for db, setup, p in zip(dbs, setups, ports, strict=True):
                self.servers.start(db, p)
                # Pulls the indexes into memory as production would have them.
                self.load.warm_up(setup, [p], modes=("contacts", "intake"))
                contacts.append(self.servers.manage_json(db, "bench_snapshot")["contacts"])
            order = list(range(len(sizes)))
            for round_no in range(GROWTH_ROUNDS):
                for mode in self.args.growth_modes:
                    for i in order[round_no % len(order) :] + order[: round_no % len(order)]:
                        self.load.measure(
                            db=dbs[i],
                            scenario="growth",
                            mode=mode,
                            conns=GROWTH_READ_CONNS if mode in STAFF_MODES else 16,
                            setup=setups[i],
                            ports=[ports[i]],
                            size=contacts[i],
                            label=f"{mode} r{round_no + 1} at {contacts[i]:,}",
                        )
        finally:
            self.servers.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--sizes", default="1000,100000,1000000", help="growth sizes, contacts")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_PORT", "8601")))
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: 2 x cores + 1)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--growth-modes",
        default=",".join(GROWTH_MODES),
        help=f"growth scenarios' requests, a subset of {','.join(GROWTH_MODES)} (default: all; keep the "
        "baseline, which normalises the machine's drift between sizes)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 s runs, sizes 1000,10000")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results, touch no doc")
    parser.add_argument(
        "--stem",
        default=None,
        help="results file name (default: the date); with a stem of its own the doc's latest figures are left alone",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.sizes = 3, "1000,10000"
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.growth_modes = [m for m in args.growth_modes.split(",") if m]
    if set(args.growth_modes) - set(GROWTH_MODES):
        raise SystemExit(f"unknown growth modes; choose from {GROWTH_MODES}")

    os.environ.setdefault("THROTTLE_INTAKE_RATE", NEVER_TRIPS)
    os.environ.setdefault("THROTTLE_API_RATE", NEVER_TRIPS)
    reference = contextlib.ExitStack()
    bench = Bench(args, today=reference.enter_context(reference_tree()))
    if bench.today is None:
        bench.log(f"no git history for {REFERENCE_COMMIT}: today's figures are bench.targets.TODAY")
    start_load = loadavg()
    pg = pg_db(args.pg_url)
    port = args.port
    bench.log(
        f"{os.cpu_count()} cores, load average {start_load}, {bench.servers.workers} workers; "
        f"scratch dir {bench.servers.tmp}"
    )
    wanted = args.scenarios.split(",")
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    try:
        if "main-pg" in wanted or "two-pg" in wanted:
            bench.log("PostgreSQL: baseline and intake, one instance")
            bench.main_cases(pg, port, measure="main-pg" in wanted, today_db=pg_db(sibling_url(args.pg_url, "today")))
        if "main-pg" in wanted:
            bench.log("PostgreSQL: the intake in one process (bench.profile, make-run settings)")
            bench.inprocess = run_inprocess(rounds=HEADLINE_ROUNDS, log=bench.log, today=bench.today)
        if "two-pg" in wanted:
            bench.log("PostgreSQL: two instances, one database")
            bench.two_instances(pg, [port + 1, port + 2])
        if "growth-pg" in wanted:
            bench.log("PostgreSQL: growth")
            bench.growth(lambda i: pg_db(sibling_url(args.pg_url, i)), port + 10)
        if "main-sqlite" in wanted:
            bench.log("SQLite: baseline and intake")
            bench.main_cases(
                sqlite_db(bench.servers.tmp, "main"), port + 4, today_db=sqlite_db(bench.servers.tmp, "today")
            )
        if "growth-sqlite" in wanted:
            bench.log("SQLite: growth")
            bench.growth(lambda i: sqlite_db(bench.servers.tmp, f"growth-{i}"), port + 20)
        if "backlog-pg" in wanted:
            bench.log("PostgreSQL: backlogs drained in the background")
            bench.backlog = run_backlog(
                servers=bench.servers, db=pg, port=port + 6, sizes=[16_000, 100_000], log=bench.log
            )
    finally:
        bench.servers.stop_all()
        reference.close()

    now = datetime.datetime.now(datetime.UTC)
    report = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": reporting.machine(),
        "versions": reporting.versions(args.pg_url),
        "config": {
            "workers": bench.servers.workers,
            "worker_rule": "2 x cores + 1 workers x 2 threads (gunicorn.conf.py; WEB_CONCURRENCY, GUNICORN_THREADS)",
            "duration_s": args.duration,
            "sizes": args.sizes,
            "wrk": "1 thread; --timeout 10s; bench/wrk/minicrm.lua",
        },
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "elapsed_s": round(time.time() - bench.started),
        "summary": reporting.summary(bench.load.runs, bench.inprocess),
        "inprocess": bench.inprocess,
        "loads": bench.loads,
        "backlog": bench.backlog,
        "runs": bench.load.runs,
        "commands": bench.servers.commands,
    }
    for name, t in report["summary"]["targets"].items():
        bench.log(f"target {name}: {t['value']} -> {'met' if t['met'] else 'MISSED'}")
    if args.no_write:
        return
    stem = args.stem or now.strftime("%Y-%m-%d")
    reporting.write(report, stem, touch_doc=args.stem is None)
    bench.log(f"wrote bench/results/{stem}.md and .json ({report['elapsed_s']} s in all)")


if __name__ == "__main__":
    main()
