"""Webhooks benchmark (part of `make bench`; alone: `python -m bench.webhooks`).

1. Intake throughput through gunicorn, driven by wrk, with no active webhook endpoint and
   with one, in ABBA order (a linear drift of the machine's speed cancels out of the ratio).
   The request path writes only its event rows either way, so the ratio should be ~1.0; the
   target is within 10 %. The worker is stopped meanwhile: this is the request path's cost.
2. Delivery rate of one worker (`manage.py webhook_worker`, one process) against a local
   receiver answering 204 at once, over a fixed window: fan-out and delivery together.

On a shared machine the figures move with the neighbours' load: the load average is reported
with them. Results go to bench/results/webhooks-<date>.md and .json.

Only databases named minicrm_bench* are dropped and re-created; any other database given with
--pg-url is migrated and flushed (emptied), never dropped.
"""

import argparse
import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LUA = "bench/wrk/minicrm.lua"
SETTINGS = "minicrm_project.settings.bench"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench_webhooks"


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": args.pg_url,
            "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": "true",
            "DJANGO_LOG_LEVEL": "WARNING",
        }
        self.procs: list[subprocess.Popen] = []

    def manage(self, *argv) -> str:
        return subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def manage_json(self, *argv) -> dict:
        return json.loads(self.manage(*argv).strip().splitlines()[-1])

    def start(self, name: str, argv: list[str], **env) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.procs.remove(proc)

    def reset(self) -> dict:
        dbname = self.args.pg_url.rsplit("/", 1)[1].split("?")[0]
        if dbname.startswith("minicrm_bench"):
            import psycopg

            with psycopg.connect(self.args.pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
            self.manage("migrate", "--noinput", "-v0")
        else:
            import psycopg

            with psycopg.connect(self.args.pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
                    conn.execute(f'CREATE DATABASE "{dbname}"')
            self.manage("migrate", "--noinput", "-v0")
            self.manage("flush", "--noinput")
        return self.manage_json("bench_setup")

    def checkpoint(self) -> bool:
        """A CHECKPOINT before the delivery window. The intake phases write enough WAL to force
        checkpoints, and one still writing when the window opens makes each of the worker's
        commits wait on the disk: one worker delivered 16 a second in the window and 170 a
        second a minute later (2026-11-27). Needs a superuser (or pg_checkpoint); False when
        refused."""
        import psycopg

        try:
            with psycopg.connect(self.args.pg_url.split("?")[0], autocommit=True) as conn:
                conn.execute("CHECKPOINT")
        except psycopg.Error as exc:
            print(f"  no CHECKPOINT before the delivery window: {exc}", flush=True)
            return False
        return True

    def wait_http(self, url: str) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except urllib.error.HTTPError:
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        raise SystemExit(f"{url} did not answer")

    def wrk(self, setup: dict, tag: str, duration: int) -> dict:
        out = self.tmp / f"wrk-{tag}.json"
        argv = ["wrk", "-t1", f"-c{self.args.conns}", f"-d{duration}s", "--timeout", "10s", "-s", LUA]
        argv += [f"http://127.0.0.1:{self.args.port}", "--", "intake", tag, ",".join(map(str, setup["source_ids"]))]
        env = {**os.environ, "BENCH_TOKEN": setup["bot_key"], "BENCH_WRK_OUT": str(out)}
        subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True)
        figures = json.loads(out.read_text())
        seconds = figures["duration_us"] / 1e6
        return {
            "ok": figures["ok_2xx"],
            "bad": figures["non_2xx"] + sum(figures["errors"].values()),
            "rps": figures["ok_2xx"] / seconds,
            "p50_ms": figures["latency_us"]["p50"] / 1000,
            "p99_ms": figures["latency_us"]["p99"] / 1000,
        }

    def run(self) -> dict:
        args = self.args
        setup = self.reset()
        receiver_url = f"http://127.0.0.1:{args.receiver_port}/hook"
        self.start("receiver", [sys.executable, "-m", "bench.webhook_receiver", str(args.receiver_port)])
        self.manage_json("bench_webhook", "--url", receiver_url, "--active", "off")
        server = self.start(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "minicrm_project.wsgi"],
            PORT=str(args.port),
            **({"WEB_CONCURRENCY": str(args.workers)} if args.workers else {}),
        )
        self.wait_http(f"http://127.0.0.1:{args.port}/healthz")
        self.wrk(setup, "warm", 2)
        phases = []
        for i, active in enumerate(["off", "on", "on", "off"]):
            self.manage_json("bench_webhook", "--active", active)
            load = loadavg()
            figures = self.wrk(setup, f"p{i}{active}", args.duration)
            phases.append({"endpoint": active, "loadavg": load, **figures})
            print(
                f"  intake, endpoint {active:>3}: {figures['rps']:.0f} req/s, p50 {figures['p50_ms']:.1f} ms "
                f"({figures['bad']} errors or non-2xx)",
                flush=True,
            )
        self.stop(server)
        none = [p["rps"] for p in phases if p["endpoint"] == "off"]
        one = [p["rps"] for p in phases if p["endpoint"] == "on"]
        ratio = (sum(one) / len(one)) / (sum(none) / len(none))

        self.manage_json("bench_webhook", "--active", "on")
        checkpoint = self.checkpoint()
        before = self.manage_json("bench_webhook")
        worker = self.start("worker", [sys.executable, "manage.py", "webhook_worker", "--interval", "0.2"])
        load = loadavg()
        started = time.monotonic()
        time.sleep(args.window)
        after = self.manage_json("bench_webhook")
        elapsed = time.monotonic() - started
        self.stop(worker)
        delivered = after["succeeded"] - before["succeeded"]
        delivery = {
            "window_seconds": round(elapsed, 1),
            "delivered": delivered,
            "per_second": round(delivered / elapsed, 1),
            "backlog_before": before,
            "backlog_after": after,
            "loadavg": load,
            "checkpoint_before": checkpoint,
        }
        print(f"  one worker: {delivery['per_second']} deliveries/s over {delivery['window_seconds']} s", flush=True)
        return {
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "database": "postgresql",
            "connections": args.conns,
            "duration": args.duration,
            "intake_phases": phases,
            "intake_ratio_one_endpoint_vs_none": round(ratio, 3),
            "within_10_percent": abs(ratio - 1) <= 0.10,
            "delivery": delivery,
            "cpu_count": os.cpu_count(),
        }

    def close(self) -> None:
        for proc in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(proc)


def markdown(report: dict) -> str:
    lines = [
        f"# Webhooks bench, {report['date']}",
        "",
        f"PostgreSQL, wrk -c{report['connections']}, {report['duration']} s per phase, ABBA order; "
        f"{report['cpu_count']} cores shared with other work (load average shown).",
        "",
        "| phase | active endpoints | req/s | p50 ms | p99 ms | errors | load avg |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, p in enumerate(report["intake_phases"]):
        lines.append(
            f"| {i + 1} | {1 if p['endpoint'] == 'on' else 0} | {p['rps']:.0f} | {p['p50_ms']:.1f} | "
            f"{p['p99_ms']:.1f} | {p['bad']} | {p['loadavg']:.1f} |"
        )
    d = report["delivery"]
    lines += [
        "",
        f"Intake with one active endpoint / with none: **{report['intake_ratio_one_endpoint_vs_none']}** "
        f"(target: within 10 %: {'met' if report['within_10_percent'] else 'NOT met'}).",
        "",
        f"One worker: **{d['per_second']} deliveries/s** ({d['delivered']} in {d['window_seconds']} s, "
        f"load average {d['loadavg']:.1f}); backlog after: {d['backlog_after']['pending_deliveries']} pending, "
        f"{d['backlog_after']['undispatched_events']} events not yet fanned out"
        f"{'' if d.get('checkpoint_before') else ' (no CHECKPOINT before the window)'}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_WEBHOOKS_DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_WEBHOOKS_PORT", "8611")))
    parser.add_argument("--receiver-port", type=int, default=8612)
    parser.add_argument("--duration", type=int, default=10, help="seconds per intake phase")
    parser.add_argument("--window", type=int, default=20, help="seconds the worker is measured")
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--quick", action="store_true", help="3 s phases, a 8 s window")
    parser.add_argument("--no-write", action="store_true")
    # parse_known_args: `make bench` passes BENCH_ARGS meant for bench.run too (--sizes, ...).
    args, _ = parser.parse_known_args()
    if args.quick:
        args.duration, args.window = 3, 8
    bench = Bench(args)
    try:
        report = bench.run()
    finally:
        bench.close()
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        stem = RESULTS / f"webhooks-{report['date'][:10]}"
        stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
        stem.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
