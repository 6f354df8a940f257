"""SQLite declared types to Arrow types.

SQLite keeps values by storage class, not by declared type, so the declared type is the contract
the table's author wrote down: ``DECIMAL(10,2)`` is read back as ``decimal128(10,2)`` whatever
storage class (TEXT, REAL or INTEGER) holds a value (see ``readers/arrow.py`` for how a binary
float becomes an exact decimal). Where the contract says less than SQLite stores, SQLite wins:

* Every integer name reads as int64. SQLite enforces no width (a ``TINYINT`` holds 300, an
  ``INT`` holds 2**40), so a narrower Arrow type would fail on data the source accepts.
* Names this table does not list follow SQLite's affinity rules
  (https://www.sqlite.org/datatype3.html#determination_of_column_affinity) with two deliberate
  differences. Integer affinity is taken from integer *words* (``UNSIGNED INT``, ``INT4``), not
  from any ``INT`` substring: by SQLite's letter ``FLOATING POINT`` and ``INTERVAL`` have integer
  affinity, yet hold 1.5 and '1 day'. And a name with NUMERIC affinity that says nothing of its
  values (``JSON``, ``UUID``, ``STRING``, ``MONEY``) reads as text, which holds any value SQLite
  stores exactly, where a float would fail on the first text value.
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
    "INT": pa.int64(),
    "MEDIUMINT": pa.int64(),
    "SMALLINT": pa.int64(),
    "INT2": pa.int64(),
    "TINYINT": pa.int64(),
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

# DECIMAL(p,s) and NUMERIC(p,s) with a precision are exact decimals
DECIMAL_NAMES = ("DECIMAL", "NUMERIC")

_DECLARED = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_ ]*?)?\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$")
_INTEGER_WORD = re.compile(r"\b(?:INT\d*|INTEGER|BIGINT|SMALLINT|TINYINT|MEDIUMINT)\b")


def parse_declared(declared: str) -> tuple[str, int | None, int | None]:
    """``'DECIMAL(15, 2)'`` -> ``('DECIMAL', 15, 2)``; ``'int8'`` -> ``('INT8', None, None)``."""
    match = _DECLARED.match(declared or "")
    if not match:
        return " ".join((declared or "").upper().split()), None, None
    name, precision, scale = match.groups()
    return (
        " ".join((name or "").upper().split()),
        int(precision) if precision else None,
        int(scale) if scale else None,
    )


def arrow_type(column: SourceColumn) -> pa.DataType:
    """The Arrow type of a SQLite column; names not in ``TYPES`` go by affinity (module doc)."""
    name = column.data_type.upper()
    if name in DECIMAL_NAMES and column.precision:
        return decimal_type(column.precision, column.scale or 0)
    if name in TYPES:
        return TYPES[name]
    if _INTEGER_WORD.search(name):
        return pa.int64()
    if any(s in name for s in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in name:
        return pa.binary()
    if any(s in name for s in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    return pa.string()
