"""SQL Server types -> Arrow: the whole map, and the Python values pymssql hands over for each.

There is no SQL Server here (see test_mssql_integration.py for the tests that need one). What
pymssql returns per type is read from its source (``_mssql.pyx``, ``convert_db_value``):
int for the integer types (``COUNT_BIG`` included), bool for bit, float for real and float,
Decimal for decimal, numeric, money and smallmoney, str for the character types, uuid.UUID for
uniqueidentifier, date, time, naive datetime for datetime, smalldatetime and datetime2, an aware
datetime (a fixed offset) for datetimeoffset, and bytes for the binary types.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.config import Schedule, TableConfig
from tributary.dialects import mssql_types
from tributary.dialects.columns import Column, SourceColumn, schema_of
from tributary.errors import DataError, SourceError, TypeMappingError
from tributary.readers.arrow import rows_to_batch
from tributary.readers.mssql import MsSqlReader
from tributary.replication import extract_table
from tributary.windows import Window

# Seed 002's table, as the replaced scripts wrote it (DECIMAL(15,2) is its example)
SEED_002 = {
    "int": pa.int32(),
    "bigint": pa.int64(),
    "nvarchar": pa.string(),
    "varchar": pa.string(),
    ("decimal", 15, 2): pa.decimal128(15, 2),
    "date": pa.date32(),
    "datetime": pa.timestamp("ms"),
    "datetime2": pa.timestamp("us"),
    "bit": pa.bool_(),
    "money": pa.decimal128(19, 4),
}

# Every key of mssql_types.TYPES, spelled out again: a change to the map must change this table.
EXPECTED = {
    "tinyint": pa.uint8(),  # 0..255
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
    "uniqueidentifier": pa.uuid(),
    "date": pa.date32(),
    "datetime": pa.timestamp("ms"),  # 1/300 s ticks, which the driver rounds to milliseconds
    "smalldatetime": pa.timestamp("s"),
    "datetime2": pa.timestamp("us"),
    "datetimeoffset": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "binary": pa.binary(),
    "varbinary": pa.binary(),
    "image": pa.binary(),
    "timestamp": pa.binary(),  # rowversion, not a time
    "rowversion": pa.binary(),
}


def column(data_type: str, precision: int | None = None, scale: int | None = None) -> SourceColumn:
    return SourceColumn(name="c", data_type=data_type, precision=precision, scale=scale)


@pytest.mark.parametrize(("data_type", "arrow"), sorted(EXPECTED.items(), key=lambda kv: kv[0]))
def test_every_mapped_type(data_type: str, arrow: pa.DataType) -> None:
    # INFORMATION_SCHEMA spells types in lower case; the map does not depend on it
    assert mssql_types.arrow_type(column(data_type)) == arrow
    assert mssql_types.arrow_type(column(data_type.upper())) == arrow


def test_the_table_covers_every_key() -> None:
    assert set(EXPECTED) == set(mssql_types.TYPES)


@pytest.mark.parametrize("key", list(SEED_002), ids=str)
def test_agrees_with_seed_002(key: str | tuple[str, int, int]) -> None:
    source = column(*key) if isinstance(key, tuple) else column(key)
    assert mssql_types.arrow_type(source) == SEED_002[key]


@pytest.mark.parametrize(
    ("data_type", "precision", "scale", "arrow"),
    [
        ("decimal", 15, 2, pa.decimal128(15, 2)),
        ("numeric", 15, 2, pa.decimal128(15, 2)),
        ("decimal", 1, 0, pa.decimal128(1, 0)),
        ("decimal", 38, 0, pa.decimal128(38, 0)),
        ("numeric", 38, 38, pa.decimal128(38, 38)),
        ("decimal", 19, 4, pa.decimal128(19, 4)),
        ("DECIMAL", 10, None, pa.decimal128(10, 0)),
        ("decimal", None, None, pa.decimal128(18, 0)),  # SQL Server's default decimal(18,0)
    ],
)
def test_decimal_and_numeric(
    data_type: str, precision: int | None, scale: int | None, arrow: pa.DataType
) -> None:
    assert mssql_types.arrow_type(column(data_type, precision, scale)) == arrow


@pytest.mark.parametrize(
    "data_type", ["sql_variant", "hierarchyid", "geography", "geometry", "vector", "json"]
)
def test_unknown_type_raises_a_helpful_error(data_type: str) -> None:
    with pytest.raises(TypeMappingError) as info:
        mssql_types.arrow_type(SourceColumn(name="shape]x", data_type=data_type))
    message = str(info.value)
    assert f"column 'shape]x' has SQL Server type {data_type!r}" in message
    assert "`columns:` list" in message
    assert "CAST([shape]]x] AS nvarchar(4000))" in message


def test_a_uniqueidentifier_is_written_in_the_byte_order_of_its_text() -> None:
    """SQL Server stores 6F9619FF-8B86-D011-B42D-00C04FC964FF as FF19966F868B11D0B42D00C04FC964FF
    (its documentation's example: the first three groups little-endian). pymssql reads those
    bytes as ``uuid.UUID(bytes_le=...)``; the lake holds the bytes of the text, which Parquet's
    UUID and DuckDB print back as SQL Server prints the GUID."""
    stored = bytes.fromhex("FF19966F868B11D0B42D00C04FC964FF")  # CAST(guid AS binary(16))
    from_pymssql = uuid.UUID(bytes_le=stored)
    column = SourceColumn("row_guid", "uniqueidentifier")
    batch = rows_to_batch([(from_pymssql,), ("6F9619FF-8B86-D011-B42D-00C04FC964FF",), (None,)],
                          schema_of([Column(column, mssql_types.arrow_type(column))]))  # fmt: skip
    array = batch.column(0)
    assert array.type == pa.uuid()
    assert array.storage.to_pylist()[:2] == [bytes.fromhex("6F9619FF8B86D011B42D00C04FC964FF")] * 2
    assert [str(v).upper() for v in array.to_pylist()[:2]] == ["6F9619FF-8B86-D011-B42D-00C04FC964FF"] * 2
    # raw bytes have no one order (SQL Server's or the text's): refused, not guessed
    with pytest.raises(DataError, match=r"column 'row_guid'.*not from bytes of a driver's order"):
        rows_to_batch([(stored,)], batch.schema)


def test_type_mapping_error_is_permanent() -> None:
    assert TypeMappingError.permanent


# -- the values pymssql returns, through rows_to_batch -----------------------------------------

PLUS_8 = dt.timezone(dt.timedelta(hours=8))
MINUS_5_30 = dt.timezone(-dt.timedelta(hours=5, minutes=30))
GUID = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
REAL_1_1 = struct.unpack("f", struct.pack("f", 1.1))[0]  # a real arrives as the double of a float32

# (type, precision, scale, values as pymssql returns them, values read back from Arrow)
VALUES: list[tuple[str, int | None, int | None, list[Any], list[Any]]] = [
    ("tinyint", 3, 0, [0, 255, None], [0, 255, None]),
    ("smallint", 5, 0, [-32768, 32767, None], [-32768, 32767, None]),
    ("int", 10, 0, [-(2**31), 2**31 - 1, None], [-(2**31), 2**31 - 1, None]),
    ("bigint", 19, 0, [-(2**63), 2**63 - 1, None], [-(2**63), 2**63 - 1, None]),
    ("bit", None, None, [True, False, None], [True, False, None]),
    ("real", 24, None, [REAL_1_1, -0.5, None], [REAL_1_1, -0.5, None]),
    ("float", 53, None, [0.1, 1e308, None], [0.1, 1e308, None]),
    (
        "money",
        19,
        4,
        [Decimal("922337203685477.5807"), Decimal("-922337203685477.5808"), Decimal("1.5"), None],
        [Decimal("922337203685477.5807"), Decimal("-922337203685477.5808"), Decimal("1.5000"), None],
    ),
    (
        "smallmoney",
        10,
        4,
        [Decimal("214748.3647"), Decimal("-214748.3648"), None],
        [Decimal("214748.3647"), Decimal("-214748.3648"), None],
    ),
    (
        "decimal",
        15,
        2,
        [Decimal("1234567890123.45"), Decimal("0.10"), None],
        [Decimal("1234567890123.45"), Decimal("0.10"), None],
    ),
    (
        "numeric",
        38,
        10,
        [Decimal("1234567890123456789012345678.1234567890"), Decimal("-0.0000000001"), None],
        [Decimal("1234567890123456789012345678.1234567890"), Decimal("-0.0000000001"), None],
    ),
    ("char", None, None, ["ab  ", None], ["ab  ", None]),  # char(4) arrives padded, and stays so
    ("nchar", None, None, ["ü  ", None], ["ü  ", None]),
    ("varchar", None, None, ["plain", "", None], ["plain", "", None]),
    ("nvarchar", None, None, ["Zürich – 東京 🍜", None], ["Zürich – 東京 🍜", None]),
    ("text", None, None, ["long text", None], ["long text", None]),
    ("ntext", None, None, ["ünï", None], ["ünï", None]),
    ("xml", None, None, ['<a b="1"/>', None], ['<a b="1"/>', None]),
    ("sysname", None, None, ["dbo", None], ["dbo", None]),
    # arrow.uuid: the GUID SQL Server prints 6F9619FF-8B86-D011-B42D-00C04FC964FF, in its text's order
    ("uniqueidentifier", None, None, [GUID, None], [GUID, None]),
    (
        "date",
        None,
        None,
        [dt.date(2025, 1, 31), dt.date(1, 1, 1), None],
        [dt.date(2025, 1, 31), dt.date(1, 1, 1), None],
    ),
    (
        "datetime",
        None,
        None,
        [dt.datetime(2025, 1, 31, 23, 59, 59, 997000), dt.datetime(1753, 1, 1), None],
        [dt.datetime(2025, 1, 31, 23, 59, 59, 997000), dt.datetime(1753, 1, 1), None],
    ),
    (
        "smalldatetime",
        None,
        None,
        [dt.datetime(2025, 1, 31, 23, 59), None],
        [dt.datetime(2025, 1, 31, 23, 59), None],
    ),
    (
        "datetime2",
        None,
        None,
        [dt.datetime(2025, 1, 31, 23, 59, 59, 999999), dt.datetime(1, 1, 1), None],
        [dt.datetime(2025, 1, 31, 23, 59, 59, 999999), dt.datetime(1, 1, 1), None],
    ),
    (
        "datetimeoffset",
        None,
        None,
        [
            dt.datetime(2025, 2, 1, 8, 0, tzinfo=PLUS_8),
            dt.datetime(2025, 1, 31, 18, 30, 0, 5, tzinfo=MINUS_5_30),
            None,
        ],
        [
            dt.datetime(2025, 2, 1, 0, 0, tzinfo=dt.UTC),
            dt.datetime(2025, 2, 1, 0, 0, 0, 5, tzinfo=dt.UTC),
            None,
        ],
    ),
    (
        "time",
        None,
        None,
        [dt.time(23, 59, 59, 999999), dt.time(0, 0), None],
        [dt.time(23, 59, 59, 999999), dt.time(0, 0), None],
    ),
    ("binary", None, None, [b"\x00\x01\x00\x00", None], [b"\x00\x01\x00\x00", None]),
    ("varbinary", None, None, [b"\x00\xff", b"", None], [b"\x00\xff", b"", None]),
    ("image", None, None, [b"\x89PNG\r\n\x1a\n\x00", None], [b"\x89PNG\r\n\x1a\n\x00", None]),
    ("timestamp", None, None, [b"\x00\x00\x00\x00\x00\x00\x07\xd1"], [b"\x00\x00\x00\x00\x00\x00\x07\xd1"]),
    ("rowversion", None, None, [b"\x00\x00\x00\x00\x00\x00\x07\xd2"], [b"\x00\x00\x00\x00\x00\x00\x07\xd2"]),
]


def exact(value: Any) -> Any:
    """What ``==`` overlooks: a decimal's scale (0.1 == 0.10), a timestamp's zone, int vs bool."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value, value.utcoffset()
    return type(value), value


def test_every_type_has_a_value_case() -> None:
    assert set(mssql_types.TYPES) <= {case[0] for case in VALUES}


@pytest.mark.parametrize(
    ("data_type", "precision", "scale", "given", "expected"), VALUES, ids=[c[0] for c in VALUES]
)
def test_pymssql_values_convert_exactly(
    data_type: str, precision: int | None, scale: int | None, given: list[Any], expected: list[Any]
) -> None:
    source = SourceColumn(name="v", data_type=data_type, precision=precision, scale=scale)
    schema = schema_of([Column(source, mssql_types.arrow_type(source))])

    batch = rows_to_batch([(v,) for v in given], schema)

    assert batch.schema == schema
    got = batch.column(0).to_pylist()
    assert got == expected
    assert [exact(v) for v in got] == [exact(v) for v in expected]


def test_a_whole_row_of_every_type() -> None:
    sources = [SourceColumn(f"c_{c[0]}", c[0], c[1], c[2]) for c in VALUES]
    schema = schema_of([Column(s, mssql_types.arrow_type(s)) for s in sources])
    rows = [tuple(c[3][i] for c in VALUES) for i in range(1)]

    batch = rows_to_batch(rows, schema)

    assert batch.to_pylist() == [{f"c_{c[0]}": c[4][0] for c in VALUES}]


@pytest.mark.parametrize(
    ("data_type", "value", "why"),
    [
        # a datetime the driver had not rounded to milliseconds would lose its microseconds
        ("datetime", dt.datetime(2025, 1, 1, 0, 0, 0, 3333), "finer fraction of a second"),
        ("smalldatetime", dt.datetime(2025, 1, 1, 0, 0, 30), None),
        ("tinyint", -1, "can't convert negative"),
        ("smallmoney", Decimal("12345678.1234"), "more than the column's 10 digits"),
        ("bit", 2, "0/1"),
        # what an old TDS version (< 7.3) sends for the newer date types: text
        ("datetime2", "2025-01-31 23:59:59.1234567", "ISO-8601"),
    ],
)
def test_values_that_would_change_raise(data_type: str, value: Any, why: str | None) -> None:
    source = SourceColumn(
        name="v", data_type=data_type, precision=10 if data_type == "smallmoney" else None, scale=4
    )
    schema = schema_of([Column(source, mssql_types.arrow_type(source))])
    if why is None:  # whole minutes fit timestamp[s]: no error
        assert rows_to_batch([(value,)], schema).column(0).to_pylist() == [value]
        return

    with pytest.raises(SourceError, match="column 'v'") as info:
        rows_to_batch([(value,)], schema)
    assert repr(value) in str(info.value)
    assert why in str(info.value)


# -- describe over the catalog rows pymssql returns --------------------------------------------


class CatalogConnection:
    """Stands in for a pymssql connection for the one catalog query (no SQL Server here)."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self.executed: list[tuple[str, dict[str, Any]]] = []

    def cursor(self) -> CatalogConnection:
        return self

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        self.executed.append((sql, params))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def close(self) -> None:
        pass


def test_describe_from_information_schema() -> None:
    connection = CatalogConnection(
        [
            ("ID", "bigint", 19, 0, 0),
            ("SALES_DATE", "datetime", None, None, 0),
            ("AMOUNT", "decimal", 15, 2, 1),
            ("FEE", "money", 19, 4, 1),
            ("ROW_GUID", "uniqueidentifier", None, None, 1),
            ("AT", "datetimeoffset", None, None, 1),
        ]
    )
    reader = MsSqlReader(connection, conn_id="pos_mssql")

    columns = reader.describe(TableConfig(name="APP_4_SALES", mode="window", date_column="SALES_DATE"))

    assert [(c.name, c.arrow_type, c.source.nullable) for c in columns] == [
        ("ID", pa.int64(), False),
        ("SALES_DATE", pa.timestamp("ms"), False),
        ("AMOUNT", pa.decimal128(15, 2), True),
        ("FEE", pa.decimal128(19, 4), True),
        ("ROW_GUID", pa.uuid(), True),
        ("AT", pa.timestamp("us", tz="UTC"), True),
    ]
    sql, params = connection.executed[0]
    assert "INFORMATION_SCHEMA.COLUMNS" in sql
    assert params == {"schema": "dbo", "table": "APP_4_SALES"}


class FakeMsSql:
    """Stands in for a pymssql connection: each statement returns the next of ``results``."""

    def __init__(self, *results: list[tuple[Any, ...]]) -> None:
        self.results = list(results)
        self.rows: list[tuple[Any, ...]] = []

    def cursor(self) -> FakeMsSql:
        return self

    def execute(self, sql: str, params: dict[str, Any]) -> None:
        self.rows = list(self.results.pop(0))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.fetchmany(len(self.rows))

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        taken, self.rows = self.rows[:size], self.rows[size:]
        return taken

    def close(self) -> None:
        pass


def test_not_null_columns_are_written_as_required_fields_and_a_null_in_one_fails(tmp_path) -> None:
    catalog = [("ID", "bigint", 19, 0, 0), ("AMOUNT", "decimal", 15, 2, 1), ("AT", "datetime", None, None, 0)]
    at = dt.datetime(2025, 1, 2, 3, 4, 5)
    table = TableConfig(name="APP_4_SALES", mode="full")
    window = Window(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
    place = {"source": "pos", "schedule": Schedule.monthly, "window": window, "lake_root": tmp_path}
    rows = [(1, Decimal("1.50"), at), (2, None, at)]

    manifest = extract_table(MsSqlReader(FakeMsSql(catalog, rows), conn_id="pos_mssql"), table, **place)

    part = tmp_path / "pos" / "APP_4_SALES" / manifest.partition / manifest.files[0].name
    schema = pq.read_schema(part)
    assert [(f.name, f.nullable) for f in schema][:3] == [("ID", False), ("AMOUNT", True), ("AT", False)]
    assert pq.read_table(part).column("AMOUNT").to_pylist() == [Decimal("1.50"), None]

    bad = MsSqlReader(FakeMsSql(catalog, [(1, None, at), (2, None, None)]), conn_id="pos_mssql")
    with pytest.raises(DataError, match=r"pos\.APP_4_SALES .*column 'AT' is declared NOT NULL .* 1 row"):
        extract_table(bad, table, **place)
