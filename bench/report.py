"""What a run found, as figures and as Markdown: the medians of each method's runs, the tables
of bench/README.md, the machine they were measured on, and the README's results section."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog import HERE, Scenario
from source import Source

if TYPE_CHECKING:
    from rounds import Bench

README = HERE / "README.md"
PACKAGES = [
    "pyarrow",
    "duckdb",
    "duckdb-extension-postgres-scanner",
    "pandas",
    "numpy",
    "sqlalchemy",
    "psycopg2-binary",
    "connectorx",
    "adbc-driver-postgresql",
    "apache-airflow",
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-postgres",
]


def summarize(rec: dict[str, Any], rows: int) -> dict[str, Any] | None:
    good = [r for r in rec["runs"] if r["rc"] == 0]
    if not good:
        return None
    walls = sorted(r["wall_s"] for r in good)
    works = [r["report"]["work_s"] for r in good if r.get("report") and "work_s" in r["report"]]
    return {
        "n": len(good),
        "wall_median": statistics.median(walls),
        "wall_min": walls[0],
        "wall_max": walls[-1],
        "work_median": statistics.median(works) if works else statistics.median(walls),
        "rows_per_s": rows / statistics.median(walls),
        "rss_mib_max": max(r["rss_kib"] for r in good) / 1024,
        "cpu_median": statistics.median(r["cpu_s"] for r in good),
        "sessions_max": max(r["sessions"] for r in good),
    }


def verdict_text(rec: dict[str, Any] | None) -> tuple[str, str]:
    v = rec.get("verify") if rec else None
    if not v:
        return "—", "—"
    return ("yes" if v["values_ok"] else "**NO**"), ("yes" if v["types_exact"] else "**no**")


def main_table(bench: Bench, info: dict[str, Any]) -> list[str]:
    keys = list(dict.fromkeys(k for k, _ in bench.results))
    lines = [
        "| method | full: wall s, median (min-max) | full: rows/s | full: peak RSS MiB | full: CPU s | "
        "full: work s | month: wall s | month: rows/s | month: peak RSS MiB | sessions | values | types |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        full, month = bench.results.get((key, "full")), bench.results.get((key, "month"))
        f = full and full.get("summary")
        m = month and month.get("summary")
        label = (full or month or {}).get("label", key)
        values = [verdict_text(r) for r in (full, month) if r and r.get("verify")]
        ok = "—" if not values else ("yes" if all(v[0] == "yes" for v in values) else "**NO**")
        exact = "—" if not values else ("yes" if all(v[1] == "yes" for v in values) else "**no**")
        sessions = max((s["sessions_max"] for s in (f, m) if s), default=0)
        cells = [
            f"{f['wall_median']:.2f} ({f['wall_min']:.2f}-{f['wall_max']:.2f})" if f else "n/a",
            f"{f['rows_per_s']:,.0f}" if f else "n/a",
            f"{f['rss_mib_max']:.0f}" if f else "n/a",
            f"{f['cpu_median']:.1f}" if f else "n/a",
            f"{f['work_median']:.2f}" if f else "n/a",
            f"{m['wall_median']:.2f} ({m['wall_min']:.2f}-{m['wall_max']:.2f})" if m else "n/a",
            f"{m['rows_per_s']:,.0f}" if m else "n/a",
            f"{m['rss_mib_max']:.0f}" if m else "n/a",
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {sessions} | {ok} | {exact} |")
    return lines


def ratio_lines(bench: Bench) -> list[str]:
    """Tributary's rows against the floor and SqlToS3Operator, and #7's targets for the full table:
    throughput >= 0.8x the floor's, >= 8x SqlToS3Operator's, peak RSS <= 256 MiB, types exact."""
    lines = [
        "| Tributary row | scenario | throughput vs floor (wall) | vs floor (work) | "
        "speed-up vs SqlToS3Operator (wall) | (work) | #7 targets (full table) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (_key, sc), rec in bench.results.items():
        if rec["role"] != "tributary" or not rec.get("summary"):
            continue
        s = rec["summary"]
        floor = (bench.results.get(("floor", sc)) or {}).get("summary")
        s3 = (bench.results.get(("sqltos3", sc)) or {}).get("summary")
        missed = []
        if sc == "full":
            if floor and floor["wall_median"] / s["wall_median"] < 0.8:
                missed.append("< 0.8x floor")
            if s3 and s3["wall_median"] / s["wall_median"] < 8:
                missed.append("< 8x SqlToS3")
            if s["rss_mib_max"] > 256:
                missed.append("> 256 MiB")
            if not (rec.get("verify") or {}).get("types_exact"):
                missed.append("types")
        target = "" if sc != "full" else ("met" if not missed else "missed: " + ", ".join(missed))
        cells = [
            f"{floor['wall_median'] / s['wall_median']:.2f}x" if floor else "n/a",
            f"{floor['wall_median'] / s['work_median']:.2f}x" if floor else "n/a",
            f"{s3['wall_median'] / s['wall_median']:.1f}x" if s3 else "n/a",
            f"{s3['work_median'] / s['work_median']:.1f}x" if s3 else "n/a",
            target,
        ]
        lines.append(f"| {rec['label']} | {sc} | " + " | ".join(cells) + " |")
    return lines


def targets_lines(bench: Bench) -> list[str]:
    """Issue #17's section 1, read off this run: a month with one session against the floor
    (Tributary's work) and DuckDB's ``postgres_query`` (wall), a whole table with the shipped
    default (``sessions: 1``) against the floor, and the peak RSS of every Tributary row."""

    def summary(key: str, sc: str) -> dict[str, Any] | None:
        return (bench.results.get((key, sc)) or {}).get("summary")

    def check(name: str, value: float | None, target: float, ok: bool | None = None) -> str:
        if value is None:
            return f"- {name}: n/a (not measured in this run)"
        ok = value >= target if ok is None else ok
        return f"- {name}: **{value:.2f}x** (target >= {target:.1f}x): {'met' if ok else 'missed'}"

    floor_m, trib_m, duck_m = (
        summary("floor", "month"),
        summary("tributary", "month"),
        summary("duckdb-query", "month"),
    )
    floor_f, trib_f = summary("floor", "full"), summary("tributary", "full")
    lines = [
        check("month, Tributary's work vs the floor's throughput (1 session)",
              floor_m["wall_median"] / trib_m["work_median"] if floor_m and trib_m else None, 0.8),
        check("month, wall vs DuckDB postgres_query (1 session)",
              duck_m["wall_median"] / trib_m["wall_median"] if duck_m and trib_m else None, 1.0),
        check("full table, the shipped default (sessions: 1) vs the floor (wall)",
              floor_f["wall_median"] / trib_f["wall_median"] if floor_f and trib_f else None, 0.8),
    ]  # fmt: skip
    for (key, sc), rec in bench.results.items():
        if rec["role"] == "tributary" and rec.get("summary"):
            rss = rec["summary"]["rss_mib_max"]
            lines.append(
                f"- peak RSS, {key} {sc}: {rss:.0f} MiB (target <= 256): {'met' if rss <= 256 else 'missed'}"
            )
    return lines


def notes_lines(bench: Bench) -> list[str]:
    lines = []
    for (_key, sc), rec in bench.results.items():
        v = rec.get("verify")
        if not v:
            continue
        said = [
            *v.get("mismatches", {}).values(),
            *v.get("problems", []),
            *v.get("type_changes", []),
            *v.get("notes", []),
        ]
        if said:
            lines.append(f"- {rec['label']} ({sc}): " + "; ".join(dict.fromkeys(said)))
    return lines


def parse_lines(found: dict[str, Any]) -> list[str]:
    lines = [
        "| factory | DAGs | tasks | fresh process wall s | imports s | build_dags s (first call) | "
        "build_dags s (again) | of which YAML + validation s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, p in found.items():
        label = "build_dags" if variant == "current" else variant
        lines.append(
            f"| {label} | {p['dags']} | {p['tasks']} | {p['process_wall_s']:.2f} | {p['imports_s']:.2f} | "
            f"{p['build_s']:.3f} | {p['rebuild_s']:.3f} | {p['yaml_and_validation_s']:.3f} | {p['rss_mib']} |"
        )
    current = found.get("current")
    if current:
        lines += [
            "",
            f"Opened by `build_dags` besides the YAML files (Python's audit hook): "
            f"{', '.join(current['other_opens']) or 'nothing'}; sockets connected: "
            f"{', '.join(current['sockets']) or 'none'}.",
        ]
    return lines


def rss_lines(found: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| rows | heap | method | wall s (median) | rows/s | peak RSS MiB (max) | values |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in found:
        s = r.get("summary")
        cells = (
            f"{s['wall_median']:.2f} | {s['rows_per_s']:,.0f} | {s['rss_mib_max']:.0f}" if s else "failed | |"
        )
        lines.append(f"| {r['rows']:,} | {r['table']} | {r['label']} | {cells} | {verdict_text(r)[0]} |")
    return lines


def machine_info(source: Source, scenarios: list[Scenario]) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": source.scalar("SHOW server_version"),
        "table": source.scalar(
            "SELECT pg_size_pretty(pg_relation_size('sales')) || ' heap, ' || "
            "pg_size_pretty(pg_total_relation_size('sales')) || ' with indexes'"
        ),
        "rows": {sc.name: int(source.scalar(f"SELECT count(*) FROM ({sc.sql}) AS q")) for sc in scenarios},
        "packages": versions,
        "load_before": os.getloadavg(),
    }


def update_readme(
    md: list[str],
    info: dict[str, Any],
    load_before: tuple[float, float, float],
    load: dict[str, float],
    args: argparse.Namespace,
) -> None:
    """Replace the results section of bench/README.md, if the machine was quiet at the start."""
    if load_before[0] >= 1.5:
        print(
            f"README not updated: the load average was {load_before[0]:.2f} at the start (>= 1.5); "
            "run again when the machine is quiet",
            flush=True,
        )
        return
    if load["median"] > 2.2:
        print(
            f"README not updated: the load average during the run had a median of {load['median']:.2f} "
            "(> 2.2: more than the benchmark's own server and client); run again when the machine is quiet",
            flush=True,
        )
        return
    p = info.get("packages", {})
    what = f"--rss-scaling {args.rss_scaling}" if args.rss_scaling else f"--rows {args.rows}"
    only = f" --only '{args.only}'" if args.only else ""
    table = f", table `sales` {info['table']}" if info.get("table") else ""
    versions = ", ".join(
        f"{name} {p.get(name)}"
        for name in ("pyarrow", "duckdb", "pandas", "connectorx", "adbc-driver-postgresql", "apache-airflow")
    )
    head = [
        f"Measured {info['date_utc']} UTC by `bench/run.py {what} --runs {args.runs}{only}`. "
        f"Machine: {info['cores']} cores ({info['cpu']}), {info['mem_gib']} GiB RAM, Linux {info['kernel']}; "
        f"PostgreSQL {info['postgres']} on the same machine over TCP loopback{table}; "
        f"Python {info['python']}, {versions}. Load average (1 min) before the run {load_before[0]:.2f}; "
        f"during it median {load['median']:.2f}, max {load['max']:.2f} (the benchmark's own server and "
        "client keep it near 2 on 2 cores).",
        "",
    ]
    section = "rss" if args.rss_scaling else "results"
    begin, end = f"<!-- {section}:begin -->", f"<!-- {section}:end -->"
    text = README.read_text()
    start, stop = text.index(begin) + len(begin), text.index(end)
    README.write_text(text[:start] + "\n" + "\n".join(head + md) + "\n" + text[stop:])
    print(f"README updated: {README}", flush=True)
