"""Every PostgreSQL type of the map, on a real server: Arrow type and values, through both engines.

For each case a table ``types.<case>`` holds values of one type, NULL among them. It is read through
``PostgresReader`` twice: with libpq parameters (DuckDB's postgres scanner where it can read the
column exactly) and without (a psycopg2 server-side cursor). Both must give the same table, of
the mapped Arrow type, with the values PostgreSQL holds: as psycopg2 fetches them, and as written
down here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg2
import psycopg2.extras
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import MonthDayNano

from tributary.audit import AUDIT_FIELDS, Audit
from tributary.config import TableConfig
from tributary.dialects import postgres_types
from tributary.dialects.columns import Column, SourceColumn, schema_of
from tributary.errors import DataError, SourceError, TypeMappingError
from tributary.parquet_types import stored_batch, stored_schema
from tributary.readers.postgres import PostgresReader

UTC = dt.UTC
SCHEMA = "types"


def _utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@dataclass(frozen=True)
class Case:
    id: str  # the table name
    ddl: str  # the column's type in CREATE TABLE
    data_type: str  # information_schema's data_type, lower case
    arrow: pa.DataType
    values: tuple[tuple[str, Any], ...]  # (SQL literal, the value Tributary must write)
    scanner: bool  # DuckDB's scanner reads it (else the table goes through psycopg2)
    setup: str = ""


T = postgres_types.TYPES
CASES: tuple[Case, ...] = (
    Case("smallint", "smallint", "smallint", T["smallint"],
         (("-32768", -32768), ("32767", 32767), ("0", 0)), scanner=True),
    Case("integer", "integer", "integer", T["integer"],
         (("-2147483648", -2147483648), ("2147483647", 2147483647)), scanner=True),
    Case("bigint", "bigint", "bigint", T["bigint"],
         (("9223372036854775807", 2**63 - 1), ("-9223372036854775808", -(2**63)), ("0", 0)), scanner=True),
    Case("real", "real", "real", T["real"],
         (("1.5", 1.5), ("'3.4028235e38'", 3.4028234663852886e38), ("'1e-45'", 1.401298464324817e-45),
          ("'-Infinity'", -math.inf), ("'NaN'", math.nan), ("-0.25", -0.25)), scanner=True),
    Case("double", "double precision", "double precision", T["double precision"],
         (("1.7976931348623157e308", 1.7976931348623157e308), ("'5e-324'", 5e-324), ("0.1", 0.1),
          ("'Infinity'", math.inf), ("'NaN'", math.nan)), scanner=True),
    Case("boolean", "boolean", "boolean", T["boolean"], (("true", True), ("false", False)), scanner=True),
    Case("text", "text", "text", T["text"],
         (("'héllo wörld 😀'", "héllo wörld 😀"), (r"E'tab\there\nnew line'", "tab\there\nnew line"),
          (r"'quote '' and backslash \'", "quote ' and backslash \\"), ("''", ""),
          ("repeat('x', 100000)", "x" * 100_000)), scanner=True),
    Case("varchar", "varchar(20)", "character varying", T["character varying"],
         (("'😀😀'", "😀😀"), ("''", ""), ("'trailing  '", "trailing  ")), scanner=True),
    # char(n) pads; PostgreSQL's cast to text (and DuckDB's scanner) drop the padding
    Case("character", "character(5)", "character", T["character"],
         (("'ab'", "ab"), ("' x'", " x"), ("'abcde'", "abcde"), ("''", "")), scanner=True),
    Case("name", "name", "name", T["name"], (("'pg_class'", "pg_class"), ("'é😀'", "é😀")), scanner=True),
    Case("citext", "citext", "user-defined", T["citext"], (("'CiText'", "CiText"), ("'Ümlaut'", "Ümlaut")),
         scanner=False, setup="CREATE EXTENSION IF NOT EXISTS citext"),
    Case("uuid", "uuid", "uuid", pa.uuid(),
         (("'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
          ("'00000000-0000-0000-0000-000000000000'", UUID(int=0)),
          ("'ffffffff-ffff-ffff-ffff-ffffffffffff'", UUID(int=2**128 - 1))), scanner=True),
    # json keeps its text as stored; jsonb is PostgreSQL's normalised text (keys sorted, duplicates
    # dropped, ", " and ": "): what both PostgreSQL and DuckDB print for it
    Case("json", "json", "json", pa.json_(),
         (("""'{"a": [1, 2.50],  "b": null}'""", '{"a": [1, 2.50],  "b": null}'), ("""'"é😀"'""", '"é😀"'),
          ("'[]'", "[]"), ("""'{"k": 1, "k": 2}'""", '{"k": 1, "k": 2}')), scanner=True),
    Case("jsonb", "jsonb", "jsonb", pa.json_(),
         (("""'{"z": 1, "a": "é😀", "n": 1.50}'""", '{"a": "é😀", "n": 1.50, "z": 1}'),
          ("""'{"k": [true, null]}'""", '{"k": [true, null]}'), ("'0'", "0"),
          ("""'{"k": 1, "k": 2}'""", '{"k": 2}')), scanner=True),
    Case("xml", "xml", "xml", T["xml"], (("""'<a b="1">x &amp; y</a>'""", '<a b="1">x &amp; y</a>'),),
         scanner=False),
    Case("inet", "inet", "inet", T["inet"],
         (("'192.168.0.1/24'", "192.168.0.1/24"), ("'::1'", "::1"), ("'10.1.2.3'", "10.1.2.3")),
         scanner=False),
    Case("cidr", "cidr", "cidr", T["cidr"],
         (("'10.0.0.0/8'", "10.0.0.0/8"), ("'2001:db8::/32'", "2001:db8::/32")), scanner=False),
    Case("macaddr", "macaddr", "macaddr", T["macaddr"], (("'08:00:2B:01:02:03'", "08:00:2b:01:02:03"),),
         scanner=False),
    # money is an int64 of hundredths: read in lc_monetary C, whatever the session's locale prints
    Case("money", "money", "money", pa.decimal128(19, 2),
         (("1234.56", Decimal("1234.56")), ("-0.01", Decimal("-0.01")),
          ("'92233720368547758.07'", Decimal("92233720368547758.07")),
          ("'-92233720368547758.08'", Decimal("-92233720368547758.08"))), scanner=False),
    Case("interval", "interval", "interval", pa.month_day_nano_interval(),
         (("'1 year 2 mons 3 days 04:05:06.789'", MonthDayNano([14, 3, 14_706_789_000_000])),
          ("'-1 days'", MonthDayNano([0, -1, 0])), ("'0.000001 seconds'", MonthDayNano([0, 0, 1000])),
          ("'1 mon -2 days -00:00:00.000001'", MonthDayNano([1, -2, -1000])),
          ("'-178000000 years'", MonthDayNano([-2_136_000_000, 0, 0])),
          ("'2562047 hours 47 minutes 16.854775 seconds'", MonthDayNano([0, 0, 9_223_372_036_854_775_000])),
          ("'0'", MonthDayNano([0, 0, 0]))), scanner=True),
    Case("enum", "mood", "enum", pa.dictionary(pa.int32(), pa.string()),
         (("'happy'", "happy"), ("'sad'", "sad"), ("'happy'", "happy"), ("'ok ''quoted'''", "ok 'quoted'")),
         scanner=True,
         setup="DROP TYPE IF EXISTS mood CASCADE; "
               "CREATE TYPE mood AS ENUM ('sad', 'ok ''quoted''', 'happy')"),
    # one-dimensional arrays: lists of the element's type, NULL elements kept, bounds not
    Case("int_array", "integer[]", "array", pa.list_(pa.int32()),
         (("'{1,NULL,3}'", [1, None, 3]), ("'{}'", []), ("'[0:1]={5,6}'", [5, 6]),
          ("'{-2147483648}'", [-(2**31)])), scanner=True),
    Case("text_array", "text[]", "array", pa.list_(pa.string()),
         (("""'{"a b","c,d",NULL,é}'""", ["a b", "c,d", None, "é"]),
          ("""'{"x\\"y","NULL",""," sp ","{}"}'""", ['x"y', "NULL", "", " sp ", "{}"]),
          ("""E'{"back\\\\\\\\slash"}'""", ["back\\slash"])),
         scanner=True),
    Case("numeric_array", "numeric(10,2)[]", "array", pa.list_(pa.decimal128(10, 2)),
         (("'{1.5,NULL,-99999999.99}'", [Decimal("1.50"), None, Decimal("-99999999.99")]),), scanner=True),
    Case("timestamptz_array", "timestamptz[]", "array", pa.list_(pa.timestamp("us", tz="UTC")),
         (("""'{"2025-03-30 01:30:00.123456+05:30",NULL}'""", [_utc(2025, 3, 29, 20, 0, 0, 123456), None]),),
         scanner=True),
    Case("uuid_array", "uuid[]", "array", pa.list_(pa.uuid()),
         (("'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,NULL}'",
           [UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), None]),),
         scanner=False),
    Case("bytea_array", "bytea[]", "array", pa.list_(pa.binary()),
         ((r"""'{"\\x00ff",NULL,"\\x"}'""", [b"\x00\xff", None, b""]),), scanner=False),
    Case("interval_array", "interval[]", "array", pa.list_(pa.month_day_nano_interval()),
         (("""'{"1 mon 2 days 00:00:03",NULL}'""", [MonthDayNano([1, 2, 3_000_000_000]), None]),),
         scanner=False),
    Case("enum_array", "mood[]", "array", pa.list_(pa.dictionary(pa.int32(), pa.string())),
         (("'{happy,sad,NULL}'", ["happy", "sad", None]),), scanner=False),
    Case("money_array", "money[]", "array", pa.list_(pa.decimal128(19, 2)),
         (("'{-1234.56,0}'", [Decimal("-1234.56"), Decimal("0.00")]),), scanner=False),
    # declared with two dimensions: PostgreSQL's array literal, as text
    Case("int_array_2d", "integer[][]", "array", pa.string(),
         (("'{{1,2},{3,4}}'", "{{1,2},{3,4}}"), ("'{7}'", "{7}")), scanner=False),
    Case("bytea", "bytea", "bytea", T["bytea"],
         ((r"'\x00ff00'", b"\x00\xff\x00"), ("''", b""), (r"'\x00'", b"\x00")), scanner=True),
    Case("date", "date", "date", T["date"],
         (("'2024-02-29'", dt.date(2024, 2, 29)), ("'0001-01-01'", dt.date(1, 1, 1)),
          ("'9999-12-31'", dt.date(9999, 12, 31)), ("'1969-12-31'", dt.date(1969, 12, 31))), scanner=True),
    Case("timestamp", "timestamp", "timestamp without time zone", T["timestamp without time zone"],
         (("'2025-01-31 23:59:59.999999'", dt.datetime(2025, 1, 31, 23, 59, 59, 999999)),
          ("'1969-12-31 23:59:59.000001'", dt.datetime(1969, 12, 31, 23, 59, 59, 1)),
          ("'0001-01-01 00:00:00'", dt.datetime(1, 1, 1)),
          ("'9999-12-31 23:59:59.999999'", dt.datetime(9999, 12, 31, 23, 59, 59, 999999))), scanner=True),
    Case("timestamptz", "timestamptz", "timestamp with time zone", T["timestamp with time zone"],
         (("'2025-03-30 01:30:00.123456+05:30'", _utc(2025, 3, 29, 20, 0, 0, 123456)),
          ("'2025-01-01 00:00:00-08'", _utc(2025, 1, 1, 8)),
          ("'1969-12-31 23:59:59.999999+00'", _utc(1969, 12, 31, 23, 59, 59, 999999))), scanner=True),
    Case("time", "time", "time without time zone", T["time without time zone"],
         (("'23:59:59.999999'", dt.time(23, 59, 59, 999999)), ("'00:00:00'", dt.time(0)),
          ("'12:34:56.000001'", dt.time(12, 34, 56, 1))), scanner=False),
    # numeric(p,s): exact decimals, decimal256 past 38 digits, text past 76
    Case("numeric_15_2", "numeric(15,2)", "numeric", pa.decimal128(15, 2),
         (("9999999999999.99", Decimal("9999999999999.99")),
          ("-9999999999999.99", Decimal("-9999999999999.99")),
          ("-0.01", Decimal("-0.01")), ("0", Decimal("0.00"))), scanner=True),
    Case("numeric_38_10", "numeric(38,10)", "numeric", pa.decimal128(38, 10),
         (("9999999999999999999999999999.9999999999", Decimal("9999999999999999999999999999.9999999999")),
          ("-0.0000000001", Decimal("-0.0000000001"))), scanner=True),
    Case("numeric_39_2", "numeric(39,2)", "numeric", pa.decimal256(39, 2),
         (("-9999999999999999999999999999999999999.99",
           Decimal("-9999999999999999999999999999999999999.99")),), scanner=False),
    Case("numeric_50_10", "numeric(50,10)", "numeric", pa.decimal256(50, 10),
         (("-12345678901234567890123456789012345678.0123456789",
           Decimal("-12345678901234567890123456789012345678.0123456789")),), scanner=False),
    Case("numeric_76_0", "numeric(76,0)", "numeric", pa.decimal256(76, 0),
         (("10^75", Decimal(10) ** 75), ("-1", Decimal(-1))), scanner=False),
    Case("numeric_100_2", "numeric(100,2)", "numeric", pa.string(),
         (("-(10^90)", "-1" + "0" * 90 + ".00"), ("0.5", "0.50")), scanner=False),
    # PostgreSQL 15: a negative scale rounds to tens, hundreds…; a scale above the precision
    Case("numeric_5_m2", "numeric(5,-2)", "numeric", pa.decimal128(7, 0),
         (("12345", Decimal(12300)), ("-9999949", Decimal(-9999900))), scanner=False),
    Case("numeric_3_5", "numeric(3,5)", "numeric", pa.decimal128(5, 5),
         (("0.00123", Decimal("0.00123")), ("-0.00999", Decimal("-0.00999"))), scanner=False),
    Case("numeric", "numeric", "numeric", pa.string(),
         (("0.0000001", "0.0000001"), ("-1e30", "-1000000000000000000000000000000"), ("123.4500", "123.4500"),
          ("'NaN'", "NaN"), ("'Infinity'", "Infinity")), scanner=False),
)  # fmt: skip


def test_every_type_of_the_map_has_a_case() -> None:
    covered = {case.data_type for case in CASES} | {"citext", "user-defined"}
    assert set(postgres_types.TYPES) <= covered


def test_unmapped_types_fail_with_a_way_out() -> None:
    with pytest.raises(TypeMappingError, match=r"'t'.*'point'.*`columns:` list or cast it in a view"):
        postgres_types.arrow_type(SourceColumn("t", "point"))


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def types_db(pg_cluster: Any) -> Any:
    """The ``types`` schema with one table per case: (id, v) rows, the last one NULL."""
    statements = [f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE", f"CREATE SCHEMA {SCHEMA}"]
    for case in CASES:
        if case.setup:
            statements.append(case.setup)
        rows = [f"({i}, {literal})" for i, (literal, _) in enumerate(case.values, 1)]
        rows.append(f"({len(case.values) + 1}, NULL)")
        statements += [
            f"CREATE TABLE {SCHEMA}.{case.id} (id integer PRIMARY KEY, v {case.ddl})",
            f"INSERT INTO {SCHEMA}.{case.id} (id, v) VALUES {', '.join(rows)}",
        ]
    pg_cluster.psql("; ".join(statements))
    return pg_cluster


@pytest.fixture
def conn(types_db: Any) -> Any:
    # a session time zone other than UTC: timestamptz values must still come out as UTC instants
    connection = psycopg2.connect(types_db.dsn, options="-c TimeZone=Asia/Kathmandu")
    yield connection
    connection.close()


def libpq(cluster: Any) -> dict[str, Any]:
    return {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": "postgres"}


def read(reader: PostgresReader, table: TableConfig, columns: list[Any]) -> pa.Table:
    batches = list(reader.batches(table, columns, None))
    return pa.Table.from_batches(batches, schema=schema_of(columns)).sort_by("id")


def comparable(value: Any) -> Any:
    """NaN equals NaN here; a memoryview is its bytes; lists compare element by element."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return [{k: comparable(v) for k, v in row.items()} for row in table.to_pylist()]


def assert_same_table(got: pa.Table, expected: pa.Table) -> None:
    """Same schema and values; unlike ``Table.equals``, NaN equals NaN."""
    assert got.schema == expected.schema
    assert rows(got) == rows(expected)


# psycopg2 parses these as Python objects of their own (a timedelta without months, the
# locale's text of money, an enum array's literal): compared with the values written down only
_NOT_FETCHED = {"interval_array", "enum_array", "money_array"}


def fetched_by_psycopg2(cluster: Any, case: Case, column: SourceColumn) -> list[Any] | None:
    """The values as psycopg2 fetches them, converted to what the Arrow type holds.

    Types psycopg2 turns into Python objects (a dict for jsonb, a list for an array…) are
    fetched as PostgreSQL's text of the value instead; a uuid as its text, made a UUID; money as
    ``money::numeric`` in the server's own locale; an interval as its fields by ``extract``.
    """
    if case.id in _NOT_FETCHED:
        return None
    select = "v::text" if postgres_types.read_as_text(column) and column.data_type != "array" else "v"
    if column.data_type == "array" and column.element is None:
        select = "v::text"
    if column.data_type == "money":
        select = "v::numeric"
    if column.data_type == "interval":
        select = (
            "CASE WHEN v IS NOT NULL THEN ARRAY[extract(year FROM v) * 12 + extract(month FROM v), "
            "extract(day FROM v), "
            "(extract(hour FROM v) * 3600 + extract(minute FROM v) * 60) * 1000000 "
            "+ extract(microseconds FROM v)]::bigint[] END"
        )
    with psycopg2.connect(cluster.dsn) as connection, connection.cursor() as cursor:
        psycopg2.extras.register_uuid(conn_or_curs=cursor)
        cursor.execute(f"SELECT {select} FROM {SCHEMA}.{case.id} ORDER BY id")
        values = [row[0] for row in cursor.fetchall()]
    connection.close()
    if pa.types.is_float32(case.arrow):  # float4 widened to a double by psycopg2: round back
        return pa.array(values, pa.float32()).to_pylist()
    if column.data_type == "interval":
        return [None if v is None else MonthDayNano([v[0], v[1], v[2] * 1000]) for v in values]
    if column.data_type == "uuid":
        return [None if v is None else UUID(v) if isinstance(v, str) else v for v in values]
    return values


# -- the cases --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_type_maps_and_reads_exactly_through_both_engines(types_db, conn, case: Case, caplog) -> None:
    table = TableConfig(name=case.id, schema=SCHEMA, mode="full", batch_size=1000)
    by_cursor = PostgresReader(conn, conn_id="t")
    by_scanner = PostgresReader(conn, conn_id="t", libpq=libpq(types_db))

    columns = by_cursor.describe(table)
    assert [c.name for c in columns] == ["id", "v"]
    column = columns[1]
    assert column.source.data_type == case.data_type
    assert column.arrow_type == case.arrow
    assert by_scanner.describe(table) == columns
    assert by_scanner.scanner_can_read(columns) is case.scanner
    assert not by_cursor.scanner_can_read(columns)

    with caplog.at_level(logging.INFO, logger="tributary.readers.postgres"):
        cursor_table = read(by_cursor, table, columns)
        scanner_table = read(by_scanner, table, columns)
    engines = [r.message for r in caplog.records if "reading through" in r.message]
    assert "psycopg2" in engines[0]
    assert ("DuckDB" if case.scanner else "psycopg2") in engines[1]

    assert cursor_table.schema == schema_of(columns)
    assert cursor_table.schema.field("v").type == case.arrow
    assert cursor_table.schema.field("id").nullable is False  # the primary key is NOT NULL
    assert_same_table(scanner_table, cursor_table)  # both engines write the same table
    got = [comparable(v) for v in cursor_table.column("v").to_pylist()]

    expected = [comparable(v) for _, v in case.values] + [None]
    assert got == expected
    fetched = fetched_by_psycopg2(types_db, case, column.source)
    if fetched is not None:
        assert got == [comparable(v) for v in fetched]
    assert cursor_table.column("v").null_count == 1


def test_decimals_keep_their_scale_and_instants_their_zone(types_db, conn) -> None:
    table = TableConfig(name="numeric_15_2", schema=SCHEMA, mode="full", batch_size=1000)
    reader = PostgresReader(conn, conn_id="t", libpq=libpq(types_db))
    values = read(reader, table, reader.describe(table)).column("v").to_pylist()
    assert [str(v) for v in values[:-1]] == ["9999999999999.99", "-9999999999999.99", "-0.01", "0.00"]

    table = TableConfig(name="timestamptz", schema=SCHEMA, mode="full", batch_size=1000)
    for engine in (PostgresReader(conn, conn_id="t"), reader):
        column = read(engine, table, engine.describe(table)).column("v")
        assert column.type.tz == "UTC"
        assert column.to_pylist()[0].isoformat() == "2025-03-29T20:00:00.123456+00:00"


def test_integer_columns_with_nulls_stay_integers(types_db, conn) -> None:
    for name, arrow in (("smallint", pa.int16()), ("integer", pa.int32()), ("bigint", pa.int64())):
        table = TableConfig(name=name, schema=SCHEMA, mode="full", batch_size=1000)
        for reader in (
            PostgresReader(conn, conn_id="t"),
            PostgresReader(conn, conn_id="t", libpq=libpq(types_db)),
        ):
            column = read(reader, table, reader.describe(table)).column("v")
            assert column.type == arrow
            assert column.null_count == 1


# -- one table of many types ------------------------------------------------------------------

MIXED = [c for c in CASES if c.scanner]


@pytest.fixture(scope="module")
def mixed_db(types_db: Any) -> Any:
    """Every scanner-readable case as a column of one table, plus a numeric without precision."""
    width = max(len(c.values) for c in MIXED)
    columns = ", ".join(f"c_{c.id} {c.ddl}" for c in MIXED)
    rows = []
    for i in range(width + 1):  # the last row is all NULL
        cells = [c.values[i][0] if i < len(c.values) else "NULL" for c in MIXED]
        rows.append(f"({i}, {', '.join(cells)}, {'NULL' if i == width else f'{i}.5'})")
    types_db.psql(
        f"CREATE TABLE {SCHEMA}.mixed (id integer PRIMARY KEY, {columns}, free numeric); "
        f"INSERT INTO {SCHEMA}.mixed VALUES {', '.join(rows)}"
    )
    return types_db


def test_a_table_of_many_types_reads_the_same_through_both_engines(mixed_db, conn) -> None:
    scanned = [f"c_{c.id}" for c in MIXED]
    table = TableConfig(name="mixed", schema=SCHEMA, mode="full", columns=["id", *scanned], batch_size=1000)
    by_scanner = PostgresReader(conn, conn_id="t", libpq=libpq(mixed_db))
    columns = by_scanner.describe(table)
    assert by_scanner.scanner_can_read(columns)
    scanner_table = read(by_scanner, table, columns)
    cursor_table = read(PostgresReader(conn, conn_id="t"), table, columns)
    assert_same_table(scanner_table, cursor_table)
    assert scanner_table.num_rows == max(len(c.values) for c in MIXED) + 1

    # one column the scanner cannot read exactly sends the whole table through psycopg2
    everything = TableConfig(name="mixed", schema=SCHEMA, mode="full", batch_size=1000)
    all_columns = by_scanner.describe(everything)
    assert all_columns[-1].arrow_type == pa.string()
    assert not by_scanner.scanner_can_read(all_columns)
    fallback = read(by_scanner, everything, all_columns)
    assert_same_table(fallback.select(["id", *scanned]), cursor_table)
    assert fallback.column("free").to_pylist()[:2] == ["0.5", "1.5"]


def test_the_providers_psycopg3_connection_reads_the_same_as_psycopg2(mixed_db, conn) -> None:
    """Airflow's PostgresHook hands out psycopg 3 connections when psycopg 3 is installed (as it
    is here): the catalog, counts and the server-side cursor path must not depend on the driver."""
    import psycopg

    table = TableConfig(name="mixed", schema=SCHEMA, mode="full", batch_size=1000)
    by_psycopg2 = PostgresReader(conn, conn_id="t")
    with psycopg.connect(mixed_db.dsn, options="-c TimeZone=Asia/Kathmandu") as connection:
        by_psycopg3 = PostgresReader(connection, conn_id="t")
        columns = by_psycopg3.describe(table)
        assert columns == by_psycopg2.describe(table)
        assert not by_psycopg3.scanner_can_read(columns)  # `free numeric`: the cursor path
        assert by_psycopg3.count(table, columns, None) == by_psycopg2.count(table, columns, None)
        assert_same_table(read(by_psycopg3, table, columns), read(by_psycopg2, table, columns))
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_duckdb_writes_every_scanner_type_as_the_map_says(mixed_db, conn, tmp_path, caplog) -> None:
    """The extract's own path: DuckDB writes the Parquet (``write_parts``). The files must hold
    the same table as the streamed batches, column for column of the mapped Arrow type, and
    the audit columns of the batch."""
    scanned = [f"c_{c.id}" for c in MIXED]
    table = TableConfig(name="mixed", schema=SCHEMA, mode="full", columns=["id", *scanned], batch_size=1000)
    reader = PostgresReader(conn, conn_id="t", libpq=libpq(mixed_db))
    columns = reader.describe(table)
    audit = Audit("b1", _utc(2026, 1, 2, 3, 4, 5), "pos")
    parts = reader.write_parts(table, columns, None, audit=audit, staging=tmp_path)
    assert parts is not None and [p.name for p in parts] == ["part-b1-00000.parquet"]
    written = pq.read_table(tmp_path / parts[0].name)
    assert parts[0].rows == written.num_rows == max(len(c.values) for c in MIXED) + 1

    expected = read(PostgresReader(conn, conn_id="t"), table, columns)
    data = written.select(expected.column_names).sort_by("id")
    # Parquet holds an interval as the struct of its parts (tributary.parquet_types)
    stored = stored_schema(expected.schema)
    expected = pa.Table.from_batches([stored_batch(b, stored) for b in expected.to_batches()], schema=stored)
    assert data.schema == expected.schema  # types and nullability: id is NOT NULL
    assert pq.read_schema(tmp_path / parts[0].name).field("id").nullable is False
    assert all(written.schema.field(f"c_{c.id}").nullable for c in MIXED)
    assert rows(data) == rows(expected)
    assert written.schema.names[len(columns) :] == [f.name for f in AUDIT_FIELDS]
    assert [written.schema.field(f.name).nullable for f in AUDIT_FIELDS] == [f.nullable for f in AUDIT_FIELDS]
    assert written.schema.field("_ingestion_time").type == pa.timestamp("us", tz="UTC")
    assert set(written.column("_batch_id").to_pylist()) == {"b1"}
    assert set(written.column("_ingestion_time").to_pylist()) == {audit.ingestion_time}
    assert written.column("_source_file").null_count == written.num_rows

    # a catalog that says NOT NULL over a NULL (PostgreSQL enforces it; a view's columns, or a
    # constraint added NOT VALID elsewhere, need not): refused, naming table and column
    not_null = Column(dataclasses.replace(columns[1].source, nullable=False), columns[1].arrow_type)
    (tmp_path / "lying").mkdir()
    with pytest.raises(DataError, match=rf"{SCHEMA}\.mixed: column '{not_null.name}' is declared NOT NULL"):
        reader.write_parts(
            table, [columns[0], not_null, *columns[2:]], None, audit=audit, staging=tmp_path / "lying"
        )

    # a column the scanner cannot read exactly: the reader streams through psycopg2 instead
    everything = TableConfig(name="mixed", schema=SCHEMA, mode="full", batch_size=1000)
    (tmp_path / "streamed").mkdir()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tributary.readers.postgres"):
        streamed = reader.write_parts(everything, reader.describe(everything), None, audit=audit,
                                      staging=tmp_path / "streamed")  # fmt: skip
    assert "reading through a psycopg2 server-side cursor" in caplog.text
    assert "DuckDB reads through the postgres scanner" not in caplog.text
    assert sum(p.rows for p in streamed) == parts[0].rows


# -- values a decimal cannot hold -------------------------------------------------------------


def test_nan_in_a_decimal_column_is_refused_by_both_engines(types_db, conn) -> None:
    types_db.psql(
        f"CREATE TABLE {SCHEMA}.nan_decimal (id integer PRIMARY KEY, amount numeric(10,2)); "
        f"INSERT INTO {SCHEMA}.nan_decimal VALUES (1, 1.5), (2, 'NaN')"
    )
    table = TableConfig(name="nan_decimal", schema=SCHEMA, mode="full", batch_size=1000)
    by_cursor = PostgresReader(conn, conn_id="t")
    columns = by_cursor.describe(table)
    with pytest.raises(SourceError, match="amount"):
        read(by_cursor, table, columns)
    # the scanner reads NaN as 0.00; the count of verify, taken before any commit, refuses it
    by_scanner = PostgresReader(conn, conn_id="t", libpq=libpq(types_db))
    with pytest.raises(TypeMappingError, match=r"\['amount'\] hold NaN in 1 row"):
        by_scanner.count(table, columns, None)
    assert by_cursor.count(table, columns, None) == 2


def test_dates_python_cannot_hold_fail_with_a_clear_error(types_db, conn) -> None:
    types_db.psql(
        f"CREATE TABLE {SCHEMA}.bc_dates (id integer PRIMARY KEY, d date, t time); "
        f"INSERT INTO {SCHEMA}.bc_dates VALUES (1, '4713-01-01 BC', '12:00')"
    )
    table = TableConfig(name="bc_dates", schema=SCHEMA, mode="full", batch_size=1000)
    reader = PostgresReader(conn, conn_id="t", libpq=libpq(types_db))
    with pytest.raises(
        TypeMappingError, match=r"bc_dates: a value has no Python equivalent.*cast the column"
    ) as info:
        read(reader, table, reader.describe(table))
    assert info.value.permanent, "no retry reads it either"


def test_values_a_native_type_cannot_hold_are_refused_by_both_engines(types_db, conn) -> None:
    """An interval whose hours exceed Arrow's int64 nanoseconds (DuckDB's scanner would wrap it
    silently), and a two-dimensional value in a column declared one-dimensional (PostgreSQL does
    not enforce the declared dimensions)."""
    types_db.psql(
        f"CREATE TABLE {SCHEMA}.long_interval (id integer PRIMARY KEY, iv interval); "
        f"INSERT INTO {SCHEMA}.long_interval VALUES (1, '1 day'), (2, '2562048 hours'); "
        f"CREATE TABLE {SCHEMA}.square (id integer PRIMARY KEY, ints integer[]); "
        f"INSERT INTO {SCHEMA}.square VALUES (1, '{{1}}'), (2, '{{{{1,2}},{{3,4}}}}')"
    )
    by_cursor = PostgresReader(conn, conn_id="t")
    by_scanner = PostgresReader(conn, conn_id="t", libpq=libpq(types_db))

    table = TableConfig(name="long_interval", schema=SCHEMA, mode="full", batch_size=1000)
    columns = by_cursor.describe(table)
    with pytest.raises(TypeMappingError, match=r"exceed the ±2\^63 nanoseconds"):
        read(by_cursor, table, columns)
    with pytest.raises(TypeMappingError, match=r"\['iv'\] hold intervals whose hours.*in 1 row"):
        by_scanner.count(table, columns, None)
    assert by_cursor.count(table, columns, None) == 2

    table = TableConfig(name="square", schema=SCHEMA, mode="full", batch_size=1000)
    columns = by_cursor.describe(table)
    assert columns[1].arrow_type == pa.list_(pa.int32())
    with pytest.raises(TypeMappingError, match="multi-dimensional array"):
        read(by_cursor, table, columns)
    with pytest.raises(SourceError, match="dimension"):
        read(by_scanner, table, columns)
