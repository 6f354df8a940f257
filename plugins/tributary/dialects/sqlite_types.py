"""SQLite declared types to Arrow types.

SQLite keeps values by storage class, not by declared type, so the declared type is the contract
the table's author wrote down: ``DECIMAL(10,2)`` is read back as ``decimal128(10,2)`` whatever
storage class (TEXT, REAL or INTEGER) holds a value. Names follow SQLite's own affinity rules
(https://www.sqlite.org/datatype3.html) where no finer type is declared.
"""

from __future__ import annotations

import re

import pyarrow as pa

from tributary.dialects.columns import SourceColumn, decimal_type

# declared type name (upper case, without arguments) -> Arrow type
TYPES: dict[str, pa.DataType] = {
    "INTEGER": pa.int64(),  # the rowid alias and SQLite's 64-bit integer
    "BIGINT": pa.int64(),
    "INT8": pa.int64(),
    "UNSIGNED BIG INT": pa.int64(),
    "INT": pa.int32(),
    "MEDIUMINT": pa.int32(),
    "SMALLINT": pa.int16(),
    "INT2": pa.int16(),
    "TINYINT": pa.int8(),
    "REAL": pa.float64(),
    "DOUBLE": pa.float64(),
    "DOUBLE PRECISION": pa.float64(),
    "FLOAT": pa.float64(),
    "NUMERIC": pa.float64(),  # numeric affinity without precision: SQLite holds an int or a float
    "DECIMAL": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "BOOL": pa.bool_(),
    "DATE": pa.date32(),
    "DATETIME": pa.timestamp("us"),
    "TIMESTAMP": pa.timestamp("us"),
    "TEXT": pa.string(),
    "CLOB": pa.string(),
    "VARCHAR": pa.string(),
    "NVARCHAR": pa.string(),
    "VARYING CHARACTER": pa.string(),
    "NATIVE CHARACTER": pa.string(),
    "CHARACTER": pa.string(),
    "CHAR": pa.string(),
    "NCHAR": pa.string(),
    "BLOB": pa.binary(),
    "": pa.string(),  # no declared type: values of any class, written as text
}

_DECLARED = re.compile(r"^\s*([A-Za-z ]*?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")


def parse_declared(declared: str) -> tuple[str, int | None, int | None]:
    """``'DECIMAL(15, 2)'`` -> ``('DECIMAL', 15, 2)``."""
    match = _DECLARED.match(declared or "")
    if not match:
        return (declared or "").upper().strip(), None, None
    name, precision, scale = match.groups()
    return (
        " ".join(name.upper().split()),
        int(precision) if precision else None,
        int(scale) if scale else None,
    )


def arrow_type(column: SourceColumn) -> pa.DataType:
    """The Arrow type of a SQLite column; unknown names fall back to SQLite's affinity rules."""
    name = column.data_type.upper()
    if name in ("DECIMAL", "NUMERIC") and column.precision:
        return decimal_type(column.precision, column.scale or 0)
    if name in TYPES:
        return TYPES[name]
    # https://www.sqlite.org/datatype3.html#determination_of_column_affinity
    if "INT" in name:
        return pa.int64()
    if any(s in name for s in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in name:
        return pa.binary()
    if any(s in name for s in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return pa.float64()  # NUMERIC affinity
