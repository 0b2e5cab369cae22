"""Driving load: wrk (`bench/wrk/minicrm.lua`: unique external ids, counts what it sent) against
one or more instances, and what each run cost — req/s, latency, and the CPU per request of the
app's workers and of the database's backends, a cost that a busy neighbour on the machine
barely changes, unlike req/s."""

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from bench import books
from bench.servers import ROOT, Servers

LUA = "bench/wrk/minicrm.lua"
# Reads of the lists and the lead search: staff requests.
STAFF_MODES = ("contacts", "leads", "search")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def loadavg() -> list[float]:
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


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


class Load:
    """The wrk runs of one bench run, against the instances `servers` started."""

    def __init__(self, servers: Servers, *, duration: int, log: Callable[[str], None] = print):
        self.servers = servers
        self.duration = duration
        self.log = log
        self.runs: list[dict] = []
        # The lead search terms (URL-encoded, one a line) for the "search" mode.
        self.search_terms: Path | None = None

    def wrk(self, port: int, mode: str, conns: int, duration: int, token: str, sources: list[int], tag: str):
        out = self.servers.tmp / f"wrk-{tag}-{port}.json"
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
        who = "$STAFF_KEY" if mode in STAFF_MODES else "$BOT_KEY"
        shown = {"BENCH_TOKEN": who, "BENCH_WRK_OUT": "$TMP/" + out.name}
        env = {**os.environ, "BENCH_TOKEN": token, "BENCH_WRK_OUT": str(out)}
        if mode == "search":
            shown["BENCH_SEARCH_TERMS"] = "$TMP/" + self.search_terms.name
            env["BENCH_SEARCH_TERMS"] = str(self.search_terms)
        self.servers.record(argv, shown)
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL), out

    def warm_up(self, setup: dict, ports: list[int], modes=("baseline", "intake")) -> None:
        """Boots every worker's imports and database connection; not recorded."""
        for mode in modes:
            for port in ports:
                proc, _ = self.wrk(
                    port,
                    mode,
                    16,
                    2,
                    setup["staff_key"] if mode in STAFF_MODES else setup["bot_key"],
                    setup["source_ids"],
                    f"warm{mode[0]}{port}",
                )
                proc.wait()

    def measure(self, *, db, scenario, mode, conns, setup, ports, duration=None, check=True, size=None, label=None):
        """One wrk run (or one per port, started together, connections split), then the
        books checked for intake runs. Returns the run's record."""
        duration = duration or self.duration
        token = setup["staff_key"] if mode in STAFF_MODES else setup["bot_key"]
        tag = f"{mode[0]}{len(self.runs)}x{int(time.time()) % 100000}"
        before = books.snapshot(self.servers, db) if mode == "intake" and check else None
        load_before = loadavg()
        app_before = cpu_by_pid(self.servers.worker_pids())
        db_before = cpu_by_pid(self.servers.db_backend_pids(db))
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
        app_cpu = cpu_delta(app_before, cpu_by_pid(self.servers.worker_pids()))
        db_cpu = cpu_delta(db_before, cpu_by_pid(self.servers.db_backend_pids(db)))
        seconds = max(p["duration_us"] for p in parts) / 1e6
        sent = sum(p["sent"] for p in parts)
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
            "sent": sent,
            "ok_2xx": sum(p["ok_2xx"] for p in parts),
            "non_2xx": sum(p["non_2xx"] for p in parts),
            "socket_errors": {k: sum(p["errors"][k] for p in parts) for k in ("connect", "read", "write", "timeout")},
            "rps": round(sum(p["completed"] / (p["duration_us"] / 1e6) for p in parts), 1),
            # With several wrk processes the percentiles cannot be merged: the worst is shown.
            "latency_ms": {
                k: round(max(p["latency_us"][k] for p in parts) / 1000, 1) for k in ("p50", "p95", "p99", "max")
            },
            "cpu_ms_per_request": {
                "app": round(app_cpu * 1000 / max(1, sent), 2),
                "db": round(db_cpu * 1000 / max(1, sent), 2),
            },
            "per_instance": parts if len(parts) > 1 else None,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
        }
        if before is not None:
            run["check"] = books.check_intake_run(self.servers, db, before=before, run=run)
        self.runs.append(run)
        lat = run["latency_ms"]
        self.log(
            f"  {db['name']:10} {run['label']:8} c={conns:<3} x{len(ports)}: {run['rps']:7.1f} req/s  "
            f"p50 {lat['p50']} p95 {lat['p95']} p99 {lat['p99']} ms  non-2xx {run['non_2xx']}  "
            f"cpu/req app {run['cpu_ms_per_request']['app']} db {run['cpu_ms_per_request']['db']} ms  "
            f"load {load_after[0]}" + (f"  {books.verdict(run['check'])}" if "check" in run else "")
        )
        return run
