"""PostgreSQL: the catalog through the provider's psycopg2 connection; rows through DuckDB.

DuckDB's postgres scanner reads with ``COPY ... TO STDOUT (FORMAT binary)`` and hands over Arrow
batches with exact types (``numeric(p,s)`` as ``decimal(p,s)``), several times faster than
psycopg2's Python objects. The window filter is pushed into the source query, where it can use an
index. Tables with a column the scanner cannot read exactly (``numeric`` without a precision or
wider than DuckDB's 38 digits, ``interval``, arrays, …) go through a psycopg2 server-side cursor,
which selects such columns as PostgreSQL's text of the value.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from tributary.audit import AUDIT_FIELDS, Audit, with_audit_schema
from tributary.config import Mode, TableConfig
from tributary.dialects import DUCKDB, POSTGRES, postgres_text, postgres_types
from tributary.dialects.columns import Column, SourceColumn, schema_of
from tributary.drift import DriftPlan
from tributary.errors import CatalogError, SourceError, TypeMappingError
from tributary.parts import PartFile, as_schema, drop_empty_parts, rename_parts, write_files
from tributary.prefetch import in_thread, prefetched
from tributary.readers.base import SourceReader
from tributary.readers.postgres_scanner import (
    ALIAS,
    CAST_TO_BLOB,
    CAST_TO_VARCHAR,
    DUCKDB_AUDIT_TYPES,
    duckdb_connection,
    scanner_attach,
    scanner_exact,
)
from tributary.sql import render
from tributary.windows import Window

log = logging.getLogger(__name__)


def _slices(params: dict[str, Any], window: Window | None, count: int) -> list[dict[str, Any]]:
    """The bind values of ``count`` equal slices of a closed window (else just ``params``)."""
    start, end = params.get("window_start"), params.get("window_end")
    if count <= 1 or window is None or window.include_nulls or start is None or end is None:
        return [params]
    step = (end - start) / count
    if isinstance(start, dt.date) and not isinstance(start, dt.datetime):
        step = dt.timedelta(days=max(1, step.days))
    bounds = [start + step * i for i in range(count)] + [end]
    bounds = sorted(set(b if b < end else end for b in bounds))
    return [{"window_start": a, "window_end": b} for a, b in itertools.pairwise(bounds)]


def _autocommit(connect: Callable[[], Any]) -> Callable[[], Any]:
    """``connect`` whose connection is in autocommit: the catalog queries and counts are single
    statements, so each is one round trip instead of three (psycopg2's ``BEGIN``, the query,
    the ``ROLLBACK`` that leaves no transaction open). A server-side cursor opens the
    transaction it needs (``_server_side``)."""

    def opened() -> Any:
        connection = connect()
        connection.autocommit = True
        return connection

    return opened


@dataclass(frozen=True)
class _Scan:
    """One DuckDB read through the scanner: its settings, the ATTACH of the source, and the
    schema its Arrow batches are written as."""

    settings: str
    attach: list[str]
    schema: pa.Schema
    batch_size: int

    def batches(self, statement: str, con: Any = None) -> Generator[pa.RecordBatch]:
        """The rows of ``statement`` from a DuckDB of their own (``con``, a new one by default),
        as batches of ``schema``; the DuckDB is closed at the end."""
        con = con if con is not None else duckdb_connection()
        try:
            con.execute(self.settings)
            for step in self.attach:
                con.execute(step)
            for batch in con.execute(statement).to_arrow_reader(self.batch_size):
                yield as_schema(batch, self.schema)
        finally:
            con.close()


class PostgresReader(SourceReader):
    """Reads one PostgreSQL table: DuckDB's scanner when ``libpq`` is given, else psycopg2.

    :param connection: a psycopg2 connection (the provider hook's), for the catalog and counts
    :param conn_id: the Airflow connection id, for messages
    :param libpq: libpq keywords and values for the same database (host, port, user, password,
        dbname, and the TLS and other settings of the connection's extra), for DuckDB's scanner
    """

    dialect = POSTGRES
    arrow_type = staticmethod(postgres_types.arrow_type)

    def __init__(
        self,
        connection: Any = None,
        *,
        conn_id: str,
        connect: Callable[[], Any] | None = None,
        libpq: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(connection, conn_id=conn_id, connect=_autocommit(connect) if connect else None)
        self.libpq = dict(libpq or {})
        self._warm: Future[Any] | None = None

    def prepare_read(self) -> None:
        """Start DuckDB with the postgres scanner loaded in a thread, while the catalog is read:
        importing DuckDB and loading the extension (its signature checked) take about as long
        as the catalog queries, and the read that follows would otherwise wait for both."""
        if self.libpq and self._warm is None:
            self._warm = in_thread(lambda: duckdb_connection(), name="tributary-duckdb")

    def _duckdb(self) -> Future[Any] | None:
        """The DuckDB ``prepare_read`` started (the read's first slice takes it), if any."""
        warm, self._warm = self._warm, None
        return warm

    def release(self) -> None:
        super().release()
        warm = self._duckdb()  # started for a read that did not happen (a psycopg2 read, an error)
        if warm is not None:
            with contextlib.suppress(Exception):
                warm.result().close()

    def source_column(self, row: tuple[Any, ...]) -> SourceColumn:
        return postgres_types.with_element(super().source_column(row[:5]), row[5:8])

    def scanner_can_read(self, columns: list[Column]) -> bool:
        """Whether DuckDB's scanner reads these columns, exactly as the type map wants them."""
        return bool(self.libpq) and all(scanner_exact(c) for c in columns)

    # -- queries -------------------------------------------------------------------------------

    def describe(self, table: TableConfig) -> list[Column]:
        """The columns to read; a whole-table read fails if the role cannot read some columns
        (the catalog would leave those out, and the lake would silently lack them). A role that
        may read none gets the permission error of the read itself, with what to grant."""
        columns = super().describe(table)
        if table.columns is None:
            schema = self.schema_name(table)
            rows = self.fetch_all(render(POSTGRES, "hidden_columns"), {"schema": schema, "table": table.name})
            hidden = [row[0] for row in rows]
            if hidden and not {c.name for c in columns} <= set(hidden):
                raise CatalogError(
                    f"the user of connection {self.conn_id!r} may not read columns {hidden} of "
                    f"{schema}.{table.name}, so a copy of the whole table would lack them; grant "
                    "SELECT on them, or list the columns to copy in the table's `columns:`"
                )
        return columns

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        try:
            return super().fetch_all(sql, params)
        finally:
            # leave no transaction open: the session would sit "idle in transaction" through a
            # long extract, holding its locks, until idle_in_transaction_session_timeout kills it
            self._end_transaction()

    def _end_transaction(self) -> None:
        if not getattr(self.connection, "autocommit", False) and not getattr(self.connection, "closed", 0):
            self.connection.rollback()

    def _context(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        context, params = super()._context(table, columns, window)
        context["text_columns"] = [c.name for c in columns if postgres_types.read_as_text(c.source)]
        return context, params

    def count(self, table: TableConfig, columns: list[Column], window: Window | None) -> int:
        """The window's row count; refuses a window whose decimals or intervals the scanner
        would misread.

        The scanner reads a ``numeric(p,s)`` NaN as 0 (the psycopg2 path fails on it instead),
        and wraps an interval's time part past the ±2^63 nanoseconds of Arrow's
        ``month_day_nano_interval`` (the psycopg2 path fails on it). Verify counts the same window
        before anything is committed, so the checks add no query of their own.
        """
        context, params = self._context(table, columns, window)
        scanned = self.scanner_can_read(columns)
        nan_columns = [c.name for c in columns if scanned and pa.types.is_decimal(c.arrow_type)]
        interval_columns = [c.name for c in columns if scanned and pa.types.is_interval(c.arrow_type)]
        sql = render(POSTGRES, "count", nan_columns=nan_columns, interval_columns=interval_columns, **context)
        total, *found = self.fetch_all(sql, params)[0]
        checked = [(name, "NaN") for name in nan_columns] + [(name, "long") for name in interval_columns]
        bad = {name: (kind, int(n)) for (name, kind), n in zip(checked, found, strict=True) if n}
        with_nan = {name: n for name, (kind, n) in bad.items() if kind == "NaN"}
        if with_nan:
            raise TypeMappingError(
                f"table {context['schema']}.{table.name}: columns {sorted(with_nan)} hold NaN in "
                f"{sum(with_nan.values())} row(s) of this window, which a decimal cannot hold; "
                "replace NaN in the source, or read the column as text (numeric without a precision) "
                "through a view"
            )
        if bad:
            raise TypeMappingError(
                f"table {context['schema']}.{table.name}: columns {sorted(bad)} hold intervals whose "
                f"hours, minutes and seconds exceed 2562047 hours in {sum(n for _, n in bad.values())} "
                "row(s) of this window, which Arrow's month_day_nano_interval cannot hold; read the "
                "column through a view that casts it to text (or justify_hours() it into days)"
            )
        return int(total)

    def batches(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        if self.scanner_can_read(columns):
            log.info("%s: reading through DuckDB's postgres scanner", table.name)
            yield from self._scanner_batches(table, columns, window)
        else:
            log.info("%s: reading through a psycopg2 server-side cursor", table.name)
            yield from self._cursor_batches(table, columns, window)

    def write_parts(
        self,
        table: TableConfig,
        columns: list[Column],
        window: Window | None,
        *,
        audit: Audit,
        staging: Path,
        drift: DriftPlan | None = None,
        compression: str = "snappy",
        rows_per_file: int = 1_000_000,
        label: str = "",
    ) -> list[PartFile]:
        """DuckDB reads the rows through the scanner, audit columns included; pyarrow writes them.

        No row crosses into Python objects: DuckDB hands over Arrow batches, which pyarrow's
        writer writes as parts of the exact schema, NOT NULL columns as required fields (DuckDB's
        own Parquet writer, which wrote the parts before, marks every column optional; a second
        pass to fix that cost more than this path, see the README). The table's ``sessions`` > 1
        reads a whole table as parallel ctid ranges (one DuckDB, that many sessions), or a window
        as as many slices of its bounds side by side (one DuckDB, session and writer each, each
        slice its own indexed query). When the scanner cannot read the columns exactly, or
        ``drift`` conforms them to another schema, the rows stream through ``batches`` instead.
        """
        if not self.scanner_can_read(columns) or (drift is not None and not drift.is_identity):
            return super().write_parts(
                table,
                columns,
                window,
                audit=audit,
                staging=staging,
                drift=drift,
                compression=compression,
                rows_per_file=rows_per_file,
                label=label,
            )
        context, statements = self._audited_selects(table, columns, window, audit)
        label = label or f"{context['schema']}.{table.name}"
        scan = self._scan(table, columns, window, context["schema"], len(statements), label)
        warm = self._duckdb()

        def write(index: int) -> list[PartFile]:
            con = warm.result() if warm is not None and index == 0 else None
            # DuckDB decodes the next batch while pyarrow encodes this one (both release the GIL)
            with contextlib.closing(prefetched(scan.batches(statements[index], con))) as batches:
                return write_files(
                    batches,
                    schema=scan.schema,
                    path_of=lambda n: staging / f"slice{index}-{n}.parquet",
                    compression=compression,
                    rows_per_file=rows_per_file,
                    label=label,
                )

        self.release()  # the catalog session is not needed while DuckDB reads
        written = self._scanned(table, context, write, len(statements))
        return drop_empty_parts(rename_parts(written, staging, audit.batch_id), staging)

    def _audited_selects(
        self, table: TableConfig, columns: list[Column], window: Window | None, audit: Audit
    ) -> tuple[dict[str, Any], list[str]]:
        """The read's context, and DuckDB's select with the audit columns for each slice of it."""
        context, params = self._context(table, columns, window)
        slices = _slices(params, window, table.sessions if table.mode is Mode.window else 1)
        audit_values = dict(zip((f.name for f in AUDIT_FIELDS), audit.values(), strict=True))
        shape = {
            "columns": context["columns"],
            "varchar_columns": [c.name for c in columns if c.source.data_type in CAST_TO_VARCHAR],
            "blob_columns": [c.name for c in columns if c.source.data_type in CAST_TO_BLOB],
            "audit_columns": [(f.name, DUCKDB_AUDIT_TYPES[f.name]) for f in AUDIT_FIELDS],
        }
        statements = [
            render(
                DUCKDB,
                "select_audited",
                values=audit_values,
                select=render(DUCKDB, "select_attached", alias=ALIAS, values=bounds, **context),
                **shape,
            )
            for bounds in slices
        ]
        return context, statements

    def _scan(
        self,
        table: TableConfig,
        columns: list[Column],
        window: Window | None,
        schema: str,
        slices: int,
        label: str,
    ) -> _Scan:
        """The scanner's settings for a read of ``slices`` slices: a whole table over the table's
        ``sessions`` (ctid ranges side by side), a window over one session a slice."""
        ctid_sessions = table.sessions if window is None else 1
        scan = _Scan(
            settings=render(DUCKDB, "scanner_settings", sessions=ctid_sessions, ctid_scan=window is None),
            attach=scanner_attach(self.libpq, schema),
            schema=with_audit_schema(schema_of(columns)),
            batch_size=table.batch_size,
        )
        if slices > 1:
            log.info("%s: %d slices of the window side by side, one session each", label, slices)
        log.info(
            "%s: DuckDB reads through the postgres scanner over %d session(s), pyarrow writes the parts",
            label,
            ctid_sessions * slices,
        )
        return scan

    def _scanned(
        self,
        table: TableConfig,
        context: dict[str, Any],
        write: Callable[[int], list[PartFile]],
        count: int,
    ) -> list[list[PartFile]]:
        """``write`` of each of ``count`` slices, side by side; a failure of the scanner's read
        as a :class:`SourceError`."""
        import duckdb

        try:
            # each DuckDB holds its own secret: the slices' threads share no process state
            if count == 1:
                return [write(0)]
            with ThreadPoolExecutor(count, thread_name_prefix="tributary-slice") as pool:
                return list(pool.map(write, range(count)))
        except (duckdb.Error, OSError) as exc:  # mid-stream, the Arrow reader raises OSError
            raise SourceError(
                f"reading {context['schema']}.{table.name} through DuckDB's postgres scanner "
                f"(connection {self.conn_id!r}) failed: {exc}"
            ) from exc

    def _scanner_batches(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        import duckdb

        context, params = self._context(table, columns, window)
        schema = schema_of(columns)
        sql = render(
            DUCKDB,
            "select_audited",
            select=render(DUCKDB, "select_attached", alias=ALIAS, values=params, **context),
            varchar_columns=[c.name for c in columns if c.source.data_type in CAST_TO_VARCHAR],
            blob_columns=[c.name for c in columns if c.source.data_type in CAST_TO_BLOB],
            **context,
        )
        warm = self._duckdb()
        # the catalog session is not needed while DuckDB reads: one session, one pool slot
        self.release()
        con = warm.result() if warm is not None else duckdb_connection()
        try:
            try:
                con.execute(render(DUCKDB, "scanner_settings"))
                for step in scanner_attach(self.libpq, context["schema"]):
                    con.execute(step)
                reader = con.execute(sql).to_arrow_reader(table.batch_size)
                for batch in reader:
                    yield as_schema(batch, schema)
            except (duckdb.Error, OSError) as exc:  # mid-stream, the Arrow reader raises OSError
                raise SourceError(
                    f"reading {context['schema']}.{table.name} through DuckDB's postgres scanner "
                    f"(connection {self.conn_id!r}) failed: {exc}"
                ) from exc
        finally:
            con.close()

    def keys(self, table: TableConfig, columns: list[Column]) -> Iterator[pa.RecordBatch]:
        """The keys through a psycopg2 server-side cursor, not DuckDB's scanner: the scanner
        reads the table's pages by ctid ranges, where a plain ``SELECT <key>`` lets the planner
        answer from the primary key's index alone."""
        return self._server_side(table, lambda: SourceReader.keys(self, table, columns))

    def _cursor_batches(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        return self._server_side(table, lambda: SourceReader.batches(self, table, columns, window))

    def _server_side(
        self, table: TableConfig, read: Callable[[], Iterator[pa.RecordBatch]]
    ) -> Iterator[pa.RecordBatch]:
        """The batches of ``read`` (a read through ``cursor_for_streaming``), inside the
        transaction a server-side cursor needs, with the session's stream settings."""
        connection = self.connection
        autocommit = bool(getattr(connection, "autocommit", False))
        if autocommit:
            connection.autocommit = False  # a server-side cursor lives inside a transaction
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(render(POSTGRES, "stream_settings"))
            finally:
                cursor.close()
            yield from read()
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, pa.ArrowException):
                raise
            # psycopg2 turns each value into a Python object; some have none
            raise TypeMappingError(
                f"table {self.schema_name(table)}.{table.name}: a value has no Python equivalent: "
                f"{exc}; dates outside years 1-9999 (BC dates, say) cannot be read, cast the column "
                "in a view"
            ) from exc
        finally:
            self._end_transaction()
            if autocommit:
                connection.autocommit = True

    def rows_to_batch(self, rows: list[tuple[Any, ...]], columns: list[Column]) -> pa.RecordBatch:
        """Rows of the server-side cursor as a batch: the columns read as PostgreSQL's text of a
        native type (intervals, arrays, json, money) parsed by ``postgres_text``."""
        texts = [Column(c.source, pa.string()) if postgres_text.is_parsed(c) else c for c in columns]
        return postgres_text.parse_columns(super().rows_to_batch(rows, texts), columns)

    def cursor_for_streaming(self) -> Any:
        # a named cursor is a server-side cursor: each fetchmany(batch_size) is one FETCH
        return self.connection.cursor(name="tributary_extract")
