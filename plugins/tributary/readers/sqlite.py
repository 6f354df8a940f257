"""SQLite: declared types, text dates, and the embedded default source."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from tributary.dialects import SQLITE, sqlite_types
from tributary.dialects.columns import Column, SourceColumn
from tributary.readers.base import SourceReader


class SqliteReader(SourceReader):
    dialect = SQLITE
    arrow_type = staticmethod(sqlite_types.arrow_type)

    def source_column(self, row: tuple[Any, ...]) -> SourceColumn:
        name, declared, not_null = row
        type_name, precision, scale = sqlite_types.parse_declared(declared)
        return SourceColumn(name, type_name, precision, scale, nullable=not bool(not_null))

    def window_value(self, column: Column, value: dt.datetime) -> Any:
        # SQLite compares the stored text: bind the bound in the same text form as the column
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        if pa.types.is_date(column.arrow_type):
            return naive.date().isoformat()
        return naive.isoformat(sep=" ")
