"""Interleaved A/B of the intake: the working tree against the same tree with patches applied,
served side by side against one PostgreSQL database, so both see the same noise.

    python -m bench.compare bench/prototypes/01-permission-one-query.diff [more.diff ...]
        [--combine] [--rounds 4] [--duration 6] [--conns 16]

Each patch is a variant (with --combine, one variant with all of them). Every variant runs
in a scratch copy of the tree on its own port. Each round runs the baseline, the current
intake and every variant's intake for --duration seconds, in an order rotated from round to
round (a drift of the machine's speed does not favour one of them); the figure per variant is
the median over rounds of intake req/s divided by the same round's baseline req/s. At the end
the books are checked (no operator over max_load, stored loads equal the recount).
Uses the database minicrm_bench_ab (dropped and re-created)."""

import argparse
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.load import Load
from bench.servers import ROOT, Servers, pg_db

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/minicrm_bench_ab"


def scratch_copy(patches: list[Path]) -> Path:
    dest = Path(tempfile.mkdtemp(prefix="minicrm-ab-")) / "tree"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "*.sqlite3*"))
    for patch in patches:
        subprocess.run(["patch", "-p1", "-s", "-i", str(patch.resolve())], cwd=dest, check=True)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("patches", nargs="*", type=Path)
    parser.add_argument("--combine", action="store_true", help="one variant with every patch applied")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--port", type=int, default=8640)
    parser.add_argument("--pg-url", default=DEFAULT_URL)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    servers = Servers(workers=args.workers)
    load = Load(servers, duration=args.duration)
    db = pg_db(args.pg_url)
    setup = servers.reset(db)
    groups = [args.patches] if args.combine else [[p] for p in args.patches]
    targets = [("baseline", "baseline", args.port), ("current", "intake", args.port)]
    servers.start(db, args.port)
    for i, group in enumerate(groups, start=1):
        name = "+".join(p.stem for p in group)
        servers.start(db, args.port + i, cwd=scratch_copy(group))
        targets.append((name, "intake", args.port + i))
    results: dict[str, list[dict]] = {name: [] for name, _, _ in targets}
    try:
        for _, mode, port in targets:  # warm-up: every worker imports and connects
            load.wrk(port, mode, args.conns, 2, setup["bot_key"], setup["source_ids"], f"w{port}{mode[0]}")[0].wait()
        for r in range(args.rounds):
            order = targets[r % len(targets) :] + targets[: r % len(targets)]
            for name, mode, port in order:
                run = load.measure(
                    db=db, scenario="ab", mode=mode, conns=args.conns, setup=setup, ports=[port], label=name[:8]
                )
                results[name].append(run)
    finally:
        servers.stop_all()
    print()
    print(f"{'variant':40} {'req/s':>7} {'p50 ms':>7} {'ratio':>6} {'app CPU':>8} {'db CPU':>7}  ratio per round")
    print(f"{'':40} {'median':>7} {'median':>7} {'median':>6} {'ms/req':>8} {'ms/req':>7}")
    base = [d["rps"] for d in results["baseline"]]
    for name, runs in results.items():
        ratios = [d["rps"] / b for d, b in zip(runs, base, strict=True)]
        print(
            f"{name:40} {statistics.median(d['rps'] for d in runs):7.1f} "
            f"{statistics.median(d['latency_ms']['p50'] for d in runs):7.1f} "
            f"{statistics.median(ratios):6.3f} "
            f"{statistics.median(d['cpu_ms_per_request']['app'] for d in runs):8.2f} "
            f"{statistics.median(d['cpu_ms_per_request']['db'] for d in runs):7.2f}  "
            f"{' '.join(f'{x:.2f}' for x in ratios)}"
        )
    checks = [d["check"]["ok"] for runs in results.values() for d in runs if "check" in d]
    print(
        f"non-2xx in all runs: {sum(d['non_2xx'] for runs in results.values() for d in runs)}; "
        f"consistency checks passed: {sum(checks)}/{len(checks)}"
    )


if __name__ == "__main__":
    main()
