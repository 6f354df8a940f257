"""PostgreSQL types (``information_schema.columns.data_type``) to Arrow types.

Exact by construction: ``numeric(p,s)`` keeps its precision and scale, ``timestamp`` stays
naive, ``timestamptz`` becomes UTC instants, integers keep their width and their NULLs. Types
with a standard Arrow and Parquet counterpart are written as it: ``uuid`` as ``arrow.uuid``
(Parquet UUID), ``json``/``jsonb`` as ``arrow.json`` (Parquet JSON), one-dimensional arrays as
lists of the element's type, ``interval`` as ``month_day_nano_interval``, enums as
dictionary-encoded strings, ``money`` as ``decimal128(19,2)`` (its count of hundredths, whatever
the server's ``lc_monetary``). Types without one are written as the text PostgreSQL prints for
the value: ``numeric`` without a declared precision, arrays declared with two or more
dimensions, ``inet``, ``xml``, extension types, … ``character(n)`` is written without its
padding, as PostgreSQL itself casts it to text.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from tributary.dialects.columns import MAX_DECIMAL256, SourceColumn, decimal_type
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
    "citext": pa.string(),  # the catalog lists extension types as "USER-DEFINED"; kept for clarity
    "uuid": pa.uuid(),
    "json": pa.json_(),
    "jsonb": pa.json_(),
    "xml": pa.string(),
    "inet": pa.string(),
    "cidr": pa.string(),
    "macaddr": pa.string(),
    "money": pa.decimal128(19, 2),  # an int64 of hundredths, read in lc_monetary C
    "interval": pa.month_day_nano_interval(),
    "enum": pa.dictionary(pa.int32(), pa.string()),  # columns.sql names enums "enum"
    "user-defined": pa.string(),  # extension types such as citext
    "array": pa.string(),  # declared with 2+ dimensions: PostgreSQL's array literal {{1,2},{3,4}}
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "time without time zone": pa.time64("us"),
}

# columns psycopg2 would hand over as Python objects whose str() is not what the database holds
# (a dict for jsonb, a list for an array, a timedelta for interval -- months lost --, a Decimal's
# exponent form); and character(n), whose padding PostgreSQL's cast to text (and DuckDB) drops.
# They are read as text and parsed by ``postgres_text``. The other string types come as their
# output text already: inet's text() would add a netmask.
_CAST_TO_TEXT = frozenset({"json", "jsonb", "interval", "array", "numeric", "character", "money"})


def decimal_digits(column: SourceColumn) -> tuple[int, int] | None:
    """``(precision, scale)`` of the Arrow decimal that holds ``numeric(p,s)`` exactly.

    PostgreSQL 15 allows a scale below zero (``numeric(5,-2)`` holds 9999900) and above the
    precision (``numeric(3,5)`` holds 0.00999); Arrow and Parquet want ``0 <= scale <= precision``.
    None when the column has no declared precision or needs more digits than Arrow holds.
    """
    if column.data_type.lower() != "numeric" or not column.precision:
        return None
    precision, scale = column.precision, column.scale or 0
    if scale < 0:
        precision, scale = precision - scale, 0
    precision = max(precision, scale)
    if precision > MAX_DECIMAL256:
        return None
    return precision, scale


def arrow_type(column: SourceColumn) -> pa.DataType:
    """The Arrow type of a catalog column; an array with an ``element`` (one dimension declared)
    is a list of the element's type."""
    name = column.data_type.lower()
    if name == "array" and column.element is not None:
        return pa.list_(arrow_type(column.element))
    if name == "numeric":
        digits = decimal_digits(column)
        return decimal_type(*digits) if digits else pa.string()
    if name in TYPES:
        return TYPES[name]
    raise TypeMappingError(
        f"column {column.name!r} has PostgreSQL type {column.data_type!r}, which Tributary does not "
        "map yet; leave the column out with the table's `columns:` list or cast it in a view"
    )


def with_element(column: SourceColumn, element: tuple[object, ...]) -> SourceColumn:
    """``column`` with the element its catalog row gives (``columns.sql``: the element's type,
    precision and scale, for an array declared with at most one dimension)."""
    if not element or element[0] is None:
        return column
    name, precision, scale = element
    if isinstance(scale, int) and scale > 1023:  # a negative scale, as in columns.sql
        scale -= 2048
    return dataclasses.replace(
        column,
        element=SourceColumn(
            f"{column.name}[]",
            str(name).lower(),
            int(precision) if isinstance(precision, int) else None,
            int(scale) if isinstance(scale, int) else None,
        ),
    )


def read_as_text(column: SourceColumn) -> bool:
    """Whether the column is selected as ``column::text``: PostgreSQL's own text of the value."""
    name = column.data_type.lower()
    if name == "numeric":
        return decimal_digits(column) is None  # without an exact decimal: its text
    return name in _CAST_TO_TEXT
