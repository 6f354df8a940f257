"""SqliteReader against real SQLite files: windows over text dates, counts, catalog errors, names."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.config import Schedule, TableConfig
from tributary.dialects.columns import Column, SourceColumn
from tributary.errors import CatalogError, DataError
from tributary.manifest import Manifest
from tributary.readers.sqlite import SqliteReader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.windows import Window

UTC = dt.UTC
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))
JAN_31 = Window(dt.datetime(2025, 1, 31, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database(path: Path, ddl: str, rows: Sequence[Sequence[Any]] = (), *, table: str = "t") -> Path:
    con = sqlite3.connect(path)
    with con:
        con.execute(ddl)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            con.executemany(f"INSERT INTO {q(table)} VALUES ({marks})", rows)
    con.close()
    return path


def read(reader: SqliteReader, table: TableConfig, window: Window | None) -> tuple[int, list[dict[str, Any]]]:
    columns = reader.describe(table)
    count = reader.count(table, columns, window)
    rows = [row for batch in reader.batches(table, columns, window) for row in batch.to_pylist()]
    return count, rows


# -- windows ----------------------------------------------------------------------------------

TIMESTAMP_ROWS = [
    (1, "2024-12-31 23:59:59.999999", False),
    (2, "2025-01-01 00:00:00", True),  # exactly the window start: in
    (3, "2025-01-01", True),  # a date-only value at the start: in
    (4, "2025-01-15T12:00:00", True),
    (5, "2025-01-31 23:59:59.999999", True),
    (6, "2025-02-01 00:00:00", False),  # exactly the window end: out
    (7, "2025-02-01", False),  # '2025-02-01' < '2025-02-01 00:00:00' as text: the trap
    (8, "2025-02-01T00:00:00", False),
    (9, "2025-02-01 00:00:00.000001", False),
    (10, None, False),
]


@pytest.mark.parametrize("declared", ["TIMESTAMP", "DATETIME", "TEXT"])
def test_timestamp_window_bounds(tmp_path: Path, declared: str) -> None:
    path = database(
        tmp_path / "w.sqlite",
        f"CREATE TABLE t (id INTEGER PRIMARY KEY, sold_at {declared}, in_january BOOLEAN)",
        TIMESTAMP_ROWS,
    )
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="window", date_column="sold_at")

    count, rows = read(reader, table, JANUARY)

    assert sorted(r["id"] for r in rows) == [i for i, _, inside in TIMESTAMP_ROWS if inside]
    assert count == len(rows) == 4


DATE_ROWS = [
    (1, "2024-12-31"),
    (2, "2025-01-01"),  # the window start: in
    (3, "2025-01-31"),
    (4, "2025-02-01"),  # the first day of the next month: out
    (5, "2025-02-01 00:00:00"),  # the same day written as a datetime: out as well
    (6, "2025-01-15 00:00:00"),
    (7, None),
]


def test_date_window_bounds(tmp_path: Path) -> None:
    path = database(
        tmp_path / "d.sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, business_date DATE)", DATE_ROWS
    )
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="window", date_column="business_date")

    count, rows = read(reader, table, JANUARY)

    assert sorted((r["id"], r["business_date"]) for r in rows) == [
        (2, dt.date(2025, 1, 1)),
        (3, dt.date(2025, 1, 31)),
        (6, dt.date(2025, 1, 15)),
    ]
    assert count == 3


def test_daily_window(tmp_path: Path) -> None:
    path = database(
        tmp_path / "w.sqlite",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, sold_at TIMESTAMP, x BOOLEAN)",
        TIMESTAMP_ROWS,
    )
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="window", date_column="sold_at")

    count, rows = read(reader, table, JAN_31)

    assert [r["id"] for r in rows] == [5]
    assert count == 1


def test_window_on_a_date_column_that_is_not_read(tmp_path: Path) -> None:
    """``columns`` may leave the date column out; the filter still applies to it."""
    path = database(
        tmp_path / "d.sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, business_date DATE)", DATE_ROWS
    )
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="window", date_column="business_date", columns=["id"])

    count, rows = read(reader, table, JANUARY)

    assert sorted(r["id"] for r in rows) == [2, 3, 6]
    assert count == 3
    assert list(rows[0]) == ["id"]


def test_window_bounds_are_bound_as_text() -> None:
    reader = SqliteReader(sqlite3.connect(":memory:"), conn_id="t")
    timestamp = Column(SourceColumn("ts", "TIMESTAMP"), pa.timestamp("us"))
    date = Column(SourceColumn("d", "DATE"), pa.date32())
    midnight = dt.datetime(2025, 2, 1, tzinfo=UTC)
    # a bound in another zone is the same instant in UTC
    noon = dt.datetime(2025, 2, 1, 20, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    assert reader.window_value(timestamp, midnight) == "2025-02-01"
    assert reader.window_value(date, midnight) == "2025-02-01"
    assert reader.window_value(timestamp, noon) == "2025-02-01 12:30:00"


def test_count_equals_batches_across_many_batches(tmp_path: Path) -> None:
    start = dt.datetime(2024, 12, 25)
    rows = [(i, (start + dt.timedelta(minutes=17 * i)).isoformat(sep=" "), i * 0.01) for i in range(5000)]
    path = database(
        tmp_path / "many.sqlite",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, at TIMESTAMP, amount DECIMAL(12,2))",
        rows,
    )
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="window", date_column="at", batch_size=1000)
    columns = reader.describe(table)

    batches = list(reader.batches(table, columns, JANUARY))
    count = reader.count(table, columns, JANUARY)

    expected = [i for i, at, _ in rows if "2025-01-01" <= at < "2025-02-01"]
    assert len(batches) > 1
    assert all(b.num_rows <= 1000 for b in batches)
    assert count == sum(b.num_rows for b in batches) == len(expected)
    assert [i for b in batches for i in b.column("id").to_pylist()] == expected
    full = TableConfig(name="t", mode="full", batch_size=1000)
    assert reader.count(full, columns, None) == 5000


def test_a_number_date_column_cannot_be_windowed(tmp_path: Path) -> None:
    path = database(tmp_path / "n.sqlite", "CREATE TABLE t (id INTEGER, epoch INTEGER)", [(1, 1735689600)])
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name="t", mode="window", date_column="epoch")
    columns = reader.describe(table)

    with pytest.raises(CatalogError, match=r"date_column 'epoch' is declared 'INTEGER'.*ISO-8601 text"):
        reader.count(table, columns, JANUARY)


# -- catalog errors ---------------------------------------------------------------------------


def test_missing_table(tmp_path: Path) -> None:
    path = database(tmp_path / "c.sqlite", "CREATE TABLE t (id INTEGER)")
    reader = SqliteReader(sqlite3.connect(path), conn_id="pos_sqlite")

    with pytest.raises(
        CatalogError, match=r"table main\.nope does not exist .*'pos_sqlite'.*`name`/`schema`"
    ):
        reader.describe(TableConfig(name="nope", mode="full"))


def test_missing_date_column(tmp_path: Path) -> None:
    path = database(tmp_path / "c.sqlite", "CREATE TABLE t (id INTEGER, sold_at TIMESTAMP)")
    reader = SqliteReader(sqlite3.connect(path), conn_id="pos_sqlite")

    with pytest.raises(
        CatalogError,
        match=r"date_column of table main\.t names \['sold_on'\].*columns are \['id', 'sold_at'\]",
    ):
        reader.describe(TableConfig(name="t", mode="window", date_column="sold_on"))


def test_missing_listed_column_and_primary_key(tmp_path: Path) -> None:
    path = database(tmp_path / "c.sqlite", "CREATE TABLE t (id INTEGER, sold_at TIMESTAMP)")
    reader = SqliteReader(sqlite3.connect(path), conn_id="c")

    with pytest.raises(CatalogError, match=r"columns of table main\.t names \['ID'\]"):
        reader.describe(TableConfig(name="t", mode="full", columns=["ID", "sold_at"]))
    with pytest.raises(CatalogError, match=r"primary_key of table main\.t names \['pk'\]"):
        reader.describe(TableConfig(name="t", mode="full", primary_key=["pk"]))


# -- identifiers --------------------------------------------------------------------------------

ODD_TABLE = 'sales "2025"; -- Ümsatz'
ODD_COLUMNS = ["order", "sale date", 'a"b', "x;y", "ünïcødé 名前", ":window_start", "%pct", "[br]"]


def test_odd_identifiers(tmp_path: Path) -> None:
    ddl = (
        f"CREATE TABLE {q(ODD_TABLE)} ("
        + ", ".join(f"{q(c)} {'TIMESTAMP' if c == 'sale date' else 'TEXT'}" for c in ODD_COLUMNS)
        + ")"
    )
    values = [
        ["o1", "2025-01-10 10:00:00", "q", "s", "u", "p", "5%", "b"],
        ["o2", "2025-02-10 10:00:00", "q", "s", "u", "p", "6%", "b"],
    ]
    path = database(tmp_path / "odd.sqlite", ddl, values, table=ODD_TABLE)
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    table = TableConfig(name=ODD_TABLE, mode="window", date_column="sale date", primary_key=["order"])

    count, rows = read(reader, table, JANUARY)

    assert count == 1
    assert rows == [
        {
            "order": "o1",
            "sale date": dt.datetime(2025, 1, 10, 10),
            'a"b': "q",
            "x;y": "s",
            "ünïcødé 名前": "u",
            ":window_start": "p",
            "%pct": "5%",
            "[br]": "b",
        }
    ]


def test_odd_schema_name(tmp_path: Path) -> None:
    """``schema`` is an attached database; its name is bound in the catalog query, quoted in reads."""
    other = database(tmp_path / "other.sqlite", "CREATE TABLE t (id INTEGER, d DATE)", [(1, "2025-01-02")])
    con = sqlite3.connect(tmp_path / "main.sqlite")
    con.execute('ATTACH DATABASE ? AS "odd ""schema"""', (str(other),))
    reader = SqliteReader(con, conn_id="t")
    table = TableConfig(name="t", schema='odd "schema"', mode="window", date_column="d")

    count, rows = read(reader, table, JANUARY)

    assert (count, rows) == (1, [{"id": 1, "d": dt.date(2025, 1, 2)}])


HOSTILE = 'x"; DROP TABLE sales; --'


def test_hostile_table_name_is_quoted_never_executed(tmp_path: Path) -> None:
    path = database(tmp_path / "h.sqlite", "CREATE TABLE sales (id INTEGER)", [(1,)], table="sales")
    con = sqlite3.connect(path)
    reader = SqliteReader(con, conn_id="t")
    hostile = TableConfig(name=HOSTILE, mode="full")

    with pytest.raises(CatalogError, match="does not exist"):
        reader.describe(hostile)
    # past the catalog too: the name reaches the FROM clause quoted, as one identifier
    columns = [Column(SourceColumn("id", "INTEGER"), pa.int64())]
    with pytest.raises(sqlite3.OperationalError, match=r"no such table: main\.x\"; DROP TABLE sales; --"):
        reader.count(hostile, columns, None)
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        list(reader.batches(hostile, columns, None))

    assert con.execute("SELECT count(*) FROM sales").fetchone() == (1,)
    assert con.execute("SELECT name FROM sqlite_master").fetchall() == [("sales",)]


def test_a_table_really_named_like_an_injection_is_read(tmp_path: Path) -> None:
    path = database(tmp_path / "h.sqlite", "CREATE TABLE sales (id INTEGER)", [(1,)], table="sales")
    database(path, f"CREATE TABLE {q(HOSTILE)} (id INTEGER)", [(7,)], table=HOSTILE)
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")

    count, rows = read(reader, TableConfig(name=HOSTILE, mode="full"), None)

    assert (count, rows) == (1, [{"id": 7}])
    con = sqlite3.connect(path)
    assert con.execute("SELECT id FROM sales").fetchall() == [(1,)]


# -- nullability ------------------------------------------------------------------------------


def _replicate(path: Path, lake: Path, table: TableConfig, window: Window) -> Manifest:
    """Extract, verify and commit one window, as the task group does."""
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    place = {"source": "s", "schedule": Schedule.monthly, "window": window, "lake_root": lake}
    manifest = extract_table(reader, table, **place)
    verify_table(reader, table, batch_id=manifest.batch_id, **place)
    return commit_table(table, batch_id=manifest.batch_id, **place)


def test_not_null_columns_are_written_as_non_nullable_fields(tmp_path: Path) -> None:
    path = database(
        tmp_path / "n.sqlite",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, amount DECIMAL(10,2) NOT NULL, note TEXT)",
        [(1, 2.5, None), (2, 3, "x")],
    )
    lake = tmp_path / "lake"
    table = TableConfig(name="t", mode="full", schema_drift="freeze")

    january = _replicate(path, lake, table, JANUARY)

    part = lake / "s" / "t" / january.partition / january.files[0].name
    schema = pq.read_schema(part)
    assert schema.field("id").nullable is False  # the rowid alias
    assert schema.field("amount").nullable is False
    assert schema.field("note").nullable is True
    assert {f.name: f.nullable for f in january.schema_} == {f.name: f.nullable for f in schema}

    # the column later becomes nullable: not drift (even under freeze); the next partitions and
    # re-runs write it nullable, committed ones keep theirs, and the two read together
    con = sqlite3.connect(path)
    with con:
        con.execute("CREATE TABLE t2 (id INTEGER PRIMARY KEY, amount DECIMAL(10,2), note TEXT)")
        con.execute("INSERT INTO t2 SELECT * FROM t")
        con.execute("DROP TABLE t")
        con.execute("ALTER TABLE t2 RENAME TO t")
        con.execute("INSERT INTO t VALUES (3, NULL, 'y')")
    con.close()
    february = _replicate(path, lake, table, Window(JANUARY.end, dt.datetime(2025, 3, 1, tzinfo=UTC)))

    assert february.schema_changes == []
    later = pq.read_schema(lake / "s" / "t" / february.partition / february.files[0].name)
    assert (later.field("id").nullable, later.field("amount").nullable) == (False, True)
    assert pq.read_schema(part).field("amount").nullable is False
    both = duckdb.sql(
        f"SELECT count(*), count(amount) FROM read_parquet('{lake}/s/t/*/*.parquet', union_by_name = true)"
    ).fetchone()
    assert both == (5, 4)


def test_a_null_in_a_not_null_column_fails_naming_table_and_column(tmp_path: Path) -> None:
    """SQLite keeps the rows a NOT NULL constraint was added over (here by editing the schema,
    as some migration tools do); a non-nullable field holding NULL would be a lying schema."""
    path = database(
        tmp_path / "bad.sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT)", [(1, "a"), (2, None)]
    )
    con = sqlite3.connect(path)
    con.execute("PRAGMA writable_schema = ON")
    con.execute(
        "UPDATE sqlite_master SET sql = replace(sql, 'code TEXT', 'code TEXT NOT NULL') WHERE name = 't'"
    )
    con.commit()
    con.close()
    reader = SqliteReader(sqlite3.connect(path), conn_id="t")
    assert not reader.describe(TableConfig(name="t", mode="full"))[1].source.nullable
    place = {"source": "s", "schedule": Schedule.monthly, "window": JANUARY, "lake_root": tmp_path / "lake"}

    with pytest.raises(DataError, match=r"s\.t .*column 'code' is declared NOT NULL .* 1 row\(s\)"):
        extract_table(reader, TableConfig(name="t", mode="full"), **place)
