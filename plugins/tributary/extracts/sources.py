"""The rows of an extract, as an Arrow schema and a stream of record batches with exact types.

* The DuckDB warehouse (connection type ``duckdb``): opened read-only, every object type but
  procedures (DuckDB has none; a table macro is a ``function``); Arrow batches straight from
  DuckDB.
* PostgreSQL, SQL Server, SQLite: tables and views through Tributary's source readers (catalog
  check, the dialect's type map, PostgreSQL through DuckDB's scanner); queries, functions and
  procedures through a DB-API cursor whose result columns are typed by the source itself:
  PostgreSQL's type OIDs, precision and scale in ``cursor.description``; SQL Server's
  ``sp_describe_first_result_set``. SQLite reports no types for a query's columns: they are taken
  from the values of the first batch.

Window bounds are bind values in the form each dialect compares exactly with its date and
timestamp columns (UTC instants; text for SQL Server and SQLite, as their readers bind them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tributary.config import Mode, TableConfig
from tributary.dialects import DUCKDB, MSSQL, POSTGRES, Dialect, mssql_types, postgres_text, postgres_types
from tributary.dialects.columns import Column, SourceColumn, schema_of
from tributary.errors import TributaryError
from tributary.extracts.config import Extract, ObjectType
from tributary.readers.arrow import rows_to_batch
from tributary.readers.mssql import neutral_datetime_text
from tributary.sql import render
from tributary.windows import Window

log = logging.getLogger(__name__)

_CURSOR = "tributary_extract"
# PostgreSQL types psycopg2 would turn into Python objects without an exact text (json as a
# dict, interval as a timedelta): read as the server's text instead
_PG_TEXT_OIDS = (114, 3802, 1186, 790)
_PG_TEXT_TYPES = ("json", "jsonb", "interval", "money")
# fetched as text, then parsed into their Arrow types as the lake's reader parses them
_PG_PARSED = frozenset({"interval", "money"})


class ExtractSourceError(TributaryError):
    """The source cannot give the extract's rows: a missing object, a bad query, an object type
    the dialect does not have."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Rows:
    """An extract's result: its Arrow schema and its batches (consumed once)."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


# --- the statement ----------------------------------------------------------------------------


def bound(dialect: Dialect, value: dt.datetime | dt.date) -> Any:
    """A window bound (or a date parameter) as the bind value ``dialect`` compares exactly."""
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC)
        if dialect.name == "mssql":
            return neutral_datetime_text(Column(SourceColumn("bound", "datetime2"), pa.timestamp("us")), utc)
        if dialect.name == "sqlite":  # ISO text, as SqliteReader binds a window
            naive = utc.replace(tzinfo=None)
            return naive.date().isoformat() if naive.time() == dt.time() else naive.isoformat(sep=" ")
        return utc
    if dialect.name == "mssql":
        return value.strftime("%Y%m%d")
    if dialect.name == "sqlite":
        return value.isoformat()
    return value


def _parameter(dialect: Dialect, value: Any, window: Window) -> Any:
    assert window.start is not None
    tokens = {
        "{window_start}": window.start,
        "{window_end}": window.end,
        "{window_start_date}": window.start.date(),
        "{window_end_date}": window.end.date(),
    }
    if isinstance(value, str) and value in tokens:
        return bound(dialect, tokens[value])
    if isinstance(value, dt.date):
        return bound(dialect, value)
    return value


def statement(
    extract: Extract, dialect: Dialect, window: Window, *, query: str | None = None
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The template, its context and the bind values of an extract's statement."""
    source = extract.config.source
    incremental = extract.config.incremental
    params: dict[str, Any] = {}
    arguments = []
    for index, value in enumerate(source.parameters.values()):
        arguments.append(f"p{index}")
        params[f"p{index}"] = _parameter(dialect, value, window)
    context: dict[str, Any] = {
        "object_type": source.object_type.value,
        "schema": source.schema_,
        "name": source.name,
        "query": query,
        "arguments": arguments,
        "columns": source.columns,
        "date_column": incremental.date_column if incremental else None,
    }
    if incremental:
        assert window.start is not None
        params["window_start"] = bound(dialect, window.start)
        params["window_end"] = bound(dialect, window.end)
    if source.object_type is ObjectType.procedure:
        context["parameters"] = list(zip(source.parameters, arguments, strict=True))
        return "extract_exec", context, params
    return "extract_select", context, params


def read_query(extract: Extract, dialect: Dialect) -> str | None:
    """The text of an extract's query file, ready to be a derived table."""
    if extract.config.source.object_type is not ObjectType.query:
        return None
    path = extract.query_path()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ExtractSourceError(f"cannot read the query file {path}: {exc.strerror}") from exc
    text = text.strip().rstrip(";").strip()
    if not text:
        raise ExtractSourceError(f"the query file {path} is empty")
    # psycopg2 runs the text through %-formatting when parameters are passed
    return text.replace("%", "%%") if dialect.name == "postgres" else text


def _unsupported(extract: Extract, dialect: str) -> ExtractSourceError | None:
    kind = extract.config.source.object_type
    if kind is ObjectType.procedure and dialect == "duckdb":
        return ExtractSourceError(
            "DuckDB has no stored procedures: define a table macro (CREATE MACRO m(p) AS TABLE "
            "SELECT ...) and use object_type: function"
        )
    if kind is ObjectType.procedure and dialect == "postgres":
        return ExtractSourceError(
            "a PostgreSQL procedure returns no rows: write a set-returning function (RETURNS TABLE "
            "(...)) and use object_type: function"
        )
    if kind in (ObjectType.procedure, ObjectType.function) and dialect == "sqlite":
        return ExtractSourceError(
            f"SQLite has no {kind.value}s that return rows: use object_type: query or a view"
        )
    return None


# --- the DuckDB warehouse ---------------------------------------------------------------------


@contextlib.contextmanager
def duckdb_rows(path: Path, extract: Extract, window: Window, *, lock_wait: float) -> Iterator[Rows]:
    """The extract's rows from a DuckDB file opened read-only (released when the block ends)."""
    import duckdb

    from tributary.hooks import warehouse

    problem = _unsupported(extract, "duckdb")
    if problem:
        raise problem
    query = read_query(extract, DUCKDB)
    con = warehouse.connect(path, read_only=True, lock_wait=lock_wait)
    try:
        con.execute(render(DUCKDB, "extract_session"))
        template, context, params = statement(extract, DUCKDB, window, query=query)
        sql = render(DUCKDB, template, **context)
        try:
            reader = con.execute(sql, params).to_arrow_reader(extract.config.batch_size)
        except duckdb.Error as exc:
            raise ExtractSourceError(
                f"DuckDB refused the extract's {extract.config.source.label} in {path}: {exc}"
            ) from exc
        yield Rows(reader.schema, _duckdb_batches(reader, path))
    finally:
        con.close()


def _duckdb_batches(reader: Any, path: Path) -> Iterator[pa.RecordBatch]:
    import duckdb

    try:
        yield from reader
    except (duckdb.Error, OSError, pa.ArrowException) as exc:  # an error met mid-stream
        raise ExtractSourceError(f"reading {path} failed after the first rows: {exc}") from exc


# --- PostgreSQL, SQL Server, SQLite -----------------------------------------------------------


@contextlib.contextmanager
def database_rows(conn_id: str, extract: Extract, window: Window) -> Iterator[Rows]:
    """The extract's rows from a source database through its Airflow connection."""
    from tributary.hooks.sources import open_reader

    with open_reader(conn_id) as reader:
        dialect = reader.dialect
        problem = _unsupported(extract, dialect.name)
        if problem:
            raise problem
        config = extract.config
        if config.source.object_type in (ObjectType.table, ObjectType.view):
            table = TableConfig(
                name=config.source.name or "",
                schema=config.source.schema_,
                mode=Mode.window if config.incremental else Mode.full,
                date_column=config.incremental.date_column if config.incremental else None,
                columns=config.source.columns,
                batch_size=config.batch_size,
            )
            columns = reader.describe(table)
            scope = window if config.incremental else None
            yield Rows(schema_of(columns), reader.batches(table, columns, scope))
            return
        query = read_query(extract, dialect)
        template, context, params = statement(extract, dialect, window, query=query)
        sql = render(dialect, template, **context)
        if dialect.name == "postgres":
            with _postgres_cursor(reader) as cursor:
                yield _postgres_rows(reader, cursor, sql, params, config.batch_size)
        elif dialect.name == "mssql":
            schema = _mssql_schema(reader, template, context, params)
            cursor = reader.connection.cursor()
            try:
                cursor.execute(sql, params)
                yield Rows(schema, _fetch(cursor, schema, config.batch_size, []))
            finally:
                cursor.close()
        else:
            cursor = reader.connection.cursor()
            try:
                cursor.execute(sql, params)
                first = cursor.fetchmany(config.batch_size)
                schema = _inferred_schema(cursor.description, first)
                yield Rows(schema, _fetch(cursor, schema, config.batch_size, first))
            finally:
                cursor.close()


def _fetch(
    cursor: Any,
    schema: pa.Schema,
    batch_size: int,
    first: list[Any],
    *,
    padded: tuple[str, ...] = (),
    texts: dict[str, Column] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Batches of ``schema``; ``texts`` are PostgreSQL columns fetched as their text (interval,
    money), parsed as the lake's reader parses them."""
    texts = texts or {}
    read = pa.schema([f.with_type(pa.string()) if f.name in texts else f for f in schema])
    rows = first or cursor.fetchmany(batch_size)
    while rows:
        batch = rows_to_batch(rows, read)
        if texts:
            arrays = [
                postgres_text.to_array(col.to_pylist(), f.type, texts[f.name].source)
                if f.name in texts
                else col
                for f, col in zip(schema, batch.columns, strict=True)
            ]
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        if padded:  # character(n): without its padding, as PostgreSQL's cast to text
            arrays = [
                pc.utf8_rtrim(col, characters=" ") if field.name in padded else col
                for field, col in zip(schema, batch.columns, strict=True)
            ]
            batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        yield batch
        rows = cursor.fetchmany(batch_size)


@contextlib.contextmanager
def _postgres_cursor(reader: Any) -> Iterator[Any]:
    """A server-side cursor in a UTC session; the transaction ends with the block."""
    connection = reader.connection
    autocommit = bool(getattr(connection, "autocommit", False))
    if autocommit:
        connection.autocommit = False  # a server-side cursor lives inside a transaction
    try:
        with connection.cursor() as session:
            session.execute(render(POSTGRES, "extract_session"))
        cursor = connection.cursor(name=_CURSOR)
        _read_as_text(cursor)
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        if not getattr(connection, "closed", 0):
            connection.rollback()
            if autocommit:
                connection.autocommit = True


def _read_as_text(cursor: Any) -> None:
    """json, jsonb and interval values as the server's text (the provider's hook hands out a
    psycopg 3 or a psycopg2 connection, depending on what is installed)."""
    if type(cursor).__module__.startswith("psycopg2"):
        import psycopg2.extensions

        as_text = psycopg2.extensions.new_type(_PG_TEXT_OIDS, "TRIBUTARY_TEXT", lambda value, _: value)
        psycopg2.extensions.register_type(as_text, cursor)
        return
    from psycopg.types.string import TextLoader

    for name in _PG_TEXT_TYPES:
        cursor.adapters.register_loader(name, TextLoader)


def _postgres_rows(reader: Any, cursor: Any, sql: str, params: dict[str, Any], batch_size: int) -> Rows:
    cursor.execute(sql, params)
    first = cursor.fetchmany(batch_size)  # a named cursor describes its result after a fetch
    described = list(cursor.description)
    oids = sorted({d.type_code for d in described})
    with reader.connection.cursor() as catalog:
        catalog.execute(render(POSTGRES, "extract_type_names"), {"oids": oids})
        names = dict(catalog.fetchall())
    columns = []
    for d in described:
        sized = d.type_code == 1700 and d.internal_size not in (None, -1)
        source = SourceColumn(
            name=d.name,
            data_type=str(names.get(d.type_code, d.type_code)),
            precision=d.precision if sized else None,
            scale=d.scale if sized else None,
        )
        columns.append(Column(source, postgres_types.arrow_type(source)))
    padded = tuple(c.name for c in columns if c.source.data_type == "character")
    texts = {c.name: c for c in columns if c.source.data_type in _PG_PARSED}
    schema = schema_of(columns)
    return Rows(schema, _fetch(cursor, schema, batch_size, first, padded=padded, texts=texts))


def _mssql_schema(reader: Any, template: str, context: dict[str, Any], params: dict[str, Any]) -> pa.Schema:
    """SQL Server describes the statement's first result set without running it."""
    named = dataclasses.replace(MSSQL, placeholder=lambda name: f"@{name}")
    tsql = render(named, template, **context)
    declarations = render(MSSQL, "extract_declarations", names=list(params)) if params else None
    described = reader.fetch_all(
        render(MSSQL, "extract_describe"), {"tsql": tsql, "declarations": declarations}
    )
    if not described:
        raise ExtractSourceError("SQL Server describes no result set for this statement")
    columns = []
    for row in described:
        name, nullable, type_name, precision, scale = row[2], row[3], row[5], row[7], row[8]
        source = SourceColumn(
            name=name,
            data_type=str(type_name).split("(", 1)[0].strip().lower(),
            precision=int(precision) if precision else None,
            scale=int(scale) if scale is not None else None,
            nullable=bool(nullable),
        )
        columns.append(Column(source, mssql_types.arrow_type(source)))
    return schema_of(columns)


def _inferred_schema(description: Any, rows: list[Any]) -> pa.Schema:
    """SQLite reports no types for a query's columns: the first batch's values decide."""
    fields = []
    for index, column in enumerate(description):
        sample = next((row[index] for row in rows if row[index] is not None), None)
        if isinstance(sample, bool | int):
            kind: pa.DataType = pa.int64()
        elif isinstance(sample, float):
            kind = pa.float64()
        elif isinstance(sample, bytes):
            kind = pa.binary()
        else:
            kind = pa.string()
        fields.append(pa.field(column[0], kind))
    return pa.schema(fields)
