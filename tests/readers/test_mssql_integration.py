"""MsSqlReader against a real SQL Server, over pymssql (the mssql provider's driver).

These run only when ``TRIBUTARY_TEST_MSSQL_URI`` names a server, e.g.
``mssql://user:password@host:1433/database`` (query arguments go to ``pymssql.connect``, e.g.
``?tds_version=7.4``); the user needs CREATE TABLE in ``dbo``. Each test creates its own tables
under a random name and drops them afterwards.

Quick start with Docker::

    docker run -e ACCEPT_EULA=Y -e MSSQL_SA_PASSWORD='Tributary-test-1' -p 1433:1433 \
        -d mcr.microsoft.com/mssql/server:2022-latest
    TRIBUTARY_TEST_MSSQL_URI='mssql://sa:Tributary-test-1@127.0.0.1:1433/master' \
        .venv/bin/python -m pytest -q -m mssql tests/readers
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from tests.support.mssql import NEEDS_SQL_SERVER, connect
from tributary.config import TableConfig
from tributary.dialects import MSSQL
from tributary.errors import TypeMappingError
from tributary.readers.mssql import MsSqlReader
from tributary.sql import render
from tributary.windows import Window

pytestmark = NEEDS_SQL_SERVER

UTC = dt.UTC
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))
GUID = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")


def q(name: str) -> str:
    return MSSQL.quote(name)


class Admin:
    """An autocommit connection for DDL, which drops the tables it created when the test ends."""

    def __init__(self) -> None:
        self.connection = connect(autocommit=True)
        self.created: list[str] = []

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        cursor = self.connection.cursor()
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
        return cursor

    def create(self, name: str, columns: str) -> str:
        self.execute(f"CREATE TABLE [dbo].{q(name)} ({columns})")
        self.created.append(name)
        return name

    def close(self) -> None:
        for name in self.created:
            self.execute(f"DROP TABLE IF EXISTS [dbo].{q(name)}")
        self.connection.close()


@pytest.fixture
def admin() -> Iterator[Admin]:
    admin = Admin()
    try:
        yield admin
    finally:
        admin.close()


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


# -- every mapped type ------------------------------------------------------------------------

# (column, DDL type, value sent by pymssql, value Tributary must write); NULL is also tested
TYPED: list[tuple[str, str, Any, Any]] = [
    ("c_tinyint", "tinyint", 255, 255),
    ("c_smallint", "smallint", -32768, -32768),
    ("c_int", "int", -(2**31), -(2**31)),
    ("c_bigint", "bigint", 2**63 - 1, 2**63 - 1),
    ("c_bit", "bit", True, True),
    ("c_real", "real", 1.5, 1.5),
    ("c_float", "float", 0.1, 0.1),
    ("c_money", "money", Decimal("922337203685477.5807"), Decimal("922337203685477.5807")),
    ("c_smallmoney", "smallmoney", Decimal("-214748.3648"), Decimal("-214748.3648")),
    ("c_decimal", "decimal(15,2)", Decimal("1234567890123.45"), Decimal("1234567890123.45")),
    (
        "c_numeric",
        "numeric(38,10)",
        Decimal("1234567890123456789012345678.1234567890"),
        Decimal("1234567890123456789012345678.1234567890"),
    ),
    ("c_char", "char(4)", "ab", "ab  "),
    ("c_varchar", "varchar(50)", "plain", "plain"),
    ("c_text", "text", "long text", "long text"),
    ("c_nchar", "nchar(3)", "ü", "ü  "),
    ("c_nvarchar", "nvarchar(100)", "Zürich – 東京 🍜", "Zürich – 東京 🍜"),
    ("c_ntext", "ntext", "ünï", "ünï"),
    ("c_sysname", "sysname", "dbo", "dbo"),
    ("c_uniqueidentifier", "uniqueidentifier", GUID, GUID),
    ("c_date", "date", "2025-01-31", dt.date(2025, 1, 31)),
    # ISO 8601 text with a T: SQL Server reads it alike under every language
    ("c_datetime", "datetime", "2025-01-31T23:59:59.997", dt.datetime(2025, 1, 31, 23, 59, 59, 997000)),
    ("c_smalldatetime", "smalldatetime", "2025-01-31T23:59:00", dt.datetime(2025, 1, 31, 23, 59)),
    # 100 ns ticks are truncated to microseconds
    (
        "c_datetime2",
        "datetime2(7)",
        "2025-01-31T23:59:59.1234567",
        dt.datetime(2025, 1, 31, 23, 59, 59, 123456),
    ),
    (
        "c_datetimeoffset",
        "datetimeoffset(7)",
        "2025-02-01T08:00:00.1234567+08:00",
        dt.datetime(2025, 2, 1, 0, 0, 0, 123456, tzinfo=UTC),
    ),
    ("c_time", "time(7)", "23:59:59.1234567", dt.time(23, 59, 59, 123456)),
    ("c_binary", "binary(4)", bytearray(b"\x00\x01"), b"\x00\x01\x00\x00"),
    ("c_varbinary", "varbinary(10)", bytearray(b"\x00\xff"), b"\x00\xff"),
    ("c_image", "image", bytearray(b"\x89PNG\r\n\x1a\n"), b"\x89PNG\r\n\x1a\n"),
    # names a table may really have
    ("order", "int", 1, 1),
    ("pct%", "int", 2, 2),
    ("a]]b; --", "int", 3, 3),
]
# values the server decides: compared with what it returns for them itself
SERVER_SIDE = [("c_xml", "xml", '<a b="1"/>'), ("c_rowversion", "rowversion", None)]


@pytest.fixture
def typed_table(admin: Admin) -> str:
    ddl = ", ".join(
        ["id int NOT NULL PRIMARY KEY"]
        + [f"{q(name)} {sql_type} NULL" for name, sql_type, _, _ in TYPED]
        + [
            f"{q(name)} {sql_type}{' NULL' if sql_type != 'rowversion' else ''}"
            for name, sql_type, _ in SERVER_SIDE
        ]
    )
    table = admin.create(unique('tributary types "x"; --]'), ddl)
    names = [name for name, _, _, _ in TYPED] + ["c_xml"]
    values = {f"v{i}": value for i, (_, _, value, _) in enumerate(TYPED)} | {"xml": SERVER_SIDE[0][2]}
    placeholders = [f"%(v{i})s" for i in range(len(TYPED))] + ["%(xml)s"]
    columns = ", ".join(q(n) for n in names)
    admin.execute(
        f"INSERT INTO [dbo].{q(table)} (id, {columns}) VALUES (1, {', '.join(placeholders)})", values
    )
    admin.execute(f"INSERT INTO [dbo].{q(table)} (id) VALUES (2)")
    return table


def test_every_mapped_type_round_trips(typed_table: str, admin: Admin) -> None:
    reader = MsSqlReader(connect(), conn_id="mssql_test")
    table = TableConfig(name=typed_table, schema="dbo", mode="full")

    columns = reader.describe(table)
    batches = list(reader.batches(table, columns, None))
    count = reader.count(table, columns, None)

    types = {c.name: (c.source.data_type, c.arrow_type) for c in columns}
    assert types["c_rowversion"] == ("timestamp", pa.binary())  # the catalog's name for rowversion
    assert types["c_xml"] == ("xml", pa.string())
    assert types["c_decimal"][1] == pa.decimal128(15, 2)
    assert types["c_numeric"][1] == pa.decimal128(38, 10)
    result = pa.Table.from_batches(batches).sort_by("id")
    assert count == result.num_rows == 2
    first, second = result.to_pylist()

    cursor = admin.execute(
        f"SELECT CONVERT(nvarchar(max), c_xml), c_rowversion FROM [dbo].{q(typed_table)} WHERE id = 1"
    )
    xml_text, rowversion = cursor.fetchone()
    expected = {name: value for name, _, _, value in TYPED} | {"c_xml": xml_text, "c_rowversion": rowversion}
    for name, value in expected.items():
        got = first[name]
        assert (got, type(got)) == (value, type(value)), name
        if isinstance(value, Decimal):
            assert str(got) == str(value), name  # the scale too
        if isinstance(value, dt.datetime):
            assert got.utcoffset() == value.utcoffset(), name
    assert all(v is None for k, v in second.items() if k not in ("id", "c_rowversion"))
    assert isinstance(second["c_rowversion"], bytes) and len(second["c_rowversion"]) == 8


def test_count_big_is_an_int(typed_table: str) -> None:
    con = connect()
    cursor = con.cursor()
    sql = render(MSSQL, "count", schema="dbo", table=typed_table, date_column=None)
    cursor.execute(sql, {})
    (value,) = cursor.fetchone()
    assert type(value) is int and value == 2


def test_unmapped_type_fails_describe(admin: Admin) -> None:
    name = admin.create(unique("tributary variant"), "id int NOT NULL, v sql_variant NULL")
    reader = MsSqlReader(connect(), conn_id="mssql_test")

    with pytest.raises(TypeMappingError, match=r"column 'v' has SQL Server type 'sql_variant'"):
        reader.describe(TableConfig(name=name, schema="dbo", mode="full"))


# -- windows ----------------------------------------------------------------------------------

DATE_COLUMNS = {
    "at_datetime": "datetime",
    "at_datetime2": "datetime2(7)",
    "at_smalldatetime": "smalldatetime",
    "on_date": "date",
    "at_offset": "datetimeoffset(7)",
}
# (id, the same ISO text into every date column, or a value for at_offset only)
WINDOW_ROWS: list[tuple[int, str | None, str | None]] = [
    (1, "2024-12-31T23:59:59.997", None),
    (2, "2025-01-01T00:00:00", None),  # the window start: in
    (3, "2025-01-31T23:59:59.997", None),
    (4, "2025-02-01T00:00:00", None),  # the window end: out
    (5, None, "2025-02-01T07:00:00+08:00"),  # 2025-01-31 23:00 UTC: in
    (6, None, "2025-01-01T07:00:00+08:00"),  # 2024-12-31 23:00 UTC: out
    (7, "2025-01-02T00:00:00", None),  # read as 2 January, never as 1 February
    (8, "2025-01-13T00:00:00", None),  # a 13th: no month 13 under any DATEFORMAT
]
IN_JANUARY = {
    "at_datetime": [2, 3, 7, 8],
    "at_datetime2": [2, 3, 7, 8],
    # smalldatetime rounds to the minute when it stores: ...23:59:59.997 is the next day
    "at_smalldatetime": [1, 2, 7, 8],
    "on_date": [2, 3, 7, 8],
    "at_offset": [2, 3, 5, 7, 8],
}


@pytest.fixture
def window_table(admin: Admin) -> str:
    ddl = ", ".join(["id int NOT NULL PRIMARY KEY"] + [f"{q(c)} {t} NULL" for c, t in DATE_COLUMNS.items()])
    table = admin.create(unique("tributary window"), ddl)
    for id_, text, offset in WINDOW_ROWS:
        if text is not None:
            values = ", ".join(["%(text)s"] * len(DATE_COLUMNS))
            admin.execute(
                f"INSERT INTO [dbo].{q(table)} (id, {', '.join(q(c) for c in DATE_COLUMNS)}) "
                f"VALUES (%(id)s, {values})",
                {"id": id_, "text": text},
            )
        else:
            admin.execute(
                f"INSERT INTO [dbo].{q(table)} (id, at_offset) VALUES (%(id)s, %(offset)s)",
                {"id": id_, "offset": offset},
            )
    return table


@pytest.mark.parametrize("language", ["us_english", "british", "Deutsch"])
@pytest.mark.parametrize("date_column", list(DATE_COLUMNS))
def test_window_bounds_under_any_language(window_table: str, date_column: str, language: str) -> None:
    """The bounds are read alike whatever the login's language (and so DATEFORMAT) is."""
    con = connect()
    cursor = con.cursor()
    cursor.execute("SET LANGUAGE %(language)s", {"language": language})
    cursor.close()
    reader = MsSqlReader(con, conn_id="mssql_test")
    table = TableConfig(name=window_table, schema="dbo", mode="window", date_column=date_column)
    columns = reader.describe(table)

    rows = [r for b in reader.batches(table, columns, JANUARY) for r in b.to_pylist()]
    count = reader.count(table, columns, JANUARY)

    assert sorted(r["id"] for r in rows) == IN_JANUARY[date_column]
    assert count == len(rows)
    assert isinstance(count, int)


def test_window_values_are_exact(window_table: str) -> None:
    reader = MsSqlReader(connect(), conn_id="mssql_test")
    table = TableConfig(name=window_table, schema="dbo", mode="window", date_column="at_datetime")
    columns = reader.describe(table)

    rows = {r["id"]: r for b in reader.batches(table, columns, JANUARY) for r in b.to_pylist()}

    assert rows[3]["at_datetime"] == dt.datetime(2025, 1, 31, 23, 59, 59, 997000)
    assert rows[3]["at_datetime2"] == dt.datetime(2025, 1, 31, 23, 59, 59, 997000)
    assert rows[3]["at_smalldatetime"] == dt.datetime(2025, 2, 1)
    assert rows[3]["on_date"] == dt.date(2025, 1, 31)
    assert rows[3]["at_offset"] == dt.datetime(2025, 1, 31, 23, 59, 59, 997000, tzinfo=UTC)


def test_count_and_batches_agree_across_batches(admin: Admin) -> None:
    # row n (1..2500) is at 2024-12-31 00:00 + 20n minutes: January holds n = 72 .. 2303
    name = admin.create(unique("tributary many"), "id int NOT NULL PRIMARY KEY, at datetime2 NULL")
    admin.execute(
        f"INSERT INTO [dbo].{q(name)} (id, at) "
        "SELECT n, DATEADD(minute, CAST(20 * n AS int), CAST('2024-12-31T00:00:00' AS datetime2)) FROM ("
        "SELECT TOP (2500) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n "
        "FROM sys.all_objects a CROSS JOIN sys.all_objects b) AS numbers"
    )
    reader = MsSqlReader(connect(), conn_id="mssql_test")
    full = TableConfig(name=name, schema="dbo", mode="full", batch_size=1000)
    window = TableConfig(name=name, schema="dbo", mode="window", date_column="at", batch_size=1000)
    columns = reader.describe(full)

    batches = list(reader.batches(full, columns, None))
    windowed = list(reader.batches(window, columns, JANUARY))

    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    assert reader.count(full, columns, None) == 2500
    ids = sorted(i for b in windowed for i in b.column("id").to_pylist())
    assert ids == list(range(72, 2304))
    assert reader.count(window, columns, JANUARY) == len(ids)
