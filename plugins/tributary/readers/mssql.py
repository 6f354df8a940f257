"""SQL Server through the provider's pymssql connection.

pymssql has no server-side parameters: it quotes each value into the statement text itself
(``_mssql._substitute_params``), so the form of that literal is what SQL Server parses. A
``datetime`` becomes ``'2025-02-01 00:00:00.000'``, which a ``datetime`` or ``smalldatetime``
column reads by the session's DATEFORMAT: under a British, French or German login it is the
2nd of January, and a monthly window silently shrinks to a day and a half -- with a count that
agrees, since it uses the same filter. Window bounds are therefore bound as text in the forms SQL
Server parses the same way in every language: ``YYYYMMDD[ HH:MM:SS[.fff]]``, and ISO 8601 with
``Z`` for ``datetimeoffset``. The literal is converted to the column's own type, so the filter
stays a seek on an index of the date column.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from tributary.dialects import MSSQL, mssql_types
from tributary.dialects.columns import Column
from tributary.readers.base import SourceReader


def neutral_datetime_text(column: Column, value: dt.datetime) -> str:
    """``value`` as a literal SQL Server reads alike under every language and DATEFORMAT."""
    target = column.arrow_type
    if pa.types.is_timestamp(target) and target.tz:
        utc = value.astimezone(dt.UTC)
        fraction = f".{utc.microsecond:06d}" if utc.microsecond else ""
        return utc.strftime(f"%Y-%m-%dT%H:%M:%S{fraction}Z")
    naive = value.astimezone(dt.UTC).replace(tzinfo=None)
    if pa.types.is_string(target):  # dates kept as ISO text compare as text: see SqliteReader
        return naive.date().isoformat() if naive.time() == dt.time() else naive.isoformat(sep=" ")
    if naive.time() == dt.time() or pa.types.is_date(target):
        return naive.strftime("%Y%m%d")
    # datetime takes at most 3 decimals of a second; windows are whole days, so none are lost
    digits = 6 if pa.types.is_timestamp(target) and target.unit == "us" else 3
    fraction = f".{naive.microsecond:06d}"[: digits + 1] if naive.microsecond else ""
    return naive.strftime(f"%Y%m%d %H:%M:%S{fraction}")


class MsSqlReader(SourceReader):
    dialect = MSSQL
    arrow_type = staticmethod(mssql_types.arrow_type)

    def window_value(self, column: Column, value: dt.datetime) -> Any:
        return neutral_datetime_text(column, value)
