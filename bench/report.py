"""Writing reports: the summary of a bench run (the intake/baseline ratios, growth, two
instances, the targets), `bench/results/<date>.md` and `.json` with every figure and every
command, and the "Latest figures" section of docs/performance.md."""

import contextlib
import json
import os
import platform
import subprocess
from pathlib import Path

from bench import books
from bench.servers import ROOT
from bench.targets import headline, headline_targets, median

RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
DOC_START = "<!-- bench:latest:start -->"
DOC_END = "<!-- bench:latest:end -->"


def _median_per_size(rows: list[dict]) -> list[dict]:
    """One row per size, smallest first: the p50 and req/s are the medians over the size's
    rounds (the growth scenario alternates its reads over the sizes, bench.run)."""
    by_size: dict[int, list[dict]] = {}
    for r in rows:
        by_size.setdefault(r["size"], []).append(r)
    return [
        {
            "size": size,
            "rounds": len(group),
            "latency_ms": {"p50": median([r["latency_ms"]["p50"] for r in group])},
            "rps": round(median([r["rps"] for r in group]), 1),
        }
        for size, group in sorted(by_size.items())
    ]


def summary(runs: list[dict], inprocess: list[dict] | None = None) -> dict:
    """The headline figures and the targets, computed from every run."""
    s: dict = {"ratios": {}, "growth": {}, "two_instances": {}, "targets": {}, "headline": {}, "headline_today": {}}
    for dbname in ("postgresql", "sqlite"):
        for key, scenario in (("headline", "main"), ("headline_today", "main_today")):
            found = headline(runs, dbname, scenario)
            if found:
                s[key][dbname] = found
    for dbname in ("postgresql", "sqlite"):
        for conns in (16, 64):
            main = [r for r in runs if (r["scenario"], r["db"], r["connections"]) == ("main", dbname, conns)]
            intake = [r["rps"] for r in main if r["mode"] == "intake"]
            base = [r["rps"] for r in main if r["mode"] == "baseline"]
            if intake and base:
                s["ratios"][f"{dbname}_{conns}"] = {
                    "intake_rps": round(sum(intake) / len(intake), 1),
                    "baseline_rps": round(sum(base) / len(base), 1),
                    "ratio": round(sum(intake) / len(intake) / (sum(base) / len(base)), 3),
                }
        grow = [r for r in runs if r["scenario"] == "growth" and r["db"] == dbname]
        if grow:
            g = {}
            base = _median_per_size([r for r in grow if r["mode"] == "baseline"])
            for mode in ("intake", "contacts", "leads", "search", "baseline"):
                rows = _median_per_size([r for r in grow if r["mode"] == mode])
                if len(rows) >= 2:
                    g[mode] = {
                        "sizes": [r["size"] for r in rows],
                        "p50_ms": [r["latency_ms"]["p50"] for r in rows],
                        "rps": [r["rps"] for r in rows],
                        "rounds": rows[0]["rounds"],
                        "ratio_p50_last_first": round(rows[-1]["latency_ms"]["p50"] / rows[0]["latency_ms"]["p50"], 3),
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
    two = [r for r in runs if r["scenario"] == "two_instances"]
    for r in two:
        single = s["ratios"].get(f"postgresql_{r['connections']}", {}).get("intake_rps")
        s["two_instances"][str(r["connections"])] = {"rps": r["rps"], "single_instance_rps": single}
    pg16 = s["ratios"].get("postgresql_16", {}).get("ratio")
    pg_growth = {k: v for k, v in s["growth"].get("postgresql", {}).items() if k != "baseline"}
    # The reference tree's runs (bench.reference) are "today's" figures, not this tree's books.
    ours = [r for r in runs if r["scenario"] != "main_today"]
    checks = [r["check"]["ok"] for r in ours if "check" in r]
    s["targets"] = {
        "intake_vs_baseline_pg16_ge_0.5": {"value": pg16, "met": pg16 is not None and pg16 >= 0.5},
        "growth_ratios_le_1.2": {
            "value": {m: v["ratio_p50_last_first"] for m, v in pg_growth.items()},
            "met": bool(pg_growth) and all(v["ratio_p50_last_first"] <= 1.2 for v in pg_growth.values()),
        },
        "zero_non_2xx": {
            "value": sum(r["non_2xx"] + sum(r["socket_errors"].values()) for r in ours),
            "met": all(r["non_2xx"] == 0 and not any(r["socket_errors"].values()) for r in ours),
        },
        "consistency_every_intake_run": {"value": f"{sum(checks)}/{len(checks)}", "met": all(checks)},
        **headline_targets(s, inprocess or []),
    }
    return s


def machine() -> dict:
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
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": mem_gb, "os": platform.platform()}


def versions(pg_url: str) -> dict:
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
        check = books.table_cell(c)
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
        f"gunicorn: {report['config']['workers']} workers per instance "
        f"(rule: {report['config']['worker_rule']}); wrk: 1 thread, {report['config']['duration_s']} s per run. "
        f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items() if not isinstance(v, dict))}.",
        f"Whole run: {report['elapsed_s']} s.",
        "",
        "## Headline: intake / healthz (same server, same run, `make run` settings: throttling on)",
        "",
        "| db | round | intake req/s | healthz req/s | ratio | intake p99 ms |",
        "|---|---|---|---|---|---|",
        *[
            f"| {dbname} | {p['round']} | {p['intake_rps']} | {p['healthz_rps']} | **{p['ratio']}** "
            f"| {p['intake_p99_ms']} |"
            for dbname, h in s["headline"].items()
            for p in h["rounds"]
        ],
        "",
        *[
            f"Today (ec4c142, bench.reference), {dbname}, in the same rounds: intake / healthz "
            + ", ".join(f"{p['intake_rps']} / {p['healthz_rps']} = **{p['ratio']}**" for p in h["rounds"])
            + f" (median {h['ratio_median']})."
            for dbname, h in s["headline_today"].items()
        ],
        "",
        "In one process (bench.profile, make-run settings): "
        + "; ".join(
            f"{r.get('tree', 'now')}, {r.get('sources', 'four')} sources: app {r['app_cpu_ms']} ms, "
            f"PostgreSQL {r['db_cpu_ms']} ms CPU, "
            f"{r['statements']} statements, "
            f"lock hold p50 {r['lock_hold_p50_ms']} / p99 {r['lock_hold_p99_ms']} ms "
            f"(of which the commit {r.get('commit_p50_ms')} ms)"
            for r in report.get("inprocess") or []
        )
        + ".",
        "",
        "## Intake / baseline (same server, same run)",
        "",
        "| db | conns | intake req/s | baseline req/s | ratio |",
        "|---|---|---|---|---|",
    ]
    for key, v in s["ratios"].items():
        dbname, conns = key.rsplit("_", 1)
        out.append(f"| {dbname} | {conns} | {v['intake_rps']} | {v['baseline_rps']} | **{v['ratio']}** |")
    out += ["", "## Growth: p50 at the largest size / p50 at the smallest", ""]
    out += [
        "One database per size; the reads alternate over the sizes, and their p50 and req/s are the medians "
        "of their rounds.",
        "",
    ]
    out += [
        "| db | endpoint | contacts in the table | p50 ms | req/s | rounds | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for dbname, g in s["growth"].items():
        for mode, v in g.items():
            sizes = " → ".join(f"{x:,}" for x in v["sizes"])
            p50 = " → ".join(str(x) for x in v["p50_ms"])
            rps = " → ".join(str(x) for x in v["rps"])
            ratio = v["ratio_p50_last_first"]
            out.append(f"| {dbname} | {mode} | {sizes} | {p50} | {rps} | {v.get('rounds', 1)} | **{ratio}** |")
    if s["two_instances"]:
        out += ["", "## Two app servers, one PostgreSQL", "", "| conns (split) | req/s, two instances | req/s, one |"]
        out += ["|---|---|---|"]
        for conns, v in s["two_instances"].items():
            out.append(f"| {conns} | {v['rps']} | {v['single_instance_rps']} |")
    out += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for name, t in s["targets"].items():
        out.append(f"| {name} | {t['value']} | {'yes' if t['met'] else '**no**'} |")
    main = [r for r in runs if r["scenario"] in ("main", "main_today", "two_instances")]
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
        f"{report['config']['workers']} gunicorn workers.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
    ]
    for dbname, h in s["headline"].items():
        today = s["headline_today"].get(dbname)
        lines.append(
            f"| intake / healthz, {dbname}, 16 conns, {len(h['rounds'])} rounds | median {h['ratio_median']} "
            f"(min {h['ratio_min']}, max {h['ratio_max']}); intake p99 {h['intake_p99_16_ms']} ms"
            + (f"; today (ec4c142) {today['ratio_median']}" if today else "")
            + " | "
            + ("≥ 0.30, p99 ≤ 150 ms |" if dbname == "postgresql" else "not below today's |")
        )
        if h["intake_rps_64"] is not None:
            lines.append(
                f"| intake, {dbname}, 64 conns | {h['intake_rps_64']} req/s, p99 {h['intake_p99_64_ms']} ms | "
                + ("no fall from 16, p99 ≤ 600 ms |" if dbname == "postgresql" else "|")
            )
    in_process = (
        "sqlite_intake_vs_healthz_not_below_today",
        "app_cpu_per_intake_le_half_of_today",
        "hot_source_ceiling_ge_4x_today",
        "lock_hold_four_sources_vs_today",
    )
    for name in in_process:
        if name in s["targets"]:
            t = s["targets"][name]
            lines.append(f"| {name.replace('_', ' ')} | {t['value']} | {'met' if t['met'] else 'not met'} |")
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


def write(report: dict, stem: str, *, touch_doc: bool = True) -> None:
    """bench/results/<stem>.md and .json, and (unless told not to) the doc's latest figures."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    if touch_doc:
        update_doc(report, f"{stem}.md")
