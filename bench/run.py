"""Tributary's extract against the floor and the alternatives, in one run on one machine.

    python bench/run.py [--rows 5000000] [--runs 3] [--only REGEX] [--scenarios full,month]
                        [--rss-scaling 5000000,20000000] [--skip parse]
                        [--pg-port PORT] [--keep-cluster] [--work bench/work]

Starts a throwaway PostgreSQL (``tests/support/pg.py``), generates the point-of-sale table
``sales`` of ``--rows`` rows (``bench/gen_sales.sql``), and runs every method of
``bench/methods/`` as a child process, for the whole table and for one month's window. Each run
is measured from outside: wall seconds, peak RSS and user+sys CPU of the child (``os.wait4``,
the rusage GNU ``time -v`` reports), and the most PostgreSQL sessions open at once (sampled in
``pg_stat_activity``). Rounds are interleaved; the table quotes medians. Round 1's output of
every method is checked against fingerprints computed in PostgreSQL (``bench/verify.py``).

Tributary runs as it is configured per table: one session (``tributary``), two sessions
(``tributary-2``: the whole table as parallel ctid ranges, a month as two slices of its window),
and its streaming path (``tributary-stream``: Arrow batches through pyarrow's writer, what the
engine does when it cannot let DuckDB write the Parquet). Then the DAG factory's parse time for
3 sources x 200 tables (``parse``). ``--rss-scaling`` runs only Tributary's full-table extract at each size.
Results: ``<work>/results.json`` and ``<work>/results.md``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# the runner's modules beside this file, tests.support and the tributary package
sys.path[:0] = [str(HERE.parent / "plugins"), str(HERE.parent), str(HERE)]

from catalog import METHOD_LIST, SCENARIOS, Method, Scenario  # noqa: E402
from measure import LoadMonitor, SessionMonitor, interrupted  # noqa: E402
from report import (  # noqa: E402
    machine_info,
    main_table,
    notes_lines,
    parse_lines,
    ratio_lines,
    rss_lines,
    summarize,
    targets_lines,
    update_readme,
)
from rounds import Bench, rss_scaling, time_parsing  # noqa: E402
from source import open_source  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--runs", type=int, default=3, help="interleaved rounds; the table quotes medians")
    ap.add_argument(
        "--only", default="", help="regex on method keys (floor, tributary, sqltos3, duckdb-query, ...)"
    )
    ap.add_argument("--scenarios", default="full,month")
    ap.add_argument("--skip", default="", help="comma list of: parse")
    ap.add_argument("--rss-scaling", default="", help="comma list of row counts: only Tributary, full table")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--pg-port", type=int, help="use the server on 127.0.0.1:PORT (user postgres) instead")
    ap.add_argument("--keep-cluster", action="store_true")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per child run")
    ap.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up round")
    ap.add_argument(
        "--pycache", type=Path, help="where the children's bytecode goes (default <work>/pycache)"
    )
    ap.add_argument(
        "--update-readme",
        action="store_true",
        help="write the results into bench/README.md (only after a run that started on a quiet machine)",
    )
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    skip = {s for s in args.skip.split(",") if s}
    scenarios = [SCENARIOS[s] for s in args.scenarios.split(",") if s]
    methods = [m for m in METHOD_LIST if re.search(args.only, m.key)]
    load_before = os.getloadavg()
    print(
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}"
        + ("  (busy machine: these numbers are not for the README)" if load_before[0] > 1.5 else ""),
        flush=True,
    )

    source = open_source(args.pg_port, work, (args.pycache or work / "pycache").resolve())
    loads = LoadMonitor()
    loads.start()
    monitor = SessionMonitor(source.params)
    bench = Bench(args, work, source, monitor)
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "methods": [m.key for m in methods],
    }
    md: list[str] = []
    started = time.perf_counter()
    try:
        if args.rss_scaling:
            md += measure_rss(bench, methods, result)
        else:
            md += measure_tables(bench, methods, scenarios, result, parse="parse" not in skip)
    finally:
        result["load"] = loads.stop()
        result["elapsed_s"] = round(time.perf_counter() - started)
        monitor.close()
        source.close(keep=args.keep_cluster)
    return finish(args, work, result, md, load_before)


def measure_rss(bench: Bench, methods: list[Method], result: dict[str, Any]) -> list[str]:
    """``--rss-scaling``: Tributary's full-table extract at each size; the section's Markdown."""
    sizes = [int(n) for n in bench.args.rss_scaling.split(",")]
    chosen = [m for m in methods if m.key in ("tributary", "tributary-2")]
    found = rss_scaling(bench, sizes, chosen)
    result["info"] = machine_info(bench.source, [])
    result["rss_scaling"] = found
    return ["### Peak RSS as N grows (full table)", "", *rss_lines(found)]


def measure_tables(
    bench: Bench,
    methods: list[Method],
    scenarios: list[Scenario],
    result: dict[str, Any],
    *,
    parse: bool,
) -> list[str]:
    """The table of ``--rows`` rows, the warm-up, the rounds, then the parse time; the Markdown."""
    source, args = bench.source, bench.args
    result["generate_s"] = source.load(args.rows)
    source.warm()
    info = machine_info(source, scenarios)
    result["info"] = info
    print(json.dumps(info), flush=True)
    bench.warm_up([] if args.no_warmup else methods)
    bench.main_rounds(methods, scenarios)
    for (_key, sc), rec in bench.results.items():
        rec["summary"] = summarize(rec, info["rows"][sc])
    result["results"] = list(bench.results.values())
    md = [
        "### Full table and one month",
        "",
        *main_table(bench, info),
        "",
        "### Ratios",
        "",
        *ratio_lines(bench),
        "",
        "### Issue #17's targets (section 1)",
        "",
        *targets_lines(bench),
        "",
        "### Type changes and notes",
        "",
        *(notes_lines(bench) or ["- none"]),
    ]
    if parse:
        result["parse"] = time_parsing(bench)
        md += ["", "### DAG parsing (3 sources x 200 tables)", "", *parse_lines(result["parse"])]
    return md


def finish(
    args: argparse.Namespace,
    work: Path,
    result: dict[str, Any],
    md: list[str],
    load_before: tuple[float, float, float],
) -> int:
    """Write results.json and results.md (and the README if asked); 1 if a run failed or a
    Tributary output's values were wrong."""
    load = result["load"]
    md += [
        "",
        f"Load average (1 min) during the run: min {load['min']:.2f}, median {load['median']:.2f}, "
        f"max {load['max']:.2f} ({load['samples']} samples); before: {load_before[0]:.2f}. "
        f"Elapsed {result['elapsed_s']} s.",
    ]
    (work / "results.json").write_text(json.dumps(result, indent=1, default=str))
    if args.update_readme and "info" in result:
        update_readme(md, result["info"], load_before, load, args)
    (work / "results.md").write_text("\n".join(md) + "\n")
    print("\n" + "\n".join(md), flush=True)
    failed = [r for r in result.get("results", []) if r.get("summary") is None]
    wrong = [
        r
        for r in result.get("results", [])
        if r.get("verify") and not r["verify"]["values_ok"] and r["role"] == "tributary"
    ]
    return 1 if failed or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
