"""The benchmark runner behind `make bench`.

    python -m bench.run [--duration 10] [--sizes 1000,100000,1000000] [--scenarios ...] [--quick]

Starts the service the way production does (gunicorn, `gunicorn.conf.py`, its worker rule)
with the bench settings (the product plus the bare-insert baseline endpoint), drives it with
wrk (`bench/wrk/minicrm.lua`: unique external ids, counts what it sent), checks the books
after every intake run, and writes `bench/results/<date>.md` and `.json` with every figure
and every command. It also refreshes the "Latest figures" section of docs/performance.md.

Scenarios, in order:
  1. PostgreSQL, one instance: baseline and intake at 16 connections (ABBA order, so a linear
     drift of the machine's speed cancels out of the ratio), then at 64.
  2. PostgreSQL, two instances on two ports, one database, the load split between them.
  3. PostgreSQL growth: 10^3, 10^5, 10^6 contacts bulk-loaded (SQL, not the API); at each
     size the first page of the contact and lead lists and the intake, p50 compared.
  4. and 5. The same as 1 and 3 on the embedded SQLite.

Only databases whose name starts with `minicrm_bench` are dropped and re-created.
"""

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import shlex
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
DOC = ROOT / "docs" / "performance.md"
LUA = "bench/wrk/minicrm.lua"
SETTINGS = "minicrm_project.settings.bench"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench"
DOC_START = "<!-- bench:latest:start -->"
DOC_END = "<!-- bench:latest:end -->"
SCENARIOS = ["main-pg", "two-pg", "growth-pg", "main-sqlite", "growth-sqlite"]


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each live process has used so far."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return found


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings. A process that started in between (a database
    connection re-opened after CONN_MAX_AGE) counts in full; one that ended in between loses
    only its last moments, never makes the sum negative."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="minicrm-bench-"))
        self.commands: list[str] = []
        self.runs: list[dict] = []
        self.loads: list[dict] = []
        self.servers: list[subprocess.Popen] = []
        self.cores = multiprocessing.cpu_count()
        # gunicorn.conf.py's rule unless WEB_CONCURRENCY is given.
        self.workers = int(args.workers or os.environ.get("WEB_CONCURRENCY") or 2 * self.cores + 1)
        self.started = time.time()

    # --- processes --------------------------------------------------------------------------

    def _env(self, db: dict, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SQLITE_PATH", "WEB_CONCURRENCY")}
        env.update(DJANGO_SETTINGS_MODULE=SETTINGS, PYTHONUNBUFFERED="1", DJANGO_LOG_LEVEL="WARNING")
        env.update(db["env"])
        env.update(extra)
        return env

    def _record(self, argv: list[str], env_shown: dict) -> None:
        shown = " ".join(f"{k}={shlex.quote(str(v))}" for k, v in env_shown.items())
        self.commands.append(f"{shown} {shlex.join(argv)}".strip())

    def manage(self, db: dict, *argv: str) -> str:
        cmd = [sys.executable, "manage.py", *argv]
        self._record(["python", "manage.py", *argv], {**db["shown"], "DJANGO_SETTINGS_MODULE": SETTINGS})
        out = subprocess.run(cmd, cwd=ROOT, env=self._env(db), capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"manage.py {' '.join(argv)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout.strip()

    def manage_json(self, db: dict, *argv: str) -> dict:
        return json.loads(self.manage(db, *argv).splitlines()[-1])

    def start_server(self, db: dict, port: int, cwd: Path = ROOT) -> subprocess.Popen:
        env = self._env(db, PORT=str(port), WEB_CONCURRENCY=str(self.workers))
        self._record(
            ["gunicorn", "-c", "gunicorn.conf.py", "minicrm_project.wsgi"],
            {**db["shown"], "DJANGO_SETTINGS_MODULE": SETTINGS, "PORT": port, "WEB_CONCURRENCY": self.workers},
        )
        log = open(self.tmp / f"gunicorn-{port}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "minicrm_project.wsgi"],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped by its id, nothing else
        )
        self.servers.append(proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"gunicorn on port {port} exited; see {log.name}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/baseline/", timeout=2)
            except urllib.error.HTTPError:
                return proc  # 401 or 405: Django answers
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
                continue
            return proc
        raise SystemExit(f"gunicorn on port {port} did not answer within 30 s")

    def stop_servers(self) -> None:
        for proc in self.servers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.servers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.servers = []

    # --- databases --------------------------------------------------------------------------

    def pg_db(self, url: str) -> dict:
        return {"name": "postgresql", "env": {"DATABASE_URL": url}, "shown": {"DATABASE_URL": url}, "url": url}

    def sqlite_db(self, name: str) -> dict:
        path = self.tmp / f"{name}.sqlite3"
        return {"name": "sqlite", "env": {"SQLITE_PATH": str(path)}, "shown": {"SQLITE_PATH": f"$TMP/{path.name}"}}

    def reset(self, db: dict) -> dict:
        """A fresh, migrated database with the bench's routing set-up; returns the set-up."""
        if db["name"] == "postgresql":
            import psycopg

            dbname = db["url"].rsplit("/", 1)[1].split("?")[0]
            if not dbname.startswith("minicrm_bench"):
                raise SystemExit(f"refusing to drop {dbname!r}: bench databases are named minicrm_bench*")
            admin_url = db["url"].rsplit("/", 1)[0] + "/postgres"
            self.commands.append(
                f"psql -c 'DROP DATABASE IF EXISTS {dbname} WITH (FORCE)' -c 'CREATE DATABASE {dbname}'"
            )
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{dbname}"')
        else:
            path = Path(db["env"]["SQLITE_PATH"])
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.manage(db, "migrate", "--noinput", "-v0")
        return self.manage_json(db, "bench_setup")

    def bulk_load(self, db: dict, contacts: int) -> dict:
        t0 = time.time()
        result = self.manage_json(db, "bench_bulk_load", "--contacts", str(contacts))
        result.update(db=db["name"], target=contacts, seconds=round(time.time() - t0, 1))
        self.loads.append(result)
        self.log(f"  bulk load {db['name']} to {contacts:,} contacts: {result['seconds']} s")
        return result

    def settle(self, db: dict, last_id: int | None = None) -> dict:
        """Wait until requests that were in flight when wrk stopped have committed."""
        snap = self.manage_json(db, "bench_snapshot")
        for _ in range(20):
            time.sleep(0.5)
            again = self.manage_json(db, "bench_snapshot")
            if again == snap:
                return again
            snap = again
        return snap

    # --- load -------------------------------------------------------------------------------

    def wrk(self, port: int, mode: str, conns: int, duration: int, token: str, sources: list[int], tag: str):
        out = self.tmp / f"wrk-{tag}-{port}.json"
        argv = [
            "wrk",
            "-t1",
            f"-c{conns}",
            f"-d{duration}s",
            "--timeout",
            "10s",
            "-s",
            LUA,
            f"http://127.0.0.1:{port}",
            "--",
            mode,
            tag,
            ",".join(map(str, sources)),
        ]
        who = "$STAFF_KEY" if mode in ("contacts", "leads") else "$BOT_KEY"
        self._record(argv, {"BENCH_TOKEN": who, "BENCH_WRK_OUT": "$TMP/" + out.name})
        env = {**os.environ, "BENCH_TOKEN": token, "BENCH_WRK_OUT": str(out)}
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL), out

    def measure(self, *, db, scenario, mode, conns, setup, ports, duration=None, check=True, size=None, label=None):
        """One wrk run (or one per port, started together, connections split), then the
        consistency check for intake runs. Returns the run's record."""
        duration = duration or self.args.duration
        token = setup["staff_key"] if mode in ("contacts", "leads") else setup["bot_key"]
        tag = f"{mode[0]}{len(self.runs)}x{int(time.time()) % 100000}"
        before = self.manage_json(db, "bench_snapshot") if mode == "intake" and check else None
        load_before = loadavg()
        # CPU per request, of the app's workers and of the database's backends: a cost that a
        # busy neighbour on the machine barely changes, unlike req/s.
        app_before = cpu_by_pid([pid for proc in self.servers for pid in children(proc.pid)])
        db_before = cpu_by_pid(self.db_backend_pids(db))
        share = [conns // len(ports) + (1 if i < conns % len(ports) else 0) for i in range(len(ports))]
        procs = [
            self.wrk(port, mode, c, duration, token, setup["source_ids"], f"{tag}p{i}")
            for i, (port, c) in enumerate(zip(ports, share, strict=True))
        ]
        parts = []
        for proc, out in procs:
            if proc.wait() != 0:
                raise SystemExit(f"wrk failed (exit {proc.returncode})")
            parts.append(json.loads(out.read_text()))
        load_after = loadavg()
        app_cpu = cpu_delta(app_before, cpu_by_pid([pid for proc in self.servers for pid in children(proc.pid)]))
        db_cpu = cpu_delta(db_before, cpu_by_pid(self.db_backend_pids(db)))
        seconds = max(p["duration_us"] for p in parts) / 1e6
        run = {
            "id": len(self.runs) + 1,
            "db": db["name"],
            "scenario": scenario,
            "label": label or mode,
            "mode": mode,
            "connections": conns,
            "instances": len(ports),
            "duration_s": round(seconds, 2),
            "size": size,
            "completed": sum(p["completed"] for p in parts),
            "sent": sum(p["sent"] for p in parts),
            "ok_2xx": sum(p["ok_2xx"] for p in parts),
            "non_2xx": sum(p["non_2xx"] for p in parts),
            "socket_errors": {k: sum(p["errors"][k] for p in parts) for k in ("connect", "read", "write", "timeout")},
            "rps": round(sum(p["completed"] / (p["duration_us"] / 1e6) for p in parts), 1),
            # With several wrk processes the percentiles cannot be merged: the worst is shown.
            "latency_ms": {
                k: round(max(p["latency_us"][k] for p in parts) / 1000, 1) for k in ("p50", "p95", "p99", "max")
            },
            "cpu_ms_per_request": {
                "app": round(app_cpu * 1000 / max(1, sum(p["sent"] for p in parts)), 2),
                "db": round(db_cpu * 1000 / max(1, sum(p["sent"] for p in parts)), 2),
            },
            "per_instance": parts if len(parts) > 1 else None,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
        }
        if before is not None:
            self.settle(db)
            run["check"] = self.manage_json(
                db, "bench_check", "--after-contact-id", str(before["last_contact_id"]), "--sent", str(run["sent"])
            )
            # Every 2xx the client saw is a contact; the ones in flight at the stop are
            # contacts the client never heard about, so created may exceed 2xx by at most that.
            run["check"]["ok"] = run["check"]["ok"] and run["ok_2xx"] <= run["check"]["created"]
        self.runs.append(run)
        lat = run["latency_ms"]
        verdict = ""
        if "check" in run:
            c = run["check"]
            verdict = (
                f"  check: sent {c['sent']} = created {c['created']} = assigned {c['assigned']} + waiting "
                f"{c['waiting']}, overshoot {len(c['overshoot'])}, load mismatches {len(c['load_mismatches'])}"
                f" -> {'OK' if c['ok'] else 'FAILED'}"
            )
        self.log(
            f"  {db['name']:10} {run['label']:8} c={conns:<3} x{len(ports)}: {run['rps']:7.1f} req/s  "
            f"p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} ms  non-2xx {run['non_2xx']}  "
            f"cpu/req app {run['cpu_ms_per_request']['app']} db {run['cpu_ms_per_request']['db']} ms  "
            f"load {load_after[0]}{verdict}"
        )
        return run

    def db_backend_pids(self, db: dict) -> list[int]:
        """PostgreSQL backends serving the bench database (SQLite runs in the workers)."""
        if db["name"] != "postgresql":
            return []
        import psycopg

        dbname = db["url"].rsplit("/", 1)[1].split("?")[0]
        with psycopg.connect(db["url"].rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [dbname]).fetchall()
        return [pid for (pid,) in rows]

    def warm_up(self, db, setup, ports, modes=("baseline", "intake")):
        """Boots every worker's imports and database connection; not recorded."""
        for mode in modes:
            for port in ports:
                proc, _ = self.wrk(
                    port,
                    mode,
                    16,
                    2,
                    setup["bot_key"] if mode != "contacts" else setup["staff_key"],
                    setup["source_ids"],
                    f"warm{mode[0]}{port}",
                )
                proc.wait()

    def log(self, msg: str) -> None:
        print(f"[{time.time() - self.started:6.0f}s] {msg}", flush=True)

    # --- scenarios --------------------------------------------------------------------------

    def main_cases(self, db: dict, port: int, measure: bool = True) -> None:
        setup = self.reset(db)
        self.main_setup = setup
        if not measure:
            return
        self.start_server(db, port)
        try:
            self.warm_up(db, setup, [port])
            for mode in ("baseline", "intake", "intake", "baseline"):
                self.measure(db=db, scenario="main", mode=mode, conns=16, setup=setup, ports=[port])
            for mode in ("baseline", "intake"):
                self.measure(db=db, scenario="main", mode=mode, conns=64, setup=setup, ports=[port])
        finally:
            self.stop_servers()

    def two_instances(self, db: dict, ports: list[int]) -> None:
        """Two app servers, one database, the connections split evenly between them."""
        setup = self.main_setup
        for port in ports:
            self.start_server(db, port)
        try:
            self.warm_up(db, setup, ports, modes=("intake",))
            for conns in (16, 64):
                self.measure(db=db, scenario="two_instances", mode="intake", conns=conns, setup=setup, ports=ports)
        finally:
            self.stop_servers()

    def growth(self, db: dict, port: int) -> None:
        setup = self.reset(db)
        self.bulk_load(db, self.args.sizes[0])
        self.start_server(db, port)
        try:
            for size in self.args.sizes:
                if size != self.args.sizes[0]:
                    self.bulk_load(db, size)
                    # A big load invalidates cached plans' statistics and pages; let a short
                    # warm-up pull the indexes back into memory as production would have them.
                else:
                    self.warm_up(db, setup, [port], modes=("contacts", "intake"))
                snap = self.manage_json(db, "bench_snapshot")
                # The baseline at each size normalises the p50s for the machine's drift
                # between sizes (its cost does not depend on the contact table).
                for mode in ("contacts", "leads", "intake", "baseline"):
                    self.measure(
                        db=db, scenario="growth", mode=mode, conns=16, setup=setup, ports=[port], size=snap["contacts"]
                    )
        finally:
            self.stop_servers()

    # --- report -----------------------------------------------------------------------------

    def summary(self) -> dict:
        s: dict = {"ratios": {}, "growth": {}, "two_instances": {}, "targets": {}}
        for dbname in ("postgresql", "sqlite"):
            for conns in (16, 64):
                main = [r for r in self.runs if (r["scenario"], r["db"], r["connections"]) == ("main", dbname, conns)]
                intake = [r["rps"] for r in main if r["mode"] == "intake"]
                base = [r["rps"] for r in main if r["mode"] == "baseline"]
                if intake and base:
                    s["ratios"][f"{dbname}_{conns}"] = {
                        "intake_rps": round(sum(intake) / len(intake), 1),
                        "baseline_rps": round(sum(base) / len(base), 1),
                        "ratio": round(sum(intake) / len(intake) / (sum(base) / len(base)), 3),
                    }
            grow = [r for r in self.runs if r["scenario"] == "growth" and r["db"] == dbname]
            if grow:
                g = {}
                base = [r for r in grow if r["mode"] == "baseline"]
                for mode in ("intake", "contacts", "leads", "baseline"):
                    rows = [r for r in grow if r["mode"] == mode]
                    if len(rows) >= 2:
                        g[mode] = {
                            "sizes": [r["size"] for r in rows],
                            "p50_ms": [r["latency_ms"]["p50"] for r in rows],
                            "rps": [r["rps"] for r in rows],
                            "ratio_p50_last_first": round(
                                rows[-1]["latency_ms"]["p50"] / rows[0]["latency_ms"]["p50"], 3
                            ),
                        }
                        if mode != "baseline" and len(base) == len(rows):
                            # The same ratio with each p50 divided by the baseline's p50
                            # measured at the same size, minutes apart on a shared machine.
                            g[mode]["ratio_normalised_by_baseline"] = round(
                                (rows[-1]["latency_ms"]["p50"] / base[-1]["latency_ms"]["p50"])
                                / (rows[0]["latency_ms"]["p50"] / base[0]["latency_ms"]["p50"]),
                                3,
                            )
                s["growth"][dbname] = g
        two = [r for r in self.runs if r["scenario"] == "two_instances"]
        for r in two:
            single = s["ratios"].get(f"postgresql_{r['connections']}", {}).get("intake_rps")
            s["two_instances"][str(r["connections"])] = {"rps": r["rps"], "single_instance_rps": single}
        pg16 = s["ratios"].get("postgresql_16", {}).get("ratio")
        pg_growth = {k: v for k, v in s["growth"].get("postgresql", {}).items() if k != "baseline"}
        checks = [r["check"]["ok"] for r in self.runs if "check" in r]
        s["targets"] = {
            "intake_vs_baseline_pg16_ge_0.5": {"value": pg16, "met": pg16 is not None and pg16 >= 0.5},
            "growth_ratios_le_1.2": {
                "value": {m: v["ratio_p50_last_first"] for m, v in pg_growth.items()},
                "met": bool(pg_growth) and all(v["ratio_p50_last_first"] <= 1.2 for v in pg_growth.values()),
            },
            "zero_non_2xx": {
                "value": sum(r["non_2xx"] + sum(r["socket_errors"].values()) for r in self.runs),
                "met": all(r["non_2xx"] == 0 and not any(r["socket_errors"].values()) for r in self.runs),
            },
            "consistency_every_intake_run": {"value": f"{sum(checks)}/{len(checks)}", "met": all(checks)},
        }
        return s

    def machine(self) -> dict:
        model = ""
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem_gb = None
        with contextlib.suppress(OSError, ValueError, IndexError):
            mem_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024, 1)
        return {"cores": self.cores, "cpu": model, "memory_gb": mem_gb, "os": platform.platform()}

    def versions(self, pg_url: str) -> dict:
        import sqlite3

        import django
        import gunicorn
        import psycopg
        import rest_framework

        v = {
            "python": platform.python_version(),
            "django": django.get_version(),
            "djangorestframework": rest_framework.VERSION,
            "gunicorn": gunicorn.__version__,
            "psycopg": psycopg.__version__,
            "sqlite": sqlite3.sqlite_version,
        }
        wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        v["wrk"] = (wrk_v.stdout + wrk_v.stderr).split("Copyright")[0].strip()
        try:
            with psycopg.connect(pg_url) as conn:
                v["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
                v["postgresql_settings"] = dict(
                    conn.execute(
                        "SELECT name, setting FROM pg_settings WHERE name IN "
                        "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections')"
                    ).fetchall()
                )
        except psycopg.Error:
            pass
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        v["git_commit"] = git.stdout.strip()
        return v


def fmt_table(runs: list[dict], with_size: bool = False) -> list[str]:
    head = "| # | db | case | conns | inst. |" + (" contacts |" if with_size else "")
    head += (
        " req/s | p50 ms | p95 ms | p99 ms | non-2xx | socket err. | CPU ms/req app + db | load avg (after) | check |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in runs:
        c = r.get("check")
        check = "—"
        if c:
            check = (
                f"{'OK' if c['ok'] else 'FAILED'}: sent {c['sent']} = {c['assigned']} assigned + {c['waiting']} "
                f"waiting; overshoot {len(c['overshoot'])}; load mismatches {len(c['load_mismatches'])}"
            )
        lat = r["latency_ms"]
        cpu = r["cpu_ms_per_request"]
        row = f"| {r['id']} | {r['db']} | {r['label']} | {r['connections']} | {r['instances']} |"
        if with_size:
            row += f" {r['size']:,} |"
        row += (
            f" {r['rps']} | {lat['p50']} | {lat['p95']} | {lat['p99']} | {r['non_2xx']} |"
            f" {sum(r['socket_errors'].values())} | {cpu['app']} + {cpu['db']} | {r['loadavg_after'][0]} | {check} |"
        )
        lines.append(row)
    return lines


def markdown(report: dict) -> str:
    s = report["summary"]
    runs = report["runs"]
    m = report["machine"]
    out = [
        f"# Benchmark results {report['date']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, {m['os']}. "
        f"Load average at start {report['loadavg_start']}, at end {report['loadavg_end']} "
        "(the machine is shared: other test suites run at the same time, so absolute figures drift; "
        "the intake/baseline ratio is measured in the same run for that reason).",
        f"gunicorn: {report['config']['workers']} sync workers per instance "
        f"(rule: {report['config']['worker_rule']}); wrk: 1 thread, {report['config']['duration_s']} s per run. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items() if not isinstance(v, dict))}.",
        f"Whole run: {report['elapsed_s']} s.",
        "",
        "## Headline: intake / baseline (same server, same run)",
        "",
        "| db | conns | intake req/s | baseline req/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for key, v in s["ratios"].items():
        dbname, conns = key.rsplit("_", 1)
        out.append(f"| {dbname} | {conns} | {v['intake_rps']} | {v['baseline_rps']} | **{v['ratio']}** |")
    out += ["", "## Growth: p50 at the largest size / p50 at the smallest", ""]
    out += ["| db | endpoint | contacts in the table | p50 ms | req/s | ratio |", "|---|---|---|---|---|---|"]
    for dbname, g in s["growth"].items():
        for mode, v in g.items():
            sizes = " → ".join(f"{x:,}" for x in v["sizes"])
            p50 = " → ".join(str(x) for x in v["p50_ms"])
            rps = " → ".join(str(x) for x in v["rps"])
            out.append(f"| {dbname} | {mode} | {sizes} | {p50} | {rps} | **{v['ratio_p50_last_first']}** |")
    if s["two_instances"]:
        out += ["", "## Two app servers, one PostgreSQL", "", "| conns (split) | req/s, two instances | req/s, one |"]
        out += ["|---|---|---|"]
        for conns, v in s["two_instances"].items():
            out.append(f"| {conns} | {v['rps']} | {v['single_instance_rps']} |")
    out += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for name, t in s["targets"].items():
        out.append(f"| {name} | {t['value']} | {'yes' if t['met'] else '**no**'} |")
    main = [r for r in runs if r["scenario"] in ("main", "two_instances")]
    grow = [r for r in runs if r["scenario"] == "growth"]
    out += ["", "## Every run", "", *fmt_table(main), "", *fmt_table(grow, with_size=True)]
    loads = "; ".join(f"{x['db']} to {x['contacts']:,} contacts in {x['seconds']} s" for x in report["loads"])
    out += ["", f"Bulk loads: {loads}.", "", "## Commands", "", "```", *report["commands"], "```", ""]
    return "\n".join(out)


def update_doc(report: dict, md_name: str) -> None:
    if not DOC.exists():
        return
    text = DOC.read_text()
    if DOC_START not in text or DOC_END not in text:
        return
    s = report["summary"]
    lines = [
        DOC_START,
        f"Run {report['date']} (`bench/results/{md_name}`), {report['machine']['cores']} cores, "
        f"load average {report['loadavg_start'][0]} at start, {report['loadavg_end'][0]} at end, "
        f"{report['config']['workers']} gunicorn sync workers.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for key, v in s["ratios"].items():
        target = "≥ 0.5" if key == "postgresql_16" else ""
        lines.append(
            f"| intake / baseline, {key.replace('_', ', ')} conns | {v['ratio']} "
            f"({v['intake_rps']} / {v['baseline_rps']} req/s) | {target} |"
        )
    for dbname, g in s["growth"].items():
        for mode, v in g.items():
            normalised = v.get("ratio_normalised_by_baseline")
            lines.append(
                f"| growth p50 {v['sizes'][0]:,} → {v['sizes'][-1]:,} contacts, {mode}, {dbname} | "
                f"{v['ratio_p50_last_first']} ({v['p50_ms'][0]} → {v['p50_ms'][-1]} ms"
                + (f"; ÷ baseline: {normalised}" if normalised is not None else "")
                + f") | {'' if mode == 'baseline' else '≤ 1.2'} |"
            )
    for conns, v in s["two_instances"].items():
        lines.append(
            f"| two instances, {conns} conns split, intake req/s | {v['rps']} (one: {v['single_instance_rps']}) | |"
        )
    t = s["targets"]
    lines.append(f"| non-2xx and socket errors, all runs | {t['zero_non_2xx']['value']} | 0 |")
    lines.append(f"| consistency checks passed | {t['consistency_every_intake_run']['value']} | all |")
    lines.append(DOC_END)
    before, rest = text.split(DOC_START, 1)
    after = rest.split(DOC_END, 1)[1]
    DOC.write_text(before + "\n".join(lines) + after)


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
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 s runs, sizes 1000,10000")
    parser.add_argument("--no-write", action="store_true", help="print only; write no results, touch no doc")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.sizes = 3, "1000,10000"
    args.sizes = [int(x) for x in args.sizes.split(",")]

    bench = Bench(args)
    start_load = loadavg()
    pg = bench.pg_db(args.pg_url)
    port = args.port
    bench.log(f"{bench.cores} cores, load average {start_load}, {bench.workers} workers; scratch dir {bench.tmp}")
    wanted = args.scenarios.split(",")
    unknown = set(wanted) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    try:
        if "main-pg" in wanted or "two-pg" in wanted:
            bench.log("PostgreSQL: baseline and intake, one instance")
            bench.main_cases(pg, port, measure="main-pg" in wanted)
        if "two-pg" in wanted:
            bench.log("PostgreSQL: two instances, one database")
            bench.two_instances(pg, [port + 1, port + 2])
        if "growth-pg" in wanted:
            bench.log("PostgreSQL: growth")
            bench.growth(pg, port + 3)
        if "main-sqlite" in wanted:
            bench.log("SQLite: baseline and intake")
            bench.main_cases(bench.sqlite_db("main"), port + 4)
        if "growth-sqlite" in wanted:
            bench.log("SQLite: growth")
            bench.growth(bench.sqlite_db("growth"), port + 5)
    finally:
        bench.stop_servers()

    now = datetime.datetime.now(datetime.UTC)
    report = {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": bench.machine(),
        "versions": bench.versions(args.pg_url),
        "config": {
            "workers": bench.workers,
            "worker_rule": "2 x cores + 1 sync workers (gunicorn.conf.py), overridable with WEB_CONCURRENCY",
            "duration_s": args.duration,
            "sizes": args.sizes,
            "wrk": "1 thread; --timeout 10s; bench/wrk/minicrm.lua",
        },
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "elapsed_s": round(time.time() - bench.started),
        "summary": bench.summary(),
        "loads": bench.loads,
        "runs": bench.runs,
        "commands": bench.commands,
    }
    for name, t in report["summary"]["targets"].items():
        bench.log(f"target {name}: {t['value']} -> {'met' if t['met'] else 'MISSED'}")
    if args.no_write:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = now.strftime("%Y-%m-%d")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    update_doc(report, f"{stem}.md")
    bench.log(f"wrote bench/results/{stem}.md and .json ({report['elapsed_s']} s in all)")


if __name__ == "__main__":
    main()
