"""Every template of include/sql, rendered for its dialect with the oddest identifiers.

For each dialect and each template: identifiers are quoted by the dialect's rules and nothing of
them is left outside the quotes, placeholders are the driver's paramstyle, every string literal
in the text comes from the template itself (no value is ever formatted in), and the window's
WHERE clause appears exactly when there is a date column. Then the statements run for real where
the database can run here (SQLite, DuckDB, PostgreSQL), and for SQL Server through pymssql's own
parameter substitution, which is all pymssql does with parameters before the text goes out.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pymssql
import pytest
from pymssql import _mssql

from tributary.dialects import DUCKDB, MSSQL, POSTGRES, SQLITE, Dialect
from tributary.dialects.columns import Column, SourceColumn
from tributary.errors import ConfigError
from tributary.readers.mssql import MsSqlReader
from tributary.sql import SQL_DIR, duckdb_literal, render

DIALECTS = (SQLITE, POSTGRES, MSSQL, DUCKDB)

SCHEMA = 'sch"em]a'
TABLE = 'x"; DROP TABLE sales; --]'
COLUMNS = ["order", 'a"b', "c]d", "semi;colon", "ünï 名前", "pct%", ":window_start", "$window_end", "sp ace"]
DATE_COLUMN = "sale date"
ALIAS = 'src"al]ias'
IDENTIFIERS = [SCHEMA, TABLE, *COLUMNS, DATE_COLUMN, ALIAS]
# pieces of those names no template text contains: none may be left once quoted names are cut out
LEFTOVERS = [
    "em]a",
    "DROP",
    "; --",
    'a"b',
    "c]d",
    "semi;colon",
    "ünï",
    "名前",
    "pct",
    "sp ace",
    "sale",
    "al]ias",
]

# the placeholder syntax of each dialect's driver: sqlite3, psycopg2, pymssql, duckdb
PLACEHOLDER = {
    "sqlite": re.compile(r"(?<![:\w]):([A-Za-z_]\w*)"),  # not PostgreSQL's ::casts
    "postgres": re.compile(r"%\((\w+)\)s"),
    "mssql": re.compile(r"%\((\w+)\)s"),
    "duckdb": re.compile(r"\$(\w+)"),
}
# target: a COPY's output; secret: the secret an ATTACH names; the libpq keywords of a secret;
# files, source_keys: the local Parquet files deletes: detect_by_keys compares
LIBPQ_KEYS = ["host", "password", "sslrootcert"]
PARAMETERS = {"schema", "table", "window_start", "window_end", "target", "secret", "files", "source_keys",
              *LIBPQ_KEYS}  # fmt: skip
BIND = {"sqlite": ":{}", "postgres": "%({})s", "mssql": "%({})s", "duckdb": "${}"}


def quoted(dialect: Dialect, name: str) -> str:
    """The quoted form the dialect's rules give, written out independently of the code under test."""
    if dialect.name == "mssql":
        return "[" + name.replace("]", "]]") + "]"
    text = '"' + name.replace('"', '""') + '"'
    return text.replace("%", "%%") if dialect.name == "postgres" else text


# SQL Server's change capture statements: tests/changes/test_mssql.py
CHANGES = ("ct_", "cdc_", "changes_")


def templates() -> Iterator[tuple[Dialect, str]]:
    """The replication's templates: they take a table, its columns and a window. The extracts'
    own (``extract_*``), the file sources' (``file_*``) and discover's (``discover_*``) take other
    values and run in tests/extracts, tests/files and tests/cli; so do the change capture
    statements of SQL Server (``ct_*``, ``cdc_*``, ``changes_*``) and PostgreSQL (``cdc_*``), in
    tests/changes."""
    for dialect in DIALECTS:
        for path in sorted((SQL_DIR / dialect.name).glob("*.sql")):
            if not path.stem.startswith(("extract_", "file_", "discover_", *CHANGES)):
                yield dialect, path.stem


TEMPLATES = list(templates())


def context(date_column: str | None) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "table": TABLE,
        "columns": COLUMNS,
        "date_column": date_column,
        "alias": ALIAS,
        "name": ALIAS,
        "keys": LIBPQ_KEYS,
    }


def outside_identifiers(dialect: Dialect, sql: str) -> str:
    """The text with every quoted identifier of the context cut out, longest first."""
    for name in sorted(IDENTIFIERS, key=len, reverse=True):
        sql = sql.replace(quoted(dialect, name), " ")
    return sql


def test_there_are_templates_for_every_dialect() -> None:
    assert {d.name for d, _ in TEMPLATES} == {d.name for d in DIALECTS}
    for dialect in (SQLITE, POSTGRES, MSSQL):  # the readers' own statements
        assert {"select", "count", "columns"} <= {s for d, s in TEMPLATES if d is dialect}


@pytest.mark.parametrize("date_column", [DATE_COLUMN, None], ids=["window", "full"])
@pytest.mark.parametrize(("dialect", "statement"), TEMPLATES, ids=[f"{d.name}/{s}" for d, s in TEMPLATES])
def test_template(dialect: Dialect, statement: str, date_column: str | None) -> None:
    source = (SQL_DIR / dialect.name / f"{statement}.sql").read_text()
    sql = render(dialect, statement, **context(date_column))
    rest = outside_identifiers(dialect, sql)

    # nothing of an identifier is left outside its quotes
    for fragment in LEFTOVERS:
        assert fragment not in rest, f"{fragment!r} outside quotes in:\n{sql}"

    # placeholders: the driver's style only, for known parameters only
    names = set(PLACEHOLDER[dialect.name].findall(rest))
    assert names <= PARAMETERS
    for other, pattern in PLACEHOLDER.items():
        if pattern.pattern != PLACEHOLDER[dialect.name].pattern:
            assert not pattern.search(rest), f"a {other} placeholder in {dialect.name} SQL:\n{sql}"

    # every string literal is the template's own text, never a value
    for literal in re.findall(r"'(?:[^']|'')*'", rest):
        assert literal in source, f"{literal} is not in the template {dialect.name}/{statement}.sql"

    # the window: a WHERE clause on the date column with both bounds, only with a date column
    if "date_column" in source:
        window = {"window_start", "window_end"}
        if date_column:
            qd = quoted(dialect, DATE_COLUMN)
            start, end = (re.escape(BIND[dialect.name].format(n)) for n in ("window_start", "window_end"))
            assert re.search(rf"WHERE {re.escape(qd)} >= {start}\s+AND {re.escape(qd)} < {end}", sql), sql
            assert window <= names
        else:
            assert "WHERE" not in sql
            assert not window & names


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_quoting_rules(dialect: Dialect) -> None:
    sql = render(dialect, "select" if dialect is not DUCKDB else "select_attached", **context(None))
    if dialect is MSSQL:
        assert '[a"b], [c]]d]' in sql
        assert "[pct%]" in sql  # pymssql leaves a lone % alone
    else:
        assert '"a""b", "c]d"' in sql
        assert ('"pct%%"' if dialect is POSTGRES else '"pct%"') in sql  # psycopg2 %-formats the text


# -- SQL Server: pymssql's substitution, the window's literals, the MAXDOP hint ----------------


def test_pymssql_is_pyformat_and_substitutes_a_dict() -> None:
    assert pymssql.paramstyle == "pyformat"
    sql = render(MSSQL, "select", **context(DATE_COLUMN))

    sent = _mssql.substitute_params(sql, {"window_start": "20250101", "window_end": "20250201"}).decode()

    assert "WHERE [sale date] >= N'20250101'\n  AND [sale date] < N'20250201'" in sent
    assert outside_identifiers(MSSQL, sent).count("%") == 0
    assert "[pct%]" in sent and "[:window_start]" in sent  # identifiers go through untouched
    # the catalog query takes its names as parameters too
    catalog = _mssql.substitute_params(render(MSSQL, "columns"), {"schema": "dbo", "table": TABLE}).decode()
    assert "TABLE_SCHEMA = N'dbo'" in catalog
    assert "TABLE_NAME = N'x\"; DROP TABLE sales; --]'" in catalog
    assert "CASE WHEN IS_NULLABLE = 'YES' THEN 1 ELSE 0 END AS nullable" in catalog  # NOT NULL -> 0


def test_pymssql_cannot_escape_a_placeholder_in_an_identifier() -> None:
    with pytest.raises(ConfigError, match=r"'%\(window_end\)s'.*pymssql would replace"):
        render(MSSQL, "select", **{**context(None), "columns": ["id", "odd %(window_end)s"]})


def test_mssql_select_and_count_run_on_one_cpu() -> None:
    for statement in ("select", "count"):
        sql = render(MSSQL, statement, **context(DATE_COLUMN))
        assert sql.endswith("OPTION (MAXDOP 1)")
        source = (SQL_DIR / "mssql" / f"{statement}.sql").read_text()
        assert "MAXDOP 1" in source.split("#}")[0]  # the template says why, in a comment
    assert render(MSSQL, "count", **context(None)).startswith("SELECT COUNT_BIG(*)")


JAN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
FEB = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
NOON = dt.datetime(2025, 2, 1, 12, 30, 0, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("data_type", "arrow", "bound", "text"),
    [
        ("datetime", pa.timestamp("ms"), FEB, "20250201"),
        ("smalldatetime", pa.timestamp("s"), FEB, "20250201"),
        ("datetime2", pa.timestamp("us"), FEB, "20250201"),
        ("date", pa.date32(), FEB, "20250201"),
        ("datetimeoffset", pa.timestamp("us", tz="UTC"), FEB, "2025-02-01T00:00:00Z"),
        ("varchar", pa.string(), FEB, "2025-02-01"),
        ("datetime", pa.timestamp("ms"), NOON, "20250201 12:30:00.123"),
        ("datetime2", pa.timestamp("us"), NOON, "20250201 12:30:00.123456"),
        ("datetimeoffset", pa.timestamp("us", tz="UTC"), NOON, "2025-02-01T12:30:00.123456Z"),
        # a bound given in another zone is the same instant
        (
            "datetime2",
            pa.timestamp("us"),
            dt.datetime(2025, 2, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))),
            "20250201",
        ),
    ],
)
def test_mssql_window_bounds_are_language_neutral_text(
    data_type: str, arrow: pa.DataType, bound: dt.datetime, text: str
) -> None:
    reader = MsSqlReader(connection=None, conn_id="c")
    value = reader.window_value(Column(SourceColumn("d", data_type), arrow), bound)

    assert value == text
    assert _mssql.substitute_params("%(v)s", {"v": value}) == f"N'{text}'".encode()


def test_why_not_a_datetime_parameter() -> None:
    """pymssql writes a datetime as 'YYYY-MM-DD hh:mm:ss.fff', which a datetime column reads by
    DATEFORMAT: under SET LANGUAGE british '2025-02-01' is the 2nd of January."""
    literal = _mssql.substitute_params("%(v)s", {"v": dt.datetime(2025, 2, 1)})
    assert literal == b"'2025-02-01 00:00:00.000'"


# -- run the statements where the database runs here ------------------------------------------


def _rows() -> list[tuple[Any, ...]]:
    return [
        (*[f"{c}-{i}" for c in COLUMNS], day)
        for i, day in enumerate(["2024-12-31", "2025-01-01", "2025-01-31 23:59:59", "2025-02-01"])
    ]


def test_sqlite_statements_run(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "odd.sqlite")
    con.execute(f"ATTACH DATABASE ':memory:' AS {quoted(SQLITE, SCHEMA)}")
    names = [*COLUMNS, DATE_COLUMN]
    con.execute(
        f"CREATE TABLE {quoted(SQLITE, SCHEMA)}.{quoted(SQLITE, TABLE)} ("
        + ", ".join(f"{quoted(SQLITE, n)} TEXT" for n in names)
        + ")"
    )
    marks = ", ".join("?" * len(names))
    con.executemany(f"INSERT INTO {quoted(SQLITE, SCHEMA)}.{quoted(SQLITE, TABLE)} VALUES ({marks})", _rows())
    window = {"window_start": "2025-01-01", "window_end": "2025-02-01"}

    catalog = con.execute(render(SQLITE, "columns"), {"schema": SCHEMA, "table": TABLE}).fetchall()
    selected = con.execute(render(SQLITE, "select", **context(DATE_COLUMN)), window).fetchall()
    counted = con.execute(render(SQLITE, "count", **context(DATE_COLUMN)), window).fetchone()
    everything = con.execute(render(SQLITE, "count", **context(None)), {}).fetchone()

    assert [row[0] for row in catalog] == names
    assert [row[0] for row in selected] == ["order-1", "order-2"]
    assert (counted, everything) == ((2,), (4,))


def test_duckdb_statements_run() -> None:
    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS {quoted(DUCKDB, ALIAS)}")
    con.execute(f"CREATE SCHEMA {quoted(DUCKDB, ALIAS)}.{quoted(DUCKDB, SCHEMA)}")
    target = f"{quoted(DUCKDB, ALIAS)}.{quoted(DUCKDB, SCHEMA)}.{quoted(DUCKDB, TABLE)}"
    names = [*COLUMNS, DATE_COLUMN]
    con.execute(
        f"CREATE TABLE {target} ("
        + ", ".join(f"{quoted(DUCKDB, n)} {'TIMESTAMP' if n == DATE_COLUMN else 'TEXT'}" for n in names)
        + ")"
    )
    con.executemany(f"INSERT INTO {target} VALUES ({', '.join('?' * len(names))})", _rows())
    window = {"window_start": dt.datetime(2025, 1, 1), "window_end": dt.datetime(2025, 2, 1)}

    rows = con.execute(render(DUCKDB, "select_attached", **context(DATE_COLUMN)), window).fetchall()
    everything = con.execute(render(DUCKDB, "select_attached", **context(None))).fetchall()

    assert [row[0] for row in rows] == ["order-1", "order-2"]
    assert len(everything) == 4


@pytest.fixture(scope="module")
def pg_connection(pg_cluster: Any) -> Iterator[Any]:
    import psycopg2

    con = psycopg2.connect(pg_cluster.dsn)
    con.autocommit = True
    cur = con.cursor()
    names = [*COLUMNS, DATE_COLUMN]
    cur.execute(f"CREATE SCHEMA {quoted(POSTGRES, SCHEMA)}".replace("%%", "%"))
    table = f"{quoted(SQLITE, SCHEMA)}.{quoted(SQLITE, TABLE)}"  # DDL run without parameters: no %%
    cur.execute(
        f"CREATE TABLE {table} ("
        + ", ".join(f"{quoted(SQLITE, n)} {'timestamp' if n == DATE_COLUMN else 'text'}" for n in names)
        + ")"
    )
    for row in _rows():
        cur.execute(f"INSERT INTO {table} VALUES ({', '.join(['%s'] * len(row))})", row)
    try:
        yield con
    finally:
        cur.execute(f"DROP SCHEMA {quoted(SQLITE, SCHEMA)} CASCADE")
        con.close()


def test_postgres_statements_run(pg_connection: Any) -> None:
    cur = pg_connection.cursor()
    window = {"window_start": dt.datetime(2025, 1, 1), "window_end": dt.datetime(2025, 2, 1)}

    cur.execute(render(POSTGRES, "columns"), {"schema": SCHEMA, "table": TABLE})
    catalog = [row[0] for row in cur.fetchall()]
    cur.execute(render(POSTGRES, "select", **context(DATE_COLUMN)), window)
    selected = [row[0] for row in cur.fetchall()]
    cur.execute(render(POSTGRES, "count", **context(DATE_COLUMN)), window)
    counted = cur.fetchone()[0]
    # the readers pass a mapping even without a window; psycopg2 then still %-formats the text
    cur.execute(render(POSTGRES, "count", **context(None)), {})
    everything = cur.fetchone()[0]

    assert catalog == [*COLUMNS, DATE_COLUMN]
    assert selected == ["order-1", "order-2"]
    assert (counted, everything) == (2, 4)


@pytest.mark.parametrize(
    "value",
    [
        "it's 名前 😀 \\ %s $1",
        "",
        None,
        True,
        -(2**63),
        Decimal("-12345678901234.56"),
        dt.datetime(2025, 1, 31, 23, 59, 59, 999999),
        dt.datetime(2025, 2, 1, 5, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.date(2025, 2, 28),
    ],
    ids=repr,
)
def test_a_duckdb_literal_reads_back_as_the_value(value: Any) -> None:
    """The values DuckDB statements carry as literals (no parameters: see tributary.sql)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'America/New_York'")  # a session zone must not shift an instant
    (got,) = con.execute(f"SELECT {duckdb_literal(value)}").fetchone()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        assert got == value and got.utcoffset() is not None
    else:
        assert got == value and type(got) is type(value)


def test_duckdb_values_are_literals_and_other_dialects_refuse_them() -> None:
    window = {"window_start": dt.date(2025, 1, 1), "window_end": dt.date(2025, 2, 1), "schema": "x"}
    sql = render(DUCKDB, "select_attached", values=window, **context(DATE_COLUMN))
    assert "DATE '2025-01-01'" in sql and "DATE '2025-02-01'" in sql
    assert not PLACEHOLDER["duckdb"].search(outside_identifiers(DUCKDB, sql))
    with pytest.raises(ValueError, match="only as bind parameters"):
        render(POSTGRES, "select", values=window, **context(DATE_COLUMN))
