"""Source readers: catalog lookup, window counts, Arrow record batches and the table's Parquet
parts, one per dialect."""

from __future__ import annotations

from typing import Any

from tributary.dialects import Dialect
from tributary.readers.base import SourceReader


def reader_for(dialect: Dialect, connection: Any = None, *, conn_id: str, **options: Any) -> SourceReader:
    """The reader of ``dialect`` over a DB-API connection from the provider's hook: an open
    ``connection``, or ``connect=`` a function that opens one when first needed."""
    if dialect.name == "sqlite":
        from tributary.readers.sqlite import SqliteReader

        return SqliteReader(connection, conn_id=conn_id, **options)
    if dialect.name == "postgres":
        from tributary.readers.postgres import PostgresReader

        return PostgresReader(connection, conn_id=conn_id, **options)
    if dialect.name == "mssql":
        from tributary.readers.mssql import MsSqlReader

        return MsSqlReader(connection, conn_id=conn_id, **options)
    raise ValueError(f"no reader for dialect {dialect.name!r}")
