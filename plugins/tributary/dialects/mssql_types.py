"""SQL Server types (``INFORMATION_SCHEMA.COLUMNS.DATA_TYPE``) to Arrow types.

The table the replaced scripts used (seed 002): int -> int32, bigint -> int64, (n)varchar ->
string, decimal(p,s) -> decimal128(p,s), date -> date32, datetime -> timestamp[ms],
datetime2 -> timestamp[us], bit -> bool, money -> decimal128(19,4); completed here for every
other type a point-of-sale schema uses, and ``uniqueidentifier`` -> ``arrow.uuid`` (Parquet UUID)
in the canonical byte order of its text, not the mixed-endian order SQL Server stores.
"""

from __future__ import annotations

import pyarrow as pa

from tributary.dialects import MSSQL
from tributary.dialects.columns import SourceColumn, decimal_type
from tributary.errors import TypeMappingError

TYPES: dict[str, pa.DataType] = {
    "tinyint": pa.uint8(),
    "smallint": pa.int16(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "bit": pa.bool_(),
    "real": pa.float32(),
    "float": pa.float64(),
    "money": pa.decimal128(19, 4),
    "smallmoney": pa.decimal128(10, 4),
    "char": pa.string(),
    "varchar": pa.string(),
    "text": pa.string(),
    "nchar": pa.string(),
    "nvarchar": pa.string(),
    "ntext": pa.string(),
    "xml": pa.string(),
    "sysname": pa.string(),
    # pymssql reads SQL Server's mixed-endian bytes as uuid.UUID(bytes_le=...): the canonical UUID
    "uniqueidentifier": pa.uuid(),
    "date": pa.date32(),
    "datetime": pa.timestamp("ms"),
    "smalldatetime": pa.timestamp("s"),
    "datetime2": pa.timestamp("us"),  # 100 ns ticks are truncated to microseconds
    "datetimeoffset": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "binary": pa.binary(),
    "varbinary": pa.binary(),
    "image": pa.binary(),
    "timestamp": pa.binary(),  # rowversion: an 8-byte counter, not a time
    "rowversion": pa.binary(),
}


def arrow_type(column: SourceColumn) -> pa.DataType:
    name = column.data_type.lower()
    if name in ("decimal", "numeric"):
        return decimal_type(column.precision or 18, column.scale or 0)
    if name in TYPES:
        return TYPES[name]
    quoted = MSSQL.quote(column.name)
    raise TypeMappingError(
        f"column {column.name!r} has SQL Server type {column.data_type!r}, which Tributary does not "
        "map yet; leave the column out with the table's `columns:` list, or read the table through "
        f"a view that converts it to a mapped type (e.g. CAST({quoted} AS nvarchar(4000)), or "
        f"{quoted}.STAsText() for geography and geometry)"
    )
