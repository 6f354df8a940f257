"""SQLite: declared types, text dates, and the embedded default source."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from tributary.dialects import SQLITE, sqlite_types
from tributary.dialects.columns import Column, SourceColumn
from tributary.errors import CatalogError
from tributary.readers.base import SourceReader


class SqliteReader(SourceReader):
    dialect = SQLITE
    arrow_type = staticmethod(sqlite_types.arrow_type)

    def source_column(self, row: tuple[Any, ...]) -> SourceColumn:
        name, declared, not_null = row
        type_name, precision, scale = sqlite_types.parse_declared(declared)
        return SourceColumn(name, type_name, precision, scale, nullable=not bool(not_null))

    def window_value(self, column: Column, value: dt.datetime) -> Any:
        """A window bound as text, to compare with the column's ISO-8601 text as SQLite does.

        SQLite compares a TEXT value with a text bound character by character, so the bound must
        sort right against every form a date is stored in. A bound at midnight is written as
        ``YYYY-MM-DD``: every value of an earlier day sorts before it, every value of that day
        after it, whether it is stored as ``2025-02-01``, ``2025-02-01 00:00:00`` or
        ``2025-02-01T00:00:00.5``. (Written as ``2025-02-01 00:00:00``, the bound would sort
        after the date-only ``2025-02-01`` and put that row in January's window.) A bound
        within a day is written ``YYYY-MM-DD HH:MM:SS[.ffffff]``, exact for values with a space
        between date and time; the schedules Tributary runs have midnight bounds only.
        """
        target = column.arrow_type
        if not (pa.types.is_date(target) or pa.types.is_timestamp(target) or pa.types.is_string(target)):
            raise CatalogError(
                f"date_column {column.name!r} is declared {column.source.data_type or 'without a type'!r} "
                f"(read as {target}); a window compares ISO-8601 text, so the date column must be a "
                "DATE, DATETIME, TIMESTAMP or TEXT column holding 'YYYY-MM-DD[ HH:MM:SS]' values; "
                "use mode 'full' for this table or pick another date_column"
            )
        naive = value.astimezone(dt.UTC).replace(tzinfo=None)
        if naive.time() == dt.time() or pa.types.is_date(target):
            return naive.date().isoformat()
        return naive.isoformat(sep=" ")
