"""The subcommands of ``tributary``: each takes the parsed arguments, prints its output and
returns the exit code. The lake is opened only by the commands that read it (``sample``,
``status``), through the lake hook and its Airflow connection, as the operators open it."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import decimal
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tributary.config import PipelineConfig, load_all, pipelines_dir
from tributary.errors import ConfigError
from tributary.extracts.loader import extracts_dir, load_extracts
from tributary.lake_io import LakeRoot

_MONTH_ARG = re.compile(r"^\d{4}-\d{2}$")


def _folders(folder: str | None) -> tuple[Path, Path | None]:
    """The pipeline folder and the extracts folder, as the DAGs find them by default; a given
    folder's extracts are its ``extracts/`` (if it has one)."""
    if folder is None:
        return pipelines_dir(), extracts_dir()
    extracts = Path(folder) / "extracts"
    return Path(folder), extracts if extracts.is_dir() else None


def validate(args: argparse.Namespace) -> int:
    pipelines, extracts_folder = _folders(args.folder)
    configs, errors = load_all(pipelines)
    extracts, extract_errors = load_extracts(extracts_folder) if extracts_folder else ([], [])
    errors = [*errors, *extract_errors]
    for error in errors:
        print(f"{error}\n", file=sys.stderr)
    tables = sum(len(config.tables) for _, config in configs)
    summary = (
        f"{len(configs)} pipeline config(s) with {tables} table(s) and {len(extracts)} extract(s) "
        f"valid in {pipelines}"
    )
    if errors:
        print(f"{len(errors)} file(s) with errors; {summary}", file=sys.stderr)
        return 1
    print(f"OK: {summary}")
    return 0


def pool_slots(configs: list[PipelineConfig]) -> dict[str, dict[str, Any]]:
    """The pools of ``configs`` (one per source, ``max_connections`` slots) and the warehouse's
    one-slot pool, in ``airflow pools import`` form."""
    from tributary.hooks.warehouse import POOL

    pools = {
        config.pool: {
            "slots": config.source.max_connections,
            "description": f"Tributary: connections to source {config.source.name} (source.max_connections)",
            "include_deferred": False,
        }
        for config in sorted(configs, key=lambda c: c.pool)
    }
    pools[POOL] = {
        "slots": 1,
        "description": "Tributary: the DuckDB warehouse file has one writer (dbt and the extracts history)",
        "include_deferred": False,
    }
    return pools


def pools(args: argparse.Namespace) -> int:
    configs, errors = load_all(_folders(args.folder)[0])
    for error in errors:
        print(f"{error}\n", file=sys.stderr)
    print(json.dumps(pool_slots([config for _, config in configs]), indent=2))
    return 1 if errors else 0


def _config_of(source: str, folder: str | None) -> PipelineConfig:
    configs, errors = load_all(_folders(folder)[0])
    for _, config in configs:
        if config.source.name == source:
            return config
    names = ", ".join(sorted(c.source.name for _, c in configs)) or "none"
    broken = f"; {len(errors)} config file(s) have errors (run tributary validate)" if errors else ""
    raise ConfigError(f"no pipeline config has source.name {source!r} (sources: {names}){broken}")


def _lake(config: PipelineConfig) -> LakeRoot:
    from tributary.hooks.lake import lake_root

    return lake_root(config.lake.resolved_url(), config.lake.conn_id)


@contextlib.contextmanager
def _airflow_logs_to_stderr() -> Iterator[None]:
    """Airflow's log lines (its config warnings, a connection's lookup) go to stderr while the lake
    is read: the command's output on stdout stays what it promises (JSON lines, the table)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def _table_names(config: PipelineConfig, table: str | None) -> list[str]:
    names = [t.name for t in config.tables]
    if table is not None and table not in names:
        raise ConfigError(
            f"source {config.source.name!r} has no table {table!r} (tables: {', '.join(names)})"
        )
    return [table] if table is not None else names


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time | decimal.Decimal | dt.timedelta):
        return str(value) if not isinstance(value, dt.date | dt.time) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def sample(args: argparse.Namespace) -> int:
    from tributary.lake_sample import sample_rows

    if args.rows < 1:
        raise ConfigError(f"--rows must be at least 1, got {args.rows}")
    config = _config_of(args.source, args.folder)
    (table,) = _table_names(config, args.table)
    with _airflow_logs_to_stderr():
        rows = sample_rows(_lake(config), config.source.name, table, args.rows, partition=args.partition)
    for row in rows:
        print(json.dumps(row, default=_json_value, ensure_ascii=False))
    return 0


def _month(value: str | None, option: str) -> str | None:
    if value is not None and not _MONTH_ARG.match(value):
        raise ConfigError(f"{option} takes a month as YYYY-MM, got {value!r}")
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    """Columns aligned with spaces, as a terminal shows them."""
    cells = [header, *([_cell(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


_HEADER = ["partition", "state", "rows", "batch id", "run id", "verified at", "watermark / position"]


def status(args: argparse.Namespace) -> int:
    from tributary.lake_status import table_status

    start, end = _month(args.start, "--from"), _month(args.end, "--to")
    config = _config_of(args.source, args.folder)
    root = _lake(config)
    for table in _table_names(config, args.table):
        with _airflow_logs_to_stderr():
            statuses = table_status(root, config.source.name, table, start=start, end=end)
        print(f"{config.source.name}.{table} ({len(statuses)} partition(s))")
        rows = [
            [s.partition, s.state, s.rows, s.batch_id, s.run_id, s.verified_at, s.position] for s in statuses
        ]
        print(format_table(_HEADER, rows) if rows else "  (no partitions in the lake)")
        for s in statuses:
            for problem in s.problems:
                print(f"  {s.partition}: {problem}")
        print()
    return 0


def discover(args: argparse.Namespace) -> int:
    from tributary.discovery import discover as discover_tables
    from tributary.discovery import pipeline_yaml
    from tributary.hooks.sources import open_reader

    with _airflow_logs_to_stderr(), open_reader(args.conn_id) as reader:
        tables = discover_tables(reader, args.schema, args.tables, small_rows=args.small_rows)
        default_schema = reader.dialect.default_schema
    if not tables:
        raise ConfigError(
            f"no table of schema {args.schema or default_schema!r} (connection {args.conn_id!r}) matches "
            f"{args.tables!r}, or its user cannot see any"
        )
    print(pipeline_yaml(args.conn_id, tables, default_schema=default_schema), end="")
    return 0
