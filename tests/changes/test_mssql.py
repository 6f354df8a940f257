"""SQL Server change capture without a server: the statements as rendered (odd names quoted, values
bound, and as pymssql would send them), the capture instance's name check, the conversion of rows
as pymssql returns them into the bronze change shape, the plan (mechanism, bounds, retention) and
the read, over a fake DB-API connection that answers each statement with fixed rows. The SQL
itself runs in test_mssql_integration.py when a SQL Server is given.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from pymssql import _mssql

from tributary.changes.mssql import (
    ChangeCaptureSetupError,
    ChangePlan,
    ChangesLostError,
    Mechanism,
    capture_function,
    plan,
    read_changes,
)
from tributary.changes.mssql_rows import baseline_batch, cdc_batch, ct_batch, lsn_text, next_lsn
from tributary.changes.shape import CHANGE_TRACKING_POSITION, MSSQL_CDC_POSITION, change_schema
from tributary.config import TableConfig
from tributary.dialects import MSSQL
from tributary.dialects.columns import Column, SourceColumn, schema_of
from tributary.errors import CatalogError, DataError
from tributary.manifest import Manifest
from tributary.readers.mssql import MsSqlReader
from tributary.sql import SQL_DIR, render

SCHEMA = 'sch"em]a'
TABLE = "x'; DROP TABLE sales; --]"
KEYS = ["id]", "région"]
COLUMNS = [*KEYS, 'a"b', "名前 [x]", "pct%"]
LEFTOVERS = ["DROP", "em]a", "id]", "région", 'a"b', "名前", "pct%"]
DATABASE = "shop]db"


def q(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def outside(sql: str) -> str:
    for name in sorted([SCHEMA, TABLE, *COLUMNS, DATABASE], key=len, reverse=True):
        sql = sql.replace(q(name), " ")
    return sql


# -- the templates -----------------------------------------------------------------------------

CONTEXT: dict[str, dict[str, Any]] = {
    "ct_current_version": {},
    "ct_min_valid_version": {},
    "ct_enabled": {},
    "ct_changes": {"schema": SCHEMA, "table": TABLE, "columns": COLUMNS, "keys": KEYS},
    "ct_setup": {"database": DATABASE, "schema": SCHEMA, "table": TABLE, "database_enabled": False},
    "cdc_enabled": {},
    "cdc_capture_instance": {},
    "cdc_captured_columns": {},
    "cdc_lsn_bounds": {},
    "cdc_changes": {"columns": COLUMNS, "function": "fn_cdc_get_all_changes_dbo_sales"},
    "changes_snapshot_isolation": {},
    "changes_isolation": {"snapshot": True},
}
PARAMETERS = {
    "ct_min_valid_version": {"schema", "table"},
    "ct_enabled": {"schema", "table"},
    "ct_changes": {"since", "upto"},
    "cdc_enabled": {"schema", "table"},
    "cdc_capture_instance": {"schema", "table"},
    "cdc_captured_columns": {"instance"},
    "cdc_lsn_bounds": {"instance"},
    "cdc_changes": {"from_lsn", "to_lsn"},
}


def test_every_change_template_is_tested() -> None:
    stems = {p.stem for p in (SQL_DIR / "mssql").glob("*.sql")}
    found = {s for s in stems if s.startswith(("ct_", "cdc_", "changes_"))}
    assert found == set(CONTEXT)


@pytest.mark.parametrize("statement", sorted(CONTEXT))
def test_template_quotes_names_and_binds_values(statement: str) -> None:
    source = (SQL_DIR / "mssql" / f"{statement}.sql").read_text()
    sql = render(MSSQL, statement, **CONTEXT[statement])
    rest = outside(sql)
    for fragment in LEFTOVERS:
        assert fragment not in rest, f"{fragment!r} outside quotes in:\n{sql}"
    assert set(re.findall(r"%\((\w+)\)s", rest)) == PARAMETERS.get(statement, set())
    for literal in re.findall(r"'(?:[^']|'')*'", rest):
        assert literal in source  # every literal is the template's own text, never a value
    assert source.startswith("{#")  # each says what it is for


def test_change_tracking_changes_statement() -> None:
    sql = render(MSSQL, "ct_changes", **CONTEXT["ct_changes"])
    t = f"{q(SCHEMA)}.{q(TABLE)}"
    assert sql.startswith('SELECT ct.[id]]], ct.[région], t.[a"b], t.[名前 [x]]], t.[pct%],\n')
    assert f"FROM CHANGETABLE(CHANGES {t}, %(since)s) AS ct\nLEFT JOIN {t} AS t" in sql
    assert "ON t.[id]]] = ct.[id]]] AND t.[région] = ct.[région] AND ct.SYS_CHANGE_OPERATION <> 'D'" in sql
    assert "CASE WHEN t.[id]]] IS NULL THEN 0 ELSE 1 END AS row_found" in sql
    assert "WHERE ct.SYS_CHANGE_VERSION <= %(upto)s\nORDER BY ct.SYS_CHANGE_VERSION" in sql
    # as pymssql sends it: CHANGETABLE takes a literal bigint, not an expression or a string
    sent = _mssql.substitute_params(sql, {"since": 41, "upto": 97}).decode()
    assert f"CHANGETABLE(CHANGES {t}, 41) AS ct" in sent and "<= 97\n" in sent


def test_names_given_to_object_id_are_values_quoted_by_the_server() -> None:
    for statement in ("ct_min_valid_version", "ct_enabled", "cdc_enabled", "cdc_capture_instance"):
        sql = render(MSSQL, statement)
        assert "OBJECT_ID(QUOTENAME(%(schema)s) + N'.' + QUOTENAME(%(table)s))" in " ".join(sql.split())
        sent = _mssql.substitute_params(sql, {"schema": SCHEMA, "table": TABLE}).decode()
        assert "QUOTENAME(N'x''; DROP TABLE sales; --]')" in sent


def test_cdc_changes_statement() -> None:
    sql = render(MSSQL, "cdc_changes", **CONTEXT["cdc_changes"])
    assert sql.startswith('SELECT [id]]], [région], [a"b], [名前 [x]]], [pct%],\n       __$operation')
    assert "FROM cdc.[fn_cdc_get_all_changes_dbo_sales](%(from_lsn)s, %(to_lsn)s, N'all')" in sql
    assert "ORDER BY __$start_lsn, __$seqval" in sql
    sent = _mssql.substitute_params(sql, {"from_lsn": bytes(9) + b"\x01", "to_lsn": b"\xff" * 10}).decode()
    assert "(0x00000000000000000001, 0xffffffffffffffffffff, N'all')" in sent


def test_setup_statements_quote_the_names() -> None:
    sql = render(MSSQL, "ct_setup", **CONTEXT["ct_setup"])
    assert sql.splitlines() == [
        "ALTER DATABASE [shop]]db] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS, AUTO_CLEANUP = ON);",
        "ALTER DATABASE [shop]]db] SET ALLOW_SNAPSHOT_ISOLATION ON;",
        f"ALTER TABLE {q(SCHEMA)}.{q(TABLE)} ENABLE CHANGE_TRACKING;",
    ]
    only_table = render(MSSQL, "ct_setup", **{**CONTEXT["ct_setup"], "database_enabled": True})
    assert only_table == f"ALTER TABLE {q(SCHEMA)}.{q(TABLE)} ENABLE CHANGE_TRACKING;"


@pytest.mark.parametrize("instance", ["dbo_sales", "_x1", "A" * 100])
def test_a_plain_capture_instance_names_its_function(instance: str) -> None:
    assert capture_function(instance) == f"fn_cdc_get_all_changes_{instance}"


@pytest.mark.parametrize(
    "instance",
    [
        "dbo_sales](0x0,0x0,N'all'); DROP TABLE x; --",
        "dbo sales",
        "dbo.sales",
        "dbo_sales\n",
        "dbo_sälés",
        "dbo_١٢",  # non-ASCII digits
        "1abc",
        "",
        "A" * 101,
        "x%(from_lsn)s",
    ],
)
def test_any_other_capture_instance_is_refused(instance: str) -> None:
    with pytest.raises(ChangeCaptureSetupError, match="not a plain name"):
        capture_function(instance)


# -- rows as pymssql returns them, to change batches ---------------------------------------------

TABLE_COLUMNS = [
    Column(SourceColumn("id", "int", nullable=False), pa.int32()),
    Column(SourceColumn("name", "nvarchar"), pa.string()),
    Column(SourceColumn("amount", "decimal", 10, 2), pa.decimal128(10, 2)),
    Column(SourceColumn("at", "datetime2"), pa.timestamp("us")),
]
TABLE_SCHEMA = schema_of(TABLE_COLUMNS)
AT = dt.datetime(2025, 3, 4, 5, 6, 7, 891011)


def test_change_tracking_rows_to_a_change_batch() -> None:
    schema = change_schema(TABLE_SCHEMA, CHANGE_TRACKING_POSITION)
    rows = [
        (1, "été", Decimal("12.30"), AT, "I", 7, 1),
        (2, None, None, None, "D", 8, 0),
        (3, "b", Decimal("0.01"), AT, "U", 9, 1),
        (4, None, None, None, "U", 9, 0),  # updated, then deleted while the read ran
    ]
    batch = ct_batch(rows, schema)
    assert batch.schema == schema
    assert batch.to_pylist() == [
        {
            "id": 1,
            "name": "été",
            "amount": Decimal("12.30"),
            "at": AT,
            "_op": "insert",
            "_change_version": 7,
            "_commit_time": None,
        },
        {
            "id": 2,
            "name": None,
            "amount": None,
            "at": None,
            "_op": "delete",
            "_change_version": 8,
            "_commit_time": None,
        },
        {
            "id": 3,
            "name": "b",
            "amount": Decimal("0.01"),
            "at": AT,
            "_op": "update",
            "_change_version": 9,
            "_commit_time": None,
        },
        {
            "id": 4,
            "name": None,
            "amount": None,
            "at": None,
            "_op": "delete",
            "_change_version": 9,
            "_commit_time": None,
        },
    ]
    assert ct_batch([], schema).num_rows == 0


LSN_1 = bytes.fromhex("0000002A000001F00003")
SEQ_1 = bytes.fromhex("0000002A000001F00002")
LSN_2 = bytes.fromhex("0000002A000002100004")


def test_cdc_rows_to_a_change_batch() -> None:
    schema = change_schema(TABLE_SCHEMA, MSSQL_CDC_POSITION)
    commit = dt.datetime(2025, 3, 4, 5, 6, 7, 123000)
    rows = [
        (1, "a", Decimal("1.50"), AT, 2, LSN_1, SEQ_1, commit),
        (1, "b", Decimal("1.50"), AT, 4, LSN_1, LSN_1, commit),
        (1, "b", Decimal("1.50"), AT, 1, LSN_2, LSN_2, None),
    ]
    batch = cdc_batch(rows, schema)
    utc = commit.replace(tzinfo=dt.UTC)
    assert batch.schema == schema
    assert batch.column("_op").to_pylist() == ["insert", "update", "delete"]
    assert batch.column("_lsn").to_pylist() == ["0000002A000001F00003"] * 2 + ["0000002A000002100004"]
    assert batch.column("_seq").to_pylist() == [lsn_text(SEQ_1), lsn_text(LSN_1), lsn_text(LSN_2)]
    assert batch.column("_commit_time").to_pylist() == [utc, utc, None]
    assert batch.column("amount").to_pylist() == [Decimal("1.50")] * 3


def test_unexpected_values_are_errors_not_guesses() -> None:
    ct_schema = change_schema(TABLE_SCHEMA, CHANGE_TRACKING_POSITION)
    cdc_schema = change_schema(TABLE_SCHEMA, MSSQL_CDC_POSITION)
    with pytest.raises(DataError, match="SYS_CHANGE_OPERATION 'X'"):
        ct_batch([(1, None, None, None, "X", 7, 1)], ct_schema)
    with pytest.raises(DataError, match=r"__\$operation 3 "):  # the before image is never asked for
        cdc_batch([(1, None, None, None, 3, LSN_1, SEQ_1, None)], cdc_schema)
    with pytest.raises(DataError, match="not a binary"):
        cdc_batch([(1, None, None, None, 2, LSN_1[:9], SEQ_1, None)], cdc_schema)
    with pytest.raises(DataError, match="column 'id'"):
        ct_batch([(1.5, None, None, None, "I", 7, 1)], ct_schema)
    with pytest.raises(DataError, match="selects 7"):
        ct_batch([(1, None, None, "I", 7, 1)], ct_schema)


def test_lsns_are_hex_that_sorts_as_they_do() -> None:
    assert lsn_text(LSN_1) == "0000002A000001F00003"
    assert next_lsn("0000002A000001F00003") == "0000002A000001F00004"
    assert next_lsn("0000002AFFFFFFFFFFFF") == "0000002B000000000000"
    assert sorted([lsn_text(LSN_2), lsn_text(LSN_1)]) == [lsn_text(LSN_1), lsn_text(LSN_2)]


def test_baseline_rows_are_inserts_at_the_planned_position() -> None:
    rows = pa.RecordBatch.from_pylist([{"id": 1, "name": "a", "amount": None, "at": AT}], schema=TABLE_SCHEMA)
    ct = baseline_batch(rows, change_schema(TABLE_SCHEMA, CHANGE_TRACKING_POSITION), "42")
    assert ct.to_pylist() == [
        {
            "id": 1,
            "name": "a",
            "amount": None,
            "at": AT,
            "_op": "insert",
            "_change_version": 42,
            "_commit_time": None,
        }
    ]
    cdc = baseline_batch(rows, change_schema(TABLE_SCHEMA, MSSQL_CDC_POSITION), "0000002A000001F00003")
    assert cdc.to_pylist()[0] | {} == {
        "id": 1,
        "name": "a",
        "amount": None,
        "at": AT,
        "_op": "insert",
        "_lsn": "0000002A000001F00003",
        "_seq": "0" * 20,
        "_commit_time": None,
    }


# -- plan and read over a fake connection --------------------------------------------------------


class FakeCursor:
    def __init__(self, connection: FakeConnection) -> None:
        self.connection = connection
        self.rows: list[tuple[Any, ...]] = []

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self.connection.executed.append((sql, dict(params or {})))
        self.rows = list(self.connection.answer(sql))

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self.rows = self.rows, []
        return rows

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        rows, self.rows = self.rows[:size], self.rows[size:]
        return rows

    def close(self) -> None:
        pass


class FakeConnection:
    """Answers each statement by the first fragment of ``answers`` its text contains."""

    def __init__(self, answers: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]) -> None:
        self.answers = list(answers)
        self.executed: list[tuple[str, dict[str, Any]]] = []
        self.rollbacks = 0

    def answer(self, sql: str) -> Sequence[tuple[Any, ...]]:
        return next((rows for fragment, rows in self.answers if fragment in sql), [])

    def cursor(self) -> FakeCursor:
        return FakeCursor(self)

    def rollback(self) -> None:
        self.rollbacks += 1

    def statements(self) -> list[str]:
        return [sql for sql, _ in self.executed]


CT_ON = ("sys.change_tracking_databases", [(1, 1, "shop")])
CDC_OFF = ("is_cdc_enabled", [(0, 0)])
CATALOG = (
    "INFORMATION_SCHEMA.COLUMNS",
    [
        ("id", "int", 10, 0, 0),
        ("name", "nvarchar", None, None, 1),
        ("amount", "decimal", 10, 2, 1),
        ("at", "datetime2", None, None, 1),
    ],
)
SALES = TableConfig(name="sales", schema="dbo", mode="cdc", primary_key=["id"], batch_size=1000)


def reader(*answers: tuple[str, Sequence[tuple[Any, ...]]]) -> tuple[MsSqlReader, FakeConnection]:
    connection = FakeConnection([*answers, CATALOG])
    return MsSqlReader(connection, conn_id="shop_mssql"), connection


def last(position: str) -> Manifest:
    return Manifest.model_construct(change_position_to=position)


def test_first_run_is_a_baseline_at_the_current_version() -> None:
    source, _ = reader(CDC_OFF, CT_ON, ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]))
    assert plan(source, SALES, None) == ChangePlan(Mechanism.change_tracking, None, "120")
    assert plan(source, SALES, None).baseline


def test_a_run_goes_on_from_the_last_committed_position() -> None:
    source, connection = reader(
        CDC_OFF,
        CT_ON,
        ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]),
        ("CHANGE_TRACKING_MIN_VALID_VERSION", [(80,)]),
    )
    assert plan(source, SALES, last("100")) == ChangePlan(Mechanism.change_tracking, "100", "120")
    checked = next(p for sql, p in connection.executed if "MIN_VALID" in sql)
    assert checked == {"schema": "dbo", "table": "sales"}


def test_changes_lost_to_retention_fail_for_good_and_say_what_to_do() -> None:
    source, _ = reader(
        CDC_OFF,
        CT_ON,
        ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]),
        ("CHANGE_TRACKING_MIN_VALID_VERSION", [(101,)]),
    )
    with pytest.raises(ChangesLostError) as caught:
        plan(source, SALES, last("100"))
    message = str(caught.value)
    assert "version 100" in message and "CHANGE_TRACKING_MIN_VALID_VERSION) is 101" in message
    assert "full_refresh" in message and "new baseline" in message
    assert caught.value.permanent


def test_a_table_whose_tracking_was_turned_off_or_switched_must_be_re_baselined() -> None:
    off, _ = reader(CDC_OFF, CT_ON, ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]), ("MIN_VALID", [(None,)]))
    with pytest.raises(ChangesLostError, match=r"no longer on.*full_refresh"):
        plan(off, SALES, last("100"))
    switched, _ = reader(CDC_OFF, CT_ON, ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]))
    with pytest.raises(ChangesLostError, match=r"not a change_tracking position.*full_refresh"):
        plan(switched, SALES, last("0000002A000001F00003"))
    restored, _ = reader(
        CDC_OFF, CT_ON, ("CHANGE_TRACKING_CURRENT_VERSION()", [(90,)]), ("MIN_VALID", [(1,)])
    )
    with pytest.raises(ChangesLostError, match="beyond the source's current version 90"):
        plan(restored, SALES, last("100"))


def test_a_table_without_change_capture_gets_the_sql_to_run() -> None:
    source, _ = reader(CDC_OFF, ("sys.change_tracking_databases", [(0, 0, "shop]db")]))
    with pytest.raises(ChangeCaptureSetupError) as caught:
        plan(source, SALES, None)
    message = str(caught.value)
    enable = "SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 7 DAYS, AUTO_CLEANUP = ON);"
    assert f"ALTER DATABASE [shop]]db] {enable}" in message
    assert "ALTER TABLE [dbo].[sales] ENABLE CHANGE_TRACKING;" in message
    assert caught.value.permanent
    table_only, _ = reader(CDC_OFF, ("sys.change_tracking_databases", [(1, 0, "shop")]))
    with pytest.raises(ChangeCaptureSetupError) as caught:
        plan(table_only, SALES, None)
    assert "ALTER DATABASE" not in str(caught.value)
    assert "ALTER TABLE [dbo].[sales] ENABLE CHANGE_TRACKING;" in str(caught.value)


CDC_ON = ("is_cdc_enabled", [(1, 1)])
INSTANCE = ("source_object_id", [("dbo_sales", LSN_1)])
BOUNDS = ("fn_cdc_get_max_lsn", [(LSN_1, LSN_2)])


def test_cdc_wins_over_change_tracking_and_plans_between_lsns() -> None:
    source, _ = reader(CDC_ON, INSTANCE, BOUNDS, CT_ON)
    assert plan(source, SALES, None) == ChangePlan(Mechanism.cdc, None, lsn_text(LSN_2), "dbo_sales")
    since = "0000002A000001F00002"  # the LSN before the lowest one held: nothing lost
    assert plan(source, SALES, last(since)) == ChangePlan(Mechanism.cdc, since, lsn_text(LSN_2), "dbo_sales")
    with pytest.raises(ChangesLostError, match="holds changes from LSN 0000002A000001F00003"):
        plan(source, SALES, last("0000002A000001F00001"))


def test_cdc_plan_never_goes_back() -> None:
    # a new capture instance whose first LSN is after the highest captured one: the baseline's
    # position is just before that first LSN, so that the next run is not taken for lost changes
    fresh, _ = reader(CDC_ON, INSTANCE, ("fn_cdc_get_max_lsn", [(LSN_2, LSN_1)]))
    assert plan(fresh, SALES, None).upto == "0000002A000002100003"
    idle, _ = reader(CDC_ON, INSTANCE, ("fn_cdc_get_max_lsn", [(LSN_1, LSN_1)]))
    assert plan(idle, SALES, last(lsn_text(LSN_2))).upto == lsn_text(LSN_2)


def test_an_odd_capture_instance_is_refused_before_any_change_query() -> None:
    source, connection = reader(CDC_ON, ("source_object_id", [("x](0,0,N'all');--", LSN_1)]), BOUNDS)
    with pytest.raises(ChangeCaptureSetupError, match="not a plain name"):
        plan(source, SALES, None)
    assert not any("fn_cdc_get_all_changes" in sql for sql in connection.statements())


def test_read_change_tracking_changes_in_a_snapshot() -> None:
    source, connection = reader(
        ("snapshot_isolation_state", [(1,)]),
        ("CHANGE_TRACKING_MIN_VALID_VERSION", [(80,)]),
        ("CHANGETABLE(CHANGES", [(i, f"n{i}", Decimal("1.00"), AT, "U", 100 + i, 1) for i in range(2500)]),
    )
    columns = source.describe(SALES)
    schema, batches = read_changes(
        source, SALES, columns, ChangePlan(Mechanism.change_tracking, "100", "120")
    )
    assert schema == change_schema(TABLE_SCHEMA, CHANGE_TRACKING_POSITION)
    got = list(batches)
    assert [b.num_rows for b in got] == [1000, 1000, 500]  # fetchmany(batch_size)
    assert got[2].to_pylist()[-1]["_change_version"] == 2599
    statements = connection.statements()
    query = next(p for sql, p in connection.executed if "CHANGETABLE" in sql)
    assert query == {"since": 100, "upto": 120}  # ints: CHANGETABLE takes no string
    snapshot = statements.index("SET TRANSACTION ISOLATION LEVEL SNAPSHOT")
    check = next(i for i, s in enumerate(statements) if "MIN_VALID" in s)
    read = next(i for i, s in enumerate(statements) if "CHANGETABLE" in s)
    assert snapshot < check < read < statements.index("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
    assert connection.rollbacks == 4  # transactions end around each SET: the read's begins after it


def test_retention_is_checked_again_in_the_read() -> None:
    source, connection = reader(("snapshot_isolation_state", [(0,)]), ("MIN_VALID", [(110,)]))
    _, batches = read_changes(
        source, SALES, source.describe(SALES), ChangePlan(Mechanism.change_tracking, "100", "120")
    )
    with pytest.raises(ChangesLostError, match="full_refresh"):
        next(iter(batches))
    assert not any("CHANGETABLE" in sql for sql in connection.statements())


def test_read_cdc_changes() -> None:
    rows = [(1, "a", None, AT, 2, LSN_2, LSN_2, None)]
    source, connection = reader(
        ("snapshot_isolation_state", [(0,)]),
        ("cdc.captured_columns", [("id",), ("name",), ("amount",), ("at",), ("extra",)]),
        BOUNDS,
        ("fn_cdc_get_all_changes_dbo_sales", rows),
    )
    cdc_plan = ChangePlan(Mechanism.cdc, lsn_text(LSN_1), lsn_text(LSN_2), "dbo_sales")
    _, batches = read_changes(source, SALES, source.describe(SALES), cdc_plan)
    assert [b.to_pylist() for b in batches] == [
        [
            {
                "id": 1,
                "name": "a",
                "amount": None,
                "at": AT,
                "_op": "insert",
                "_lsn": lsn_text(LSN_2),
                "_seq": lsn_text(LSN_2),
                "_commit_time": None,
            }
        ]
    ]
    query = next(p for sql, p in connection.executed if "fn_cdc_get_all_changes" in sql)
    assert query == {"from_lsn": bytes.fromhex("0000002A000001F00004"), "to_lsn": LSN_2}
    # nothing new since the last run: no query at all (the function refuses from > to)
    _, none = read_changes(
        source,
        SALES,
        source.describe(SALES),
        ChangePlan(Mechanism.cdc, lsn_text(LSN_2), lsn_text(LSN_2), "dbo_sales"),
    )
    assert list(none) == []


def test_cdc_columns_must_be_captured() -> None:
    source, _ = reader(("cdc.captured_columns", [("id",), ("name",)]))
    with pytest.raises(ChangeCaptureSetupError, match=r"does not capture \['amount', 'at'\]"):
        read_changes(
            source,
            SALES,
            source.describe(SALES),
            ChangePlan(Mechanism.cdc, lsn_text(LSN_1), lsn_text(LSN_2), "dbo_sales"),
        )


def test_baseline_read_is_the_table_as_inserts() -> None:
    source, connection = reader(
        ("FROM [dbo].[sales]", [(1, "a", Decimal("2.00"), AT), (2, None, None, None)])
    )
    baseline = ChangePlan(Mechanism.change_tracking, None, "120")
    _, batches = read_changes(source, SALES, source.describe(SALES), baseline)
    rows = [r for b in batches for r in b.to_pylist()]
    assert [(r["id"], r["_op"], r["_change_version"]) for r in rows] == [
        (1, "insert", 120),
        (2, "insert", 120),
    ]
    assert not any("CHANGETABLE" in sql for sql in connection.statements())


def test_the_key_must_be_read() -> None:
    source, _ = reader()
    columns = [c for c in source.describe(SALES) if c.name != "id"]
    with pytest.raises(CatalogError, match=r"leave out primary key \['id'\]"):
        read_changes(source, SALES, columns, ChangePlan(Mechanism.change_tracking, "1", "2"))


def test_cdc_instances_the_user_cannot_see_are_named_as_such() -> None:
    source, _ = reader(CDC_ON, ("source_object_id", []), ("sys.change_tracking_databases", [(0, 0, "shop")]))
    with pytest.raises(
        ChangeCaptureSetupError, match=r"user sees none of its capture instances \(GRANT SELECT"
    ):
        plan(source, SALES, None)


@pytest.mark.parametrize(
    "change_plan",
    [
        ChangePlan(Mechanism.change_tracking, None, "120"),
        ChangePlan(Mechanism.change_tracking, "100", "120"),
        ChangePlan(Mechanism.cdc, "0000002A000001F00003", "0000002A000002100004", "dbo_sales"),
    ],
)
def test_a_plan_travels_as_a_dict(change_plan: ChangePlan) -> None:
    data = change_plan.to_dict()
    assert all(v is None or isinstance(v, str) for v in data.values())  # JSON for XCom
    assert ChangePlan.from_dict(data) == change_plan
