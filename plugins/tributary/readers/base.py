"""The DB-API reader every dialect shares: catalog, counts and batches through one cursor, and a
table's Parquet parts written from those batches (``write_parts``)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from tributary.audit import Audit
from tributary.config import TableConfig
from tributary.dialects import Dialect
from tributary.dialects.columns import Column, SourceColumn, schema_of
from tributary.drift import DriftPlan
from tributary.errors import CatalogError
from tributary.parts import PartFile, write_parts
from tributary.readers.arrow import rows_to_batch
from tributary.sql import render
from tributary.windows import Window

log = logging.getLogger(__name__)


class SourceReader:
    """Reads one table of one source through a DB-API connection.

    :param connection: an open DB-API connection (the caller closes it)
    :param conn_id: the Airflow connection id, for messages
    :param connect: instead of ``connection``, a function that opens one: the reader opens it on
        first use and closes it in ``release()``, so that a reader whose rows come through
        another engine holds no idle session meanwhile
    """

    dialect: ClassVar[Dialect]

    @staticmethod
    def arrow_type(column: SourceColumn) -> pa.DataType:
        """The Arrow type of a source column: the dialect's type map (``tributary.dialects``)."""
        raise NotImplementedError

    def __init__(
        self, connection: Any = None, *, conn_id: str, connect: Callable[[], Any] | None = None
    ) -> None:
        if connection is not None and connect is not None:
            raise ValueError("give a reader an open connection or a connect function, not both")
        self._connection = connection
        self._connect = connect
        self.conn_id = conn_id

    @property
    def connection(self) -> Any:
        if self._connection is None:
            if self._connect is None:
                raise RuntimeError(f"reader of {self.conn_id!r} has no connection")
            self._connection = self._connect()
        return self._connection

    def prepare_read(self) -> None:
        """Rows are about to be read: a reader with an engine of its own may start it now, while
        the catalog is read (PostgreSQL: DuckDB). Nothing here."""

    def release(self) -> None:
        """Close the connection if this reader opened it; the next query opens a new one."""
        if self._connect is not None and self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    # -- catalog -------------------------------------------------------------------------------

    def schema_name(self, table: TableConfig) -> str:
        return table.schema_ or self.dialect.default_schema or ""

    def catalog(self, schema: str, table: str) -> list[SourceColumn]:
        """The table's columns as the source catalog lists them, in table order."""
        rows = self.fetch_all(render(self.dialect, "columns"), {"schema": schema, "table": table})
        return [self.source_column(row) for row in rows]

    def source_column(self, row: tuple[Any, ...]) -> SourceColumn:
        name, data_type, precision, scale, nullable = row
        return SourceColumn(
            name=name,
            data_type=str(data_type).lower(),
            precision=int(precision) if precision is not None else None,
            scale=int(scale) if scale is not None else None,
            nullable=bool(nullable),
        )

    def describe(self, table: TableConfig) -> list[Column]:
        """The columns to read, checked against the catalog; config names must exist there."""
        schema = self.schema_name(table)
        found = self.catalog(schema, table.name)
        if not found:
            raise CatalogError(
                f"table {schema}.{table.name} does not exist in the source of connection "
                f"{self.conn_id!r} (or its user cannot see it); check `name`/`schema` in the "
                "pipeline config and the user's privileges"
            )
        by_name = {c.name: c for c in found}
        wanted = list(table.columns) if table.columns else [c.name for c in found]
        named = {"columns": wanted, "date_column": [table.date_column] if table.date_column else []}
        named["primary_key"] = list(table.primary_key)
        for key, names in named.items():
            missing = [n for n in names if n not in by_name]
            if missing:
                raise CatalogError(
                    f"{key} of table {schema}.{table.name} names {missing}, which the source "
                    f"(connection {self.conn_id!r}) does not have; its columns are {sorted(by_name)}"
                )
        return [Column(by_name[n], type(self).arrow_type(by_name[n])) for n in wanted]

    # -- queries -------------------------------------------------------------------------------

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(sql, dict(params))
            return [tuple(r) for r in cursor.fetchall()]
        finally:
            cursor.close()

    def window_value(self, column: Column, value: dt.datetime) -> Any:
        """A window bound as a bind value of the date column's type (bounds are UTC)."""
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        if pa.types.is_date(column.arrow_type):
            return naive.date()
        if pa.types.is_timestamp(column.arrow_type) and column.arrow_type.tz:
            return value.astimezone(dt.UTC)
        return naive

    def _context(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        column_name = table.filter_column if window is not None else None
        context: dict[str, Any] = {
            "schema": self.schema_name(table),
            "table": table.name,
            "columns": [c.name for c in columns],
            "date_column": column_name,
            "open_start": window is not None and window.start is None,
            "include_nulls": window is not None and window.include_nulls,
        }
        params: dict[str, Any] = {}
        if window is not None and column_name:
            column = next(
                (c for c in columns if c.name == column_name),
                Column(SourceColumn(column_name, "timestamp"), pa.timestamp("us")),
            )
            params["window_end"] = self.window_value(column, window.end)
            if window.start is not None:
                params["window_start"] = self.window_value(column, window.start)
        return context, params

    def count(self, table: TableConfig, columns: list[Column], window: Window | None) -> int:
        context, params = self._context(table, columns, window)
        rows = self.fetch_all(render(self.dialect, "count", **context), params)
        return int(rows[0][0])

    def count_nulls(self, table: TableConfig, columns: list[Column], column: str) -> int:
        """The table's rows whose ``column`` is NULL (a watermark table's unplaceable rows)."""
        context, _ = self._context(table, columns, None)
        context.update(date_column=column, only_nulls=True)
        rows = self.fetch_all(render(self.dialect, "count", **context), {})
        return int(rows[0][0])

    def batches(
        self, table: TableConfig, columns: list[Column], window: Window | None
    ) -> Iterator[pa.RecordBatch]:
        """The table's rows for ``window`` as record batches of ``table.batch_size`` rows."""
        context, params = self._context(table, columns, window)
        sql = render(self.dialect, "select", **context)
        return self._streamed(sql, params, columns, table.batch_size)

    def _streamed(
        self, sql: str, params: Mapping[str, Any], columns: list[Column], batch_size: int
    ) -> Iterator[pa.RecordBatch]:
        cursor = self.cursor_for_streaming()
        try:
            cursor.execute(sql, dict(params))
            while rows := cursor.fetchmany(batch_size):
                yield self.rows_to_batch(rows, columns)
        finally:
            cursor.close()

    def rows_to_batch(self, rows: list[tuple[Any, ...]], columns: list[Column]) -> pa.RecordBatch:
        """The driver's rows as a batch of the columns' Arrow types (exact, or ``DataError``)."""
        return rows_to_batch(rows, schema_of(columns))

    # -- keys (deletes: detect_by_keys) --------------------------------------------------------

    def key_columns(self, table: TableConfig) -> list[Column]:
        """The primary key's columns, typed by the type map; they must be among the columns the
        table copies, since the lake's keys are compared with them."""
        columns = {c.name: c for c in self.describe(table)}
        missing = [name for name in table.primary_key if name not in columns]
        if missing:
            raise CatalogError(
                f"primary_key of table {self.schema_name(table)}.{table.name} names {missing}, which "
                f"the table's `columns:` leave out; the lake must hold the key to detect deletes: add "
                "them to `columns:`"
            )
        return [columns[name] for name in table.primary_key]

    def keys(self, table: TableConfig, columns: list[Column]) -> Iterator[pa.RecordBatch]:
        """The key ``columns`` (``key_columns``) of every row of the table, as record batches of
        ``table.batch_size`` rows: no filter and no order, so the source can read the key's index
        alone."""
        context, _ = self._context(table, columns, None)
        sql = render(self.dialect, "select_keys", **context)
        return self._streamed(sql, {}, columns, table.batch_size)

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
        """Write the table's rows of ``window`` as Parquet parts, audit columns included, into
        ``staging``; no rows still write one part, with the schema.

        ``drift`` is the plan whose ``read`` are ``columns``: the rows are written as its
        ``schema`` (without a plan, as they are read). Here the rows stream from ``batches``
        through :func:`~tributary.parts.write_parts`; a reader with an engine of its own
        (PostgreSQL: DuckDB) uses it where it can.
        """
        batches: Iterable[pa.RecordBatch] = self.batches(table, columns, window)
        schema = schema_of(columns)
        if drift is not None:
            batches, schema = drift.conform(batches), drift.schema
        return write_parts(
            batches,
            schema=schema,
            audit=audit,
            staging=staging,
            compression=compression,
            rows_per_file=rows_per_file,
            label=label,
        )

    def cursor_for_streaming(self) -> Any:
        """A cursor that fetches from the server in chunks, not the whole result at once."""
        return self.connection.cursor()
