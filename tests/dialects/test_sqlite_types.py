"""SQLite declared types -> Arrow, checked on real data.

Each case creates a SQLite table with one declared type, stores values the way applications do
(through ``sqlite3`` parameters: REAL for money, 0/1 for booleans, ISO text for dates), reads the
table back through ``SqliteReader`` and checks the Arrow type and every value, exactly.

Decimals: a float stored into ``DECIMAL(p,s)`` is read as its shortest repr (the digits the
application wrote) rounded **half-even** to the scale: 0.1 + 0.2 -> 0.30, 0.125 -> 0.12,
0.135 -> 0.14. SQL Server and PostgreSQL round half away from zero on insert, so 0.125 would be
0.13 there: the rule is documented in ``tributary.readers.arrow``, not borrowed from a server.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tributary.config import TableConfig
from tributary.dialects import sqlite_types
from tributary.dialects.columns import SourceColumn
from tributary.errors import SourceError
from tributary.readers.sqlite import SqliteReader

D = Decimal
TS = dt.datetime
INTEGERS = [0, -1, 300, 2**40, None]  # SQLite enforces no width: a TINYINT holds 2**40
TEXTS = ["plain", "Zürich – 東京 🍜", "", None, 'it\'s "quoted"; --', 12]
TEXTS_READ = ["plain", "Zürich – 東京 🍜", "", None, 'it\'s "quoted"; --', "12"]

# (declared type, Arrow type, values as the application stores them, values read back)
CASES: list[tuple[str, pa.DataType, list[Any], list[Any]]] = [
    # INTEGER affinity turns 2.0 and '42' into the integers 2 and 42 when they are stored
    ("INTEGER", pa.int64(), [1, -(2**63), 2**63 - 1, None, 2.0, "42"], [1, -(2**63), 2**63 - 1, None, 2, 42]),
    ("BIGINT", pa.int64(), INTEGERS, INTEGERS),
    ("INT8", pa.int64(), INTEGERS, INTEGERS),
    ("UNSIGNED BIG INT", pa.int64(), INTEGERS, INTEGERS),
    ("INT", pa.int64(), INTEGERS, INTEGERS),
    ("MEDIUMINT", pa.int64(), INTEGERS, INTEGERS),
    ("SMALLINT", pa.int64(), INTEGERS, INTEGERS),
    ("INT2", pa.int64(), INTEGERS, INTEGERS),
    ("TINYINT", pa.int64(), INTEGERS, INTEGERS),
    ("INTEGER", pa.int64(), [None, None], [None, None]),  # NULL integers stay integers
    # REAL affinity stores the integer 3 as 3.0
    ("REAL", pa.float64(), [1.5, 0.1 + 0.2, 3, None, 1e308], [1.5, 0.30000000000000004, 3.0, None, 1e308]),
    ("DOUBLE", pa.float64(), [1.5, -2.5e-300, None], [1.5, -2.5e-300, None]),
    ("DOUBLE PRECISION", pa.float64(), [2.25, None], [2.25, None]),
    ("FLOAT", pa.float64(), [0.1, 7, None], [0.1, 7.0, None]),
    # NUMERIC affinity without a precision: an int or a float; numeric text becomes a number
    ("NUMERIC", pa.float64(), [1.5, 3, "2.25", None], [1.5, 3.0, 2.25, None]),
    ("DECIMAL", pa.float64(), [19.99, 20, None], [19.99, 20.0, None]),
    ("BOOLEAN", pa.bool_(), [0, 1, None, True, False], [False, True, None, True, False]),
    ("BOOL", pa.bool_(), [1, 0, None], [True, False, None]),
    (
        "DATE",
        pa.date32(),
        ["2025-01-31", "2024-02-29", None, "2025-03-01 00:00:00", "0001-01-01", "9999-12-31"],
        [dt.date(2025, 1, 31), dt.date(2024, 2, 29), None, dt.date(2025, 3, 1), dt.date.min, dt.date.max],
    ),
    *[
        (
            declared,
            pa.timestamp("us"),
            [
                "2025-01-31 23:59:59",
                "2025-01-31 23:59:59.123456",
                "2025-01-31 23:59:59.5",
                "2025-01-31T08:00:00",
                "2025-01-31",
                "2025-01-31 08:30",
                None,
            ],
            [
                TS(2025, 1, 31, 23, 59, 59),
                TS(2025, 1, 31, 23, 59, 59, 123456),
                TS(2025, 1, 31, 23, 59, 59, 500000),
                TS(2025, 1, 31, 8, 0),
                TS(2025, 1, 31),
                TS(2025, 1, 31, 8, 30),
                None,
            ],
        )
        for declared in ("DATETIME", "TIMESTAMP")
    ],
    # TEXT affinity stores the number 12 as the text '12'
    *[
        (declared, pa.string(), TEXTS, TEXTS_READ)
        for declared in (
            "TEXT",
            "CLOB",
            "VARCHAR",
            "NVARCHAR",
            "VARYING CHARACTER",
            "NATIVE CHARACTER",
            "CHARACTER",
            "CHAR",
            "NCHAR",
        )
    ],
    ("VARCHAR(20)", pa.string(), ["ab", None], ["ab", None]),
    # BLOB affinity keeps text as text: read as its UTF-8 bytes
    ("BLOB", pa.binary(), [b"\x00\x01\xff", b"", None, "text"], [b"\x00\x01\xff", b"", None, b"text"]),
    # no declared type: any storage class, read as text
    ("", pa.string(), [1, 1.5, "x", None, b"utf-8 \xc3\xa9"], ["1", "1.5", "x", None, "utf-8 é"]),
    # DECIMAL(p,s): exact to the scale; more digits are rounded half-even
    (
        "DECIMAL(10,2)",
        pa.decimal128(10, 2),
        [0.1 + 0.2, 12.0, 19.99, 0.125, 0.135, 2.675, -0.125, "12.345", 12345678, 99999999.99, None],
        [
            D("0.30"),
            D("12.00"),
            D("19.99"),
            D("0.12"),
            D("0.14"),
            D("2.68"),
            D("-0.12"),
            D("12.34"),
            D("12345678.00"),
            D("99999999.99"),
            None,
        ],
    ),
    ("DECIMAL(15, 2)", pa.decimal128(15, 2), [1234567890123.45, 0.01], [D("1234567890123.45"), D("0.01")]),
    (
        "NUMERIC(15,3)",
        pa.decimal128(15, 3),
        [1.0005, 2.0015, 7, None],
        [D("1.000"), D("2.002"), D("7.000"), None],
    ),
    ("DECIMAL(5)", pa.decimal128(5, 0), [12345, 1.5, 2.5, -2.5], [D("12345"), D("2"), D("2"), D("-2")]),
    (
        "NUMERIC(50,10)",
        pa.decimal256(50, 10),
        [1.25, 10**17],
        [D("1.2500000000"), D("100000000000000000.0000000000")],
    ),
    # affinity fallbacks for names not in sqlite_types.TYPES
    ("VARYING CHARACTER(20)", pa.string(), ["varying", None], ["varying", None]),
    ("INT UNSIGNED", pa.int64(), [4_000_000_000, None], [4_000_000_000, None]),
    ("INT4", pa.int64(), [7], [7]),
    # integer affinity by SQLite's letter ('INT' in 'POINT'): stores 2.0 as 2, keeps 1.5 as 1.5
    ("FLOATING POINT", pa.float64(), [1.5, 2.0, None], [1.5, 2.0, None]),
    ("BLOBBY", pa.binary(), [b"\x00zero\x00", None], [b"\x00zero\x00", None]),
    ("VARCHAR2(10)", pa.string(), ["oracle", None], ["oracle", None]),
    # NUMERIC affinity, but nothing says the values are numbers: text holds every one exactly
    ("JSON", pa.string(), ['{"a": [1, 2]}', "12", None], ['{"a": [1, 2]}', "12", None]),
    ("INTERVAL", pa.string(), ["1 day", None], ["1 day", None]),
    ("MONEY", pa.string(), [12.5, 3], ["12.5", "3"]),
]


def _ids(case: tuple[str, pa.DataType, list[Any], list[Any]]) -> str:
    return f"{case[0] or 'untyped'}->{case[1]}"


def make_table(path: Path, declared: str, values: list[Any], *, column: str = "v") -> None:
    con = sqlite3.connect(path)
    with con:
        quoted = '"' + column.replace('"', '""') + '"'
        con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, {quoted} {declared})")
        con.executemany(f"INSERT INTO t (id, {quoted}) VALUES (?, ?)", list(enumerate(values)))
    con.close()


def read_back(path: Path, columns: list[str] | None = None) -> tuple[list[Any], pa.Schema]:
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="full", columns=columns)
    described = reader.describe(table)
    batches = list(reader.batches(table, described, None))
    result = pa.Table.from_batches(batches, schema=batches[0].schema).sort_by("id")
    return result.to_pylist(), result.schema


@pytest.mark.parametrize(("declared", "arrow", "stored", "expected"), CASES, ids=[_ids(c) for c in CASES])
def test_declared_type_reads_exactly(
    tmp_path: Path, declared: str, arrow: pa.DataType, stored: list[Any], expected: list[Any]
) -> None:
    path = tmp_path / "types.sqlite"
    make_table(path, declared, stored)

    rows, schema = read_back(path)

    assert schema.field("v").type == arrow
    got = [row["v"] for row in rows]
    assert got == expected
    # equal is not enough for decimals: Decimal("0.3") == Decimal("0.30")
    assert [repr(v) for v in got] == [repr(v) for v in expected]


def test_every_declared_type_has_a_case() -> None:
    covered = {sqlite_types.parse_declared(case[0])[0] for case in CASES}
    assert set(sqlite_types.TYPES) <= covered


def test_decimal_from_binary_float_is_stored_as_real_and_read_exact(tmp_path: Path) -> None:
    """The case the rounding exists for: what SQLite really holds is the binary float."""
    path = tmp_path / "money.sqlite"
    make_table(path, "DECIMAL(10,2)", [0.1 + 0.2, 12.0])
    con = sqlite3.connect(path)
    stored = con.execute("SELECT typeof(v), v FROM t ORDER BY id").fetchall()
    assert stored == [("real", 0.30000000000000004), ("integer", 12)]

    rows, _ = read_back(path)

    assert [r["v"] for r in rows] == [D("0.30"), D("12.00")]


def test_describe_reports_arrow_types_and_not_null(tmp_path: Path) -> None:
    path = tmp_path / "schema.sqlite"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, amount DECIMAL(15, 2) NOT NULL, note, "
        "created TIMESTAMP NOT NULL, ok BOOLEAN)"
    )
    con.close()
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")

    columns = reader.describe(TableConfig(name="t", mode="full"))

    assert [(c.name, c.arrow_type, c.source.nullable) for c in columns] == [
        ("id", pa.int64(), False),  # the rowid alias: never NULL, though table_info says notnull 0
        ("amount", pa.decimal128(15, 2), False),
        ("note", pa.string(), True),
        ("created", pa.timestamp("us"), False),
        ("ok", pa.bool_(), True),
    ]


@pytest.mark.parametrize(
    ("ddl", "nullable"),
    [
        ("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", {"id": False, "v": True}),
        ("CREATE TABLE t (id integer, v TEXT, PRIMARY KEY (id))", {"id": False, "v": True}),
        ("CREATE TABLE t (id INTEGER, v TEXT, PRIMARY KEY (id DESC))", {"id": False, "v": True}),
        # not rowid aliases: SQLite lets these primary keys hold NULL in a rowid table
        ("CREATE TABLE t (id INTEGER PRIMARY KEY DESC, v TEXT)", {"id": True, "v": True}),
        ("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)", {"id": True, "v": True}),
        ("CREATE TABLE t (id INTEGER, v TEXT, PRIMARY KEY (id, v))", {"id": True, "v": True}),
        ("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL)", {"k": True, "v": False}),
        # WITHOUT ROWID enforces NOT NULL on its key
        ("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID", {"k": False, "v": True}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_rowid_alias_is_not_null_and_other_keys_follow_their_declaration(
    tmp_path: Path, ddl: str, nullable: dict[str, bool]
) -> None:
    path = tmp_path / "keys.sqlite"
    con = sqlite3.connect(path)
    con.execute(ddl)
    con.close()
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")

    columns = reader.describe(TableConfig(name="t", mode="full"))

    assert {c.name: c.field().nullable for c in columns} == nullable


@pytest.mark.parametrize(
    ("declared", "bad", "why"),
    [
        ("INTEGER", "abc", "not a whole number"),
        ("INTEGER", 1.5, "not a whole number"),  # INTEGER affinity keeps 1.5 as a REAL
        ("DATE", "2025-13-45", "not a calendar date"),
        ("DATE", "31/01/2025", "ISO-8601"),
        ("DATE", "2025-01-31 10:00:00", "ISO-8601"),  # a time of day does not fit a date
        ("DATE", 20000, "ISO-8601"),  # days since 1970? a Julian day? not guessed
        ("TIMESTAMP", "2025-02-30 10:00:00", "not a calendar date and time"),
        ("TIMESTAMP", 1735689600, "ISO-8601"),  # Unix seconds, or milliseconds? not guessed
        ("TIMESTAMP", "2025-01-31T10:00:00Z", "without a zone offset"),
        ("DECIMAL(5,2)", 12345.6, "more than the column's 5 digits"),
        ("DECIMAL(10,2)", "abc", "not a number"),
        ("BOOLEAN", 2, "0/1"),
        ("BOOLEAN", "yes", "0/1"),
        ("REAL", "n/a", "not a number"),
        ("", b"\xff\xfe", "not UTF-8"),
    ],
    ids=lambda v: repr(v) if not isinstance(v, str) else v,
)
def test_unreadable_value_raises_naming_column_and_value(
    tmp_path: Path, declared: str, bad: Any, why: str
) -> None:
    path = tmp_path / "bad.sqlite"
    make_table(path, declared, [None, bad], column="Amount Due")
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="full")
    columns = reader.describe(table)

    with pytest.raises(SourceError, match=r"column 'Amount Due'") as info:
        list(reader.batches(table, columns, None))

    assert repr(bad) in str(info.value)
    assert why in str(info.value)


def test_error_names_the_bad_value_not_the_first(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    make_table(path, "INTEGER", [1, 2, "three", 4])
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="full")

    with pytest.raises(SourceError, match=r"column 'v': cannot read 'three' \(str\) as int64"):
        list(reader.batches(table, reader.describe(table), None))


@pytest.mark.parametrize(
    ("declared", "parsed"),
    [
        ("DECIMAL(15, 2)", ("DECIMAL", 15, 2)),
        ("decimal ( 10 , 2 )", ("DECIMAL", 10, 2)),
        ("NUMERIC(10)", ("NUMERIC", 10, None)),
        ("int8", ("INT8", None, None)),
        ("VARYING   CHARACTER(20)", ("VARYING CHARACTER", 20, None)),
        ("DATETIME2(7)", ("DATETIME2", 7, None)),
        ("", ("", None, None)),
    ],
)
def test_parse_declared(declared: str, parsed: tuple[str, int | None, int | None]) -> None:
    assert sqlite_types.parse_declared(declared) == parsed


def test_decimal_without_precision_is_a_float() -> None:
    assert sqlite_types.arrow_type(SourceColumn("x", "DECIMAL")) == pa.float64()
    assert sqlite_types.arrow_type(SourceColumn("x", "NUMERIC", 39, 4)) == pa.decimal256(39, 4)
