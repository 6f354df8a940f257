"""The rounds: every method on every scenario, each run's output checked once; the DAG
factory's parse time; Tributary's peak RSS as the table grows."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog import HERE, PY, ROOT, SCENARIOS, Method, Scenario
from measure import RunResult, SessionMonitor, run_child
from report import summarize
from source import Source
from verify import source_fingerprint, verify


@dataclass
class Bench:
    args: argparse.Namespace
    work: Path
    source: Source
    monitor: SessionMonitor
    results: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    fingerprints: dict[str, dict[str, Any]] = field(default_factory=dict)

    def fingerprint(self, sc: Scenario) -> dict[str, Any]:
        if sc.name not in self.fingerprints:
            connection = self.source.connect()
            try:
                self.fingerprints[sc.name] = source_fingerprint(connection, sc.sql)
            finally:
                connection.close()
        return self.fingerprints[sc.name]

    def output_path(self, key: str, sc: Scenario, kind: str) -> Path:
        path = (
            self.work / "out" / f"{key}-{sc.name}"
            if kind == "lake"
            else self.work / "out" / f"{key}-{sc.name}.parquet"
        )
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def run_once(
        self,
        method: Method,
        sc: Scenario,
        round_no: int,
        *,
        argv: list[str] | None = None,
        output: Path | None = None,
        record: dict[str, Any] | None = None,
    ) -> RunResult:
        out = output or self.output_path(method.key, sc, method.output)
        log = self.work / "logs" / f"{method.key}-{sc.name}-r{round_no}.log"
        result = run_child(
            argv or method.argv(sc, out), self.source.env, log, self.monitor, self.args.timeout
        )
        rec = (
            record
            if record is not None
            else self.results.setdefault(
                (method.key, sc.name),
                {
                    "method": method.key,
                    "label": method.label,
                    "role": method.role,
                    "scenario": sc.name,
                    "runs": [],
                    "verify": None,
                },
            )
        )
        rec["runs"].append(result.__dict__)
        work = (result.report or {}).get("work_s")
        print(
            f"  r{round_no} {sc.name:5s} {result.wall_s:7.2f}s {result.rss_kib / 1024:7.0f} MiB "
            f"cpu {result.cpu_s:6.2f}s sessions {result.sessions}"
            f"{f' work {work:6.2f}s' if work is not None else ''} rc={result.rc}  {method.label}",
            flush=True,
        )
        if result.rc != 0:
            print(
                f"    FAILED, see {log}:\n    " + "\n    ".join(log.read_text().splitlines()[-8:]), flush=True
            )
        elif round_no == 1 and method.output != "none":
            rec["verify"] = self.check(sc, out, tributary=method.output == "lake")
        return result

    def check(self, sc: Scenario, out: Path, *, tributary: bool) -> dict[str, Any]:
        try:
            verdict = verify(None, sc.sql, out, source=self.fingerprint(sc), tributary=tributary)
        except Exception as exc:  # noqa: BLE001 - a broken output is a result, not a crash of the benchmark
            verdict = {
                "values_ok": False,
                "types_exact": False,
                "problems": [f"{type(exc).__name__}: {exc}"],
                "mismatches": {},
                "type_changes": [],
                "notes": [],
            }
        values = "ok" if verdict["values_ok"] else "WRONG"
        flags = f"values {values}, types {'exact' if verdict['types_exact'] else 'changed'}"
        details = [
            *verdict["mismatches"].values(),
            *verdict["problems"],
            *verdict["type_changes"],
            *verdict["notes"],
        ]
        print(f"    verify: {flags}" + (f"  ({'; '.join(details)[:300]})" if details else ""), flush=True)
        return verdict

    def warm_up(self, methods: list[Method]) -> None:
        """Every method once on the month, not timed."""
        print("warm-up (not timed): every method once on the month", flush=True)
        sc = SCENARIOS["month"]
        for method in methods:
            out = self.output_path(method.key, sc, method.output)
            run_child(
                method.argv(sc, out),
                self.source.env,
                self.work / "logs" / f"warmup-{method.key}.log",
                self.monitor,
                self.args.timeout,
            )

    def main_rounds(self, methods: list[Method], scenarios: list[Scenario]) -> None:
        for round_no in range(1, self.args.runs + 1):
            print(f"round {round_no}/{self.args.runs}", flush=True)
            for sc in scenarios:
                for method in methods:
                    self.run_once(method, sc, round_no)


def time_parsing(bench: Bench) -> dict[str, Any]:
    """The DAG factory over 3 sources x 200 tables, each variant in a fresh process (twice: the
    first one compiles the bytecode)."""
    print("parse: build_dags for 3 sources x 200 tables, in a fresh process", flush=True)
    folder = bench.work / "parse" / "pipelines"
    env = dict(
        bench.source.env,
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
    )
    found: dict[str, Any] = {}
    for variant in ("current",):
        argv = [PY, str(HERE / "parse_dags.py"), "--folder", str(folder), "--generate"]
        for attempt in range(2):
            log = bench.work / "logs" / f"parse-{variant}-{attempt}.log"
            result = run_child(argv, env, log, bench.monitor, bench.args.timeout)
            if result.rc != 0 or not result.report:
                print(f"  FAILED, see {log}", flush=True)
                break
            found[variant] = {
                **result.report,
                "process_wall_s": round(result.wall_s, 3),
                "rss_mib": round(result.rss_kib / 1024),
            }
        p = found.get(variant)
        if p:
            print(
                f"  {variant}: {p['dags']} DAGs, {p['tasks']} tasks from {p['files']} files; fresh process "
                f"{p['process_wall_s']:.2f}s (imports {p['imports_s']:.2f}s), build_dags {p['build_s']:.3f}s "
                f"(first call), {p['rebuild_s']:.3f}s (again), YAML + validation "
                f"{p['yaml_and_validation_s']:.3f}s; opened besides the YAML: "
                f"{p['other_opens'] or 'nothing'}; sockets: {p['sockets'] or 'none'}",
                flush=True,
            )
    return found


def rss_scaling(bench: Bench, sizes: list[int], methods: list[Method]) -> list[dict[str, Any]]:
    print(f"rss scaling: full-table extract at {', '.join(f'{n:,}' for n in sizes)} rows", flush=True)
    found = []
    sc = SCENARIOS["full"]
    for rows in sizes:
        generated = bench.source.load(rows)
        bench.source.warm()
        size = bench.source.scalar("SELECT pg_size_pretty(pg_relation_size('sales'))")
        for method in methods:
            rec = {
                "rows": rows,
                "method": method.key,
                "label": method.label,
                "runs": [],
                "table": size,
                "generated_s": generated,
                "role": method.role,
                "scenario": "full",
                "verify": None,
            }
            for round_no in range(1, bench.args.runs + 1):
                bench.run_once(method, Scenario("full", sc.sql, "", "full"), round_no, record=rec)
            rec["summary"] = summarize(rec, rows)
            found.append(rec)
        bench.fingerprints.clear()
    return found
