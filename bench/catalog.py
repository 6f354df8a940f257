"""What the runner measures: the two scenarios and the methods, each a command line.

A method is a child process (``bench/methods/`` or ``psql``) given the scenario's query and an
output path; ``output`` says what ``verify.py`` checks, ``role`` how the tables group it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
METHODS = HERE / "methods"
PY = sys.executable
MONTH = ("2025-10-01", "2025-11-01")


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


def floor_argv(sc: Scenario, out: Path) -> list[str]:
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
    Method(
        "floor", "psql \\copy (query) TO /dev/null (FORMAT binary): the floor", floor_argv, "none", "floor"
    ),
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
