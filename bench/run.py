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
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = HERE / "methods"
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT), str(HERE)]

import psycopg2  # noqa: E402
from verify import source_fingerprint, verify  # noqa: E402

from tests.support.pg import PgCluster, remove_cluster, start_cluster  # noqa: E402

PY = sys.executable
RUNNER = "tributary-bench"  # application_name of the runner's own sessions, not counted
MONTH = ("2025-10-01", "2025-11-01")
PG_CONF = """
shared_buffers = 1GB
max_connections = 50
max_wal_size = 4GB
maintenance_work_mem = 512MB
"""
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


@dataclass(frozen=True)
class Scenario:
    name: str
    sql: str
    where: str  # the same rows as a filter (DuckDB's table scan)
    mode: str  # Tributary's table mode
    window: str = f"{MONTH[0]}/{MONTH[1]}"


MONTH_WHERE = f"sales_date >= '{MONTH[0]}' AND sales_date < '{MONTH[1]}'"
SCENARIOS = {
    "full": Scenario("full", "SELECT * FROM sales", "", "full"),
    "month": Scenario("month", f"SELECT * FROM sales WHERE {MONTH_WHERE}", MONTH_WHERE, "window"),
}


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    argv: Callable[[Scenario, Path], list[str]]
    output: str  # "none", "file" or "lake" (a Tributary lake folder)
    role: str = "alternative"  # floor, tributary, airflow, alternative


def _script(name: str, *extra: str) -> Callable[[Scenario, Path], list[str]]:
    return lambda sc, out: [PY, str(METHODS / name), "--sql", sc.sql, "--out", str(out), *extra]


def _tributary(*extra: str) -> Callable[[Scenario, Path], list[str]]:
    return lambda sc, out: [
        PY,
        str(METHODS / "tributary_extract.py"),
        "--sql",
        sc.sql,
        "--out",
        str(out),
        "--mode",
        sc.mode,
        "--window",
        sc.window,
        *extra,
    ]


def _floor(sc: Scenario, out: Path) -> list[str]:
    return [
        "psql",
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        f"\\copy ({sc.sql}) TO '/dev/null' WITH (FORMAT binary)",
    ]


def _duckdb_scan(sc: Scenario, out: Path) -> list[str]:
    return [
        PY,
        str(METHODS / "duckdb_copy.py"),
        "--mode",
        "scan",
        "--where",
        sc.where,
        "--sql",
        sc.sql,
        "--out",
        str(out),
    ]


METHOD_LIST = [
    Method("floor", "psql \\copy (query) TO /dev/null (FORMAT binary): the floor", _floor, "none", "floor"),
    Method(
        "tributary",
        "Tributary extract_table, as the operator runs it (1 session)",
        _tributary(),
        "lake",
        "tributary",
    ),
    Method(
        "tributary-2",
        "Tributary, `sessions: 2` (table: 2 ctid ranges; month: 2 slices)",
        _tributary("--sessions", "2"),
        "lake",
        "tributary",
    ),
    Method(
        "tributary-stream",
        "Tributary's streaming path (Arrow batches -> pyarrow ParquetWriter)",
        _tributary("--engine", "stream"),
        "lake",
        "tributary",
    ),
    Method(
        "sqltos3",
        "Airflow SqlToS3Operator (parquet): pandas read_sql whole + _fix_dtypes",
        _script("sql_to_s3.py"),
        "file",
        "airflow",
    ),
    Method(
        "duckdb-query",
        "DuckDB postgres_query(sql) -> COPY TO parquet (1 session)",
        _script("duckdb_copy.py", "--mode", "query"),
        "file",
    ),
    Method(
        "duckdb-scan",
        "DuckDB ATTACH table scan, parallel ctid ranges -> COPY TO parquet",
        _duckdb_scan,
        "file",
    ),
    Method(
        "connectorx",
        "ConnectorX arrow_stream (100k) -> ParquetWriter",
        _script("connectorx_stream.py"),
        "file",
    ),
    Method(
        "adbc",
        "ADBC fetch_record_batch -> cast numeric to decimal128(15,2) -> ParquetWriter",
        _script("adbc_stream.py", "--numeric-as", "15,2"),
        "file",
    ),
]


# -- measuring one child process --------------------------------------------------------------


@dataclass
class RunResult:
    wall_s: float
    rss_kib: int
    cpu_s: float
    rc: int
    sessions: int
    report: dict[str, Any] | None


class SessionMonitor:
    """The most PostgreSQL client sessions open at once while a child runs (the runner's own
    sessions excluded), polled every 20 ms."""

    QUERY = (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND application_name <> %s"
    )

    def __init__(self, params: dict[str, Any]) -> None:
        self.connection = psycopg2.connect(**params, application_name=RUNNER)
        self.connection.autocommit = True
        self.most = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        with self.connection.cursor() as cursor:
            while not self._stop.is_set():
                cursor.execute(self.QUERY, (RUNNER,))
                self.most = max(self.most, cursor.fetchone()[0])
                self._stop.wait(0.02)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until the sessions of the previous child are gone: a backend outlives its client's
        exit by a few milliseconds, and would be counted against the next child."""
        deadline = time.monotonic() + timeout
        with self.connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(self.QUERY, (RUNNER,))
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.01)

    def __enter__(self) -> SessionMonitor:
        self.wait_idle()
        self.most = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def close(self) -> None:
        self.connection.close()


class LoadMonitor:
    """The 1-minute load average, sampled every 5 s for the whole run."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), os.getloadavg()[0]))
            self._stop.wait(5)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        loads = [s[1] for s in self.samples] or [os.getloadavg()[0]]
        return {
            "min": min(loads),
            "median": statistics.median(loads),
            "max": max(loads),
            "samples": len(loads),
        }


GNU_TIME = "/usr/bin/time"
_running: list[subprocess.Popen[str]] = []  # the child being measured, for the interrupt handler


def _interrupted(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM: end the child's whole process group (it runs in a session of its own,
    so the signal did not reach it), then unwind, which removes the throwaway cluster."""
    for child in _running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    raise KeyboardInterrupt


def _gnu_time(path: Path) -> tuple[int, float, int]:
    """Peak RSS (KiB), user+sys CPU (s) and exit status from ``time -v``'s report."""
    text = path.read_text()

    def field(label: str) -> str:
        found = re.search(rf"^\s*{re.escape(label)}: (.+)$", text, re.M)
        if not found:
            raise ValueError(f"{path}: no {label!r} in GNU time's report")
        return found.group(1).strip()

    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return int(field("Maximum resident set size (kbytes)")), cpu, int(field("Exit status"))


def run_child(
    argv: list[str], env: dict[str, str], log: Path, monitor: SessionMonitor, timeout: float
) -> RunResult:
    """Run ``argv``: wall time, and the child's peak RSS and CPU from its rusage.

    The rusage comes through a small parent of the child, GNU ``time -v`` (else
    ``bench/rusage.py``): Linux keeps a process's peak RSS across ``exec``, so a child forked
    straight from this runner would report the runner's own RSS as its floor.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    usage_file = log.with_suffix(".rusage")
    usage_file.unlink(missing_ok=True)
    if os.access(GNU_TIME, os.X_OK):
        wrapped = [GNU_TIME, "-v", "-o", str(usage_file), *argv]
    else:
        wrapped = [PY, "-I", "-S", str(HERE / "rusage.py"), str(usage_file), *argv]
    with log.open("w") as err, monitor:
        started = time.perf_counter()
        child = subprocess.Popen(
            wrapped, env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
        _running.append(child)
        try:
            stdout, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            stdout, _ = child.communicate()
        finally:
            _running.remove(child)
        wall = time.perf_counter() - started
    try:
        if wrapped[0] == GNU_TIME:
            rss_kib, cpu, rc = _gnu_time(usage_file)
        else:
            usage = json.loads(usage_file.read_text())
            rss_kib, cpu, rc = usage["maxrss_kib"], usage["cpu_s"], usage["rc"]
    except (OSError, ValueError):
        rss_kib, cpu, rc = 0, 0.0, child.returncode or -1
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return RunResult(
        wall_s=wall,
        rss_kib=rss_kib,
        cpu_s=cpu,
        rc=rc,
        sessions=monitor.most,
        report=json.loads(lines[-1]) if lines else None,
    )


# -- the source -------------------------------------------------------------------------------


@dataclass
class Source:
    params: dict[str, Any]
    cluster: PgCluster | None = None
    env: dict[str, str] = field(default_factory=dict)

    def connect(self) -> Any:
        return psycopg2.connect(**self.params, application_name=RUNNER)

    def scalar(self, sql: str) -> Any:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            value = cursor.fetchone()[0]
        connection.close()
        return value

    def rows(self) -> int:
        try:
            return int(self.scalar("SELECT count(*) FROM sales"))
        except psycopg2.Error:
            return -1

    def load(self, rows: int) -> float:
        """(Re)generate ``sales`` with ``rows`` rows unless it has them; seconds taken."""
        if self.rows() == rows:
            return 0.0
        print(f"generating sales: {rows:,} rows ...", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"rows={rows}",
                "-f",
                str(HERE / "gen_sales.sql"),
            ],
            env=self.env,
            check=True,
            capture_output=True,
        )
        took = time.perf_counter() - started
        print(f"  generated in {took:.0f} s", flush=True)
        return took

    def warm(self) -> None:
        """Read the table once, so that every run reads it from the page cache."""
        subprocess.run(_floor(SCENARIOS["full"], Path("/dev/null")), env=self.env, check=True)


def child_env(work: Path, params: dict[str, Any], pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("PG")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "plugins"), str(ROOT), str(METHODS)]),
        # compiled bytecode of the venv, kept out of the venv and the repository: without it,
        # every child would compile its imports from source (a deployed image has its .pyc)
        PYTHONPYCACHEPREFIX=str(pycache),
        PGHOST=str(params["host"]),
        PGPORT=str(params["port"]),
        PGUSER=str(params["user"]),
        PGDATABASE=str(params["dbname"]),
        AIRFLOW_HOME=str(work / "airflow_home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{work / 'airflow_home' / 'airflow.db'}",
        AIRFLOW_CONN_BENCH_PG=json.dumps(
            {
                "conn_type": "postgres",
                "host": params["host"],
                "port": params["port"],
                "login": params["user"],
                "schema": params["dbname"],
            }
        ),
    )
    env["PATH"] = os.path.dirname(PY) + os.pathsep + env.get("PATH", "")
    return env


# -- the rounds ---------------------------------------------------------------------------------


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

    def main_rounds(self, methods: list[Method], scenarios: list[Scenario]) -> None:
        for round_no in range(1, self.args.runs + 1):
            print(f"round {round_no}/{self.args.runs}", flush=True)
            for sc in scenarios:
                for method in methods:
                    self.run_once(method, sc, round_no)


# -- summaries ----------------------------------------------------------------------------------


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


# -- the other parts --------------------------------------------------------------------------


def parse(bench: Bench) -> dict[str, Any]:
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


# -- main -------------------------------------------------------------------------------------


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


README = HERE / "README.md"


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
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

    cluster = None
    if args.pg_port:
        params = {"host": "127.0.0.1", "port": args.pg_port, "user": "postgres", "dbname": "postgres"}
    else:
        cluster = start_cluster(extra_conf=PG_CONF)  # in the temp dir: the server user can reach it
        params = {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": "postgres"}
        print(f"postgres on 127.0.0.1:{cluster.port} ({cluster.datadir})", flush=True)
    source = Source(params, cluster, child_env(work, params, (args.pycache or work / "pycache").resolve()))
    loads = LoadMonitor()
    loads.start()
    monitor = SessionMonitor(params)
    bench = Bench(args, work, source, monitor)
    result: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "methods": [m.key for m in methods],
    }
    md: list[str] = []
    started = time.perf_counter()
    try:
        if args.rss_scaling:
            sizes = [int(n) for n in args.rss_scaling.split(",")]
            chosen = [m for m in methods if m.key in ("tributary", "tributary-2")]
            found = rss_scaling(bench, sizes, chosen)
            result["info"] = machine_info(source, [])
            result["rss_scaling"] = found
            md += ["### Peak RSS as N grows (full table)", "", *rss_lines(found)]
        else:
            result["generate_s"] = source.load(args.rows)
            source.warm()
            info = machine_info(source, scenarios)
            result["info"] = info
            print(json.dumps(info), flush=True)
            print("warm-up (not timed): every method once on the month", flush=True)
            for method in [] if args.no_warmup else methods:
                sc = SCENARIOS["month"]
                out = bench.output_path(method.key, sc, method.output)
                run_child(
                    method.argv(sc, out),
                    source.env,
                    work / "logs" / f"warmup-{method.key}.log",
                    monitor,
                    args.timeout,
                )
            bench.main_rounds(methods, scenarios)
            for (_key, sc), rec in bench.results.items():
                rec["summary"] = summarize(rec, info["rows"][sc])
            result["results"] = list(bench.results.values())
            md += [
                "### Full table and one month",
                "",
                *main_table(bench, info),
                "",
                "### Ratios",
                "",
                *ratio_lines(bench),
                "",
                "### Type changes and notes",
                "",
                *(notes_lines(bench) or ["- none"]),
            ]
            if "parse" not in skip:
                result["parse"] = parse(bench)
                md += ["", "### DAG parsing (3 sources x 200 tables)", "", *parse_lines(result["parse"])]
    finally:
        result["load"] = loads.stop()
        result["elapsed_s"] = round(time.perf_counter() - started)
        monitor.close()
        if cluster is not None and not args.keep_cluster:
            remove_cluster(cluster)
        elif cluster is not None:
            print(f"cluster kept: 127.0.0.1:{cluster.port} {cluster.datadir}", flush=True)
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
