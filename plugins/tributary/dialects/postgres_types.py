"""PostgreSQL types (``information_schema.columns.data_type``) to Arrow types.

Exact by construction: ``numeric(p,s)`` keeps its precision and scale, ``timestamp`` stays
naive, ``timestamptz`` becomes UTC instants, integers keep their width and their NULLs.
``numeric`` without a declared precision has no exact Arrow decimal; it is written as its text.
"""

from __future__ import annotations

import pyarrow as pa

from tributary.dialects.columns import SourceColumn, decimal_type
from tributary.errors import TypeMappingError

TYPES: dict[str, pa.DataType] = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "character varying": pa.string(),
    "character": pa.string(),
    "name": pa.string(),
    "citext": pa.string(),
    "uuid": pa.string(),
    "json": pa.string(),
    "jsonb": pa.string(),
    "xml": pa.string(),
    "inet": pa.string(),
    "cidr": pa.string(),
    "macaddr": pa.string(),
    "money": pa.string(),  # locale-formatted by the server; cast to numeric in a view to get a decimal
    "interval": pa.string(),
    "user-defined": pa.string(),  # enums and domains over text
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "time without time zone": pa.time64("us"),
}


def arrow_type(column: SourceColumn) -> pa.DataType:
    name = column.data_type.lower()
    if name == "numeric":
        if column.precision:
            return decimal_type(column.precision, column.scale or 0)
        return pa.string()
    if name in TYPES:
        return TYPES[name]
    if name == "array":
        return pa.string()
    raise TypeMappingError(
        f"column {column.name!r} has PostgreSQL type {column.data_type!r}, which Tributary does not "
        "map yet; leave the column out with the table's `columns:` list or cast it in a view"
    )
