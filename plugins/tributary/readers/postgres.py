"""PostgreSQL: the catalog through the provider's psycopg2 connection; rows through DuckDB.

DuckDB's postgres scanner reads with ``COPY ... TO STDOUT (FORMAT binary)`` and hands over Arrow
batches with exact types (``numeric(p,s)`` as ``decimal(p,s)``), at about the speed of the COPY
itself (see ``bench/``). The window filter is pushed into the source query, where it can use an
index. Columns of types the scanner cannot read exactly (``numeric`` without a precision, say)
make the table go through a psycopg2 server-side cursor instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from tributary.config import TableConfig
from tributary.dialects import DUCKDB, POSTGRES, postgres_types
from tributary.dialects.columns import Column, schema_of
from tributary.readers.base import SourceReader
from tributary.sql import render
from tributary.windows import Window

log = logging.getLogger(__name__)

# catalog types DuckDB's scanner returns exactly as the type map wants them
_SCANNER_EXACT = {
    "smallint", "integer", "bigint", "real", "double precision", "boolean", "text",
    "character varying", "character", "name", "uuid", "json", "jsonb", "bytea", "date",
    "timestamp without time zone", "timestamp with time zone",
}  # fmt: skip
_ALIAS = "src"
_LIBPQ_KEYS = ("host", "port", "user", "password", "dbname", "sslmode")


@contextlib.contextmanager
def libpq_environment(params: Mapping[str, Any]) -> Iterator[None]:
    """Set libpq's PG* variables for the duration, so no credential is written into SQL text."""
    names = {key: f"PG{key.upper()}" for key in _LIBPQ_KEYS}
    names["dbname"] = "PGDATABASE"
    saved = {var: os.environ.get(var) for var in names.values()}
    try:
        for key, var in names.items():
            if params.get(key) not in (None, ""):
                os.environ[var] = str(params[key])
            else:
                os.environ.pop(var, None)
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def duckdb_connection() -> Any:
    """An in-memory DuckDB with the postgres scanner loaded from its PyPI package."""
    import duckdb

    con = duckdb.connect()
    try:
        from duckdb_extensions import import_extension

        import_extension("postgres_scanner", con=con)
    except ImportError:  # a DuckDB that can download its extensions
        con.execute("INSTALL postgres")
    con.execute("LOAD postgres")
    return con


class PostgresReader(SourceReader):
    dialect = POSTGRES
    arrow_type = staticmethod(postgres_types.arrow_type)

    def __init__(self, connection: Any, *, conn_id: str, libpq: Mapping[str, Any] | None = None) -> None:
        super().__init__(connection, conn_id=conn_id)
        self.libpq = dict(libpq or {})

    def scanner_can_read(self, columns: list[Column]) -> bool:
        return bool(self.libpq) and all(
            c.source.data_type in _SCANNER_EXACT or (c.source.data_type == "numeric" and c.source.precision)
            for c in columns
        )

    def batches(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        if not self.scanner_can_read(columns):
            log.info("%s: reading through a psycopg2 server-side cursor", table.name)
            yield from super().batches(table, columns, window)
            return
        context, params = self._context(table, columns, window)
        schema = schema_of(columns)
        with libpq_environment(self.libpq):
            con = duckdb_connection()
            try:
                # one session: the task holds one slot of the source pool
                con.execute("SET threads = 1")
                # a window reads through one filtered query (it can use an index); a full table
                # is read as a plain COPY of the table
                con.execute("SET pg_use_ctid_scan = false")
                con.execute(render(DUCKDB, "attach_postgres", alias=_ALIAS))
                sql = render(DUCKDB, "select_attached", alias=_ALIAS, **context)
                reader = con.execute(sql, params).to_arrow_reader(table.batch_size)
                for batch in reader:
                    yield batch.cast(schema) if batch.schema != schema else batch
            finally:
                con.close()

    def cursor_for_streaming(self) -> Any:
        # a named cursor is a server-side cursor: psycopg2 fetches itersize rows at a time
        cursor = self.connection.cursor(name="tributary_extract")
        cursor.itersize = 50_000
        return cursor
