"""Tributary's extract of one table into a local lake, as ExtractTableOperator runs it.

``tributary.replication.extract_table`` with a ``PostgresReader`` built as
``tributary.hooks.sources.open_reader`` builds it (a psycopg2 connect function for the catalog and
counts, libpq parameters for DuckDB's postgres scanner): audit columns, Parquet parts, sha256
of each part, the manifest. The lake root is the local folder ``--out`` (a ``pathlib.Path``;
the operator hands the core an ``ObjectStoragePath`` over the same kind of folder).

``--sessions`` is the table's ``sessions:`` setting: a whole table as that many parallel ctid
ranges, a window as that many slices, each over its own PostgreSQL session (pool slot).
``--engine stream`` measures the path the engine takes when it cannot let DuckDB write the
Parquet (schema drift to conform, or the psycopg2 fallback's tables): Arrow batches from the
scanner through pyarrow's ``ParquetWriter``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg2
from _common import Report, libpq, parser

p = parser(__doc__)
p.add_argument("--mode", choices=["full", "window"], required=True)
p.add_argument("--sessions", type=int, default=1)
p.add_argument("--engine", choices=["duckdb", "stream"], default="duckdb")
p.add_argument("--window", default="2025-10-01/2025-11-01", help="the run's window (start/end, UTC)")
p.add_argument("--table", default="sales")
p.add_argument("--date-column", default="sales_date")
args = p.parse_args()

import datetime as dt  # noqa: E402
import functools  # noqa: E402

from tributary.config import Schedule, TableConfig  # noqa: E402
from tributary.readers.base import SourceReader  # noqa: E402
from tributary.readers.postgres import PostgresReader  # noqa: E402
from tributary.replication import extract_table  # noqa: E402
from tributary.windows import Window  # noqa: E402

report = Report()
params = libpq()
reader = PostgresReader(conn_id="bench_pg", connect=lambda: psycopg2.connect(**params), libpq=params)
if args.engine == "stream":
    # the base reader's write_parts: Arrow batches through pyarrow, without DuckDB's scan
    reader.write_parts = functools.partial(SourceReader.write_parts, reader)  # type: ignore[method-assign]
config = {"name": args.table, "schema": "public", "mode": args.mode, "primary_key": ["id"]}
if args.mode == "window":
    config["date_column"] = args.date_column
table = TableConfig.model_validate({**config, "batch_size": args.batch_size, "sessions": args.sessions})
start, end = (dt.datetime.fromisoformat(b).replace(tzinfo=dt.UTC) for b in args.window.split("/"))
lake = Path(args.out)
lake.mkdir(parents=True, exist_ok=True)
try:
    manifest = extract_table(
        reader, table, source="bench", schedule=Schedule.monthly, window=Window(start, end), lake_root=lake
    )
finally:
    reader.release()
report.done(manifest.rows, files=len(manifest.files), pandas_imported=sys.modules.get("pandas") is not None)
