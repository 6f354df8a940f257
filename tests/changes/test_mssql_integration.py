"""SQL Server change capture against a real server: change tracking (and CDC where the database
has it on) on a table of its own, a baseline, changes, and the changes read back exactly.

These run only when ``TRIBUTARY_TEST_MSSQL_URI`` names a server (see
tests/readers/test_mssql_integration.py for the form and a Docker quick start). Change tracking is
turned on for the database if it is off (the user needs ALTER on the database). The CDC test runs
when the database has CDC on (``EXEC sys.sp_cdc_enable_db``, a sysadmin's) and SQL Server Agent
runs its capture job (Docker: ``-e MSSQL_AGENT_ENABLED=true``); otherwise it is skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.support.mssql import NEEDS_SQL_SERVER, connect
from tributary.changes.mssql import ChangePlan, ChangesLostError, Mechanism, plan, read_changes
from tributary.config import TableConfig
from tributary.dialects import MSSQL
from tributary.manifest import Manifest
from tributary.readers.mssql import MsSqlReader

pytestmark = NEEDS_SQL_SERVER


class Admin:
    """An autocommit connection for DDL and the changes; drops its tables when the test ends."""

    def __init__(self) -> None:
        self.connection = connect(autocommit=True)
        self.created: list[str] = []

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        cursor = self.connection.cursor()
        try:
            if params is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            cursor.close()

    def close(self) -> None:
        for name in self.created:
            self.execute(f"DROP TABLE IF EXISTS [dbo].{MSSQL.quote(name)}")
        self.connection.close()


@pytest.fixture
def admin() -> Iterator[Admin]:
    admin = Admin()
    try:
        yield admin
    finally:
        admin.close()


def last(position: str) -> Manifest:
    return Manifest.model_construct(change_position_to=position)


def changes(reader: MsSqlReader, table: TableConfig, run: ChangePlan) -> list[dict[str, Any]]:
    _, batches = read_changes(reader, table, reader.describe(table), run)
    return [row for batch in batches for row in batch.to_pylist()]


def create(admin: Admin, prefix: str) -> tuple[str, TableConfig]:
    # a name that needs quoting, and a key column that does too
    name = f"{prefix} ]'{uuid.uuid4().hex[:8]}"
    admin.execute(
        f"CREATE TABLE [dbo].{MSSQL.quote(name)} ([k ey] int NOT NULL PRIMARY KEY, "
        "[name] nvarchar(50) NULL, [amount] decimal(10,2) NULL)"
    )
    admin.created.append(name)
    admin.execute(
        f"INSERT INTO [dbo].{MSSQL.quote(name)} "
        "VALUES (1, N'one', 1.10), (2, N'two', 2.20), (3, N'três', NULL)"
    )
    return name, TableConfig(name=name, schema="dbo", mode="cdc", primary_key=["k ey"], batch_size=1000)


def change_rows(admin: Admin, name: str) -> None:
    t = f"[dbo].{MSSQL.quote(name)}"
    admin.execute(f"UPDATE {t} SET [name] = N'uno', [amount] = 9.99 WHERE [k ey] = 1")
    admin.execute(f"DELETE FROM {t} WHERE [k ey] = 2")
    admin.execute(f"UPDATE {t} SET [amount] = 3.30 WHERE [k ey] = 3")
    admin.execute(f"DELETE FROM {t} WHERE [k ey] = 3")
    admin.execute(f"INSERT INTO {t} VALUES (4, N'four', 4.40)")
    admin.execute(f"INSERT INTO {t} VALUES (5, N'five', 5.50)")
    admin.execute(f"DELETE FROM {t} WHERE [k ey] = 5")


BASELINE = [
    {"k ey": 1, "name": "one", "amount": Decimal("1.10")},
    {"k ey": 2, "name": "two", "amount": Decimal("2.20")},
    {"k ey": 3, "name": "três", "amount": None},
]


def test_change_tracking_baseline_then_changes(admin: Admin) -> None:
    if not admin.execute("SELECT 1 FROM sys.change_tracking_databases WHERE database_id = DB_ID()"):
        admin.execute(
            "ALTER DATABASE CURRENT SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)"
        )
    name, table = create(admin, "ct")
    admin.execute(f"ALTER TABLE [dbo].{MSSQL.quote(name)} ENABLE CHANGE_TRACKING")
    reader = MsSqlReader(connect(), conn_id="test")
    try:
        first = plan(reader, table, None)
        assert first.mechanism is Mechanism.change_tracking and first.baseline
        rows = changes(reader, table, first)
        assert [{k: r[k] for k in ("k ey", "name", "amount")} for r in rows] == BASELINE
        assert {(r["_op"], r["_change_version"], r["_commit_time"]) for r in rows} == {
            ("insert", int(first.upto), None)
        }

        change_rows(admin, name)
        second = plan(reader, table, last(first.upto))
        assert second.since == first.upto and int(second.upto) > int(first.upto)
        rows = changes(reader, table, second)
        by_key: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_key.setdefault(row["k ey"], []).append(row)
        # change tracking gives one net change per key, the values as the table holds them now
        assert {k: [(r["_op"], r["name"], r["amount"]) for r in v] for k, v in by_key.items() if k != 5} == {
            1: [("update", "uno", Decimal("9.99"))],
            2: [("delete", None, None)],
            3: [("delete", None, None)],
            4: [("insert", "four", Decimal("4.40"))],
        }
        assert {r["_op"] for r in by_key.get(5, [])} <= {"delete"}  # inserted and deleted since
        versions = [r["_change_version"] for r in rows]
        assert versions == sorted(versions) and int(second.since) < versions[0] <= versions[-1] <= int(
            second.upto
        )

        third = plan(reader, table, last(second.upto))
        assert changes(reader, table, third) == []
        with pytest.raises(ChangesLostError, match="full_refresh"):
            plan(reader, table, last("0"))  # before the table's tracking began
    finally:
        reader.connection.close()


def read_when_captured(
    reader: MsSqlReader, table: TableConfig, since: str, count: int
) -> tuple[ChangePlan, list[dict[str, Any]]]:
    """The changes after ``since`` once the capture job has read ``count`` of them from the log."""
    deadline = time.monotonic() + 60
    while True:
        run = plan(reader, table, last(since))
        rows = changes(reader, table, run)
        if len(rows) >= count:
            return run, rows
        if time.monotonic() > deadline:
            pytest.skip("the CDC capture job did not run within 60 s (is SQL Server Agent running?)")
        time.sleep(1)


def test_cdc_baseline_then_changes(admin: Admin) -> None:
    if not admin.execute("SELECT 1 FROM sys.databases WHERE database_id = DB_ID() AND is_cdc_enabled = 1"):
        pytest.skip("CDC is off in the test database (EXEC sys.sp_cdc_enable_db)")
    name, table = create(admin, "cdc")
    instance = f"tributary_{uuid.uuid4().hex[:12]}"
    admin.execute(
        "EXEC sys.sp_cdc_enable_table @source_schema = N'dbo', @source_name = %(name)s, "
        "@role_name = NULL, @capture_instance = %(instance)s",
        {"name": name, "instance": instance},
    )
    reader = MsSqlReader(connect(), conn_id="test")
    try:
        first = plan(reader, table, None)
        assert first.mechanism is Mechanism.cdc and first.capture_instance == instance
        assert len(changes(reader, table, first)) == 3
        change_rows(admin, name)
        second, rows = read_when_captured(reader, table, first.upto, 7)
        # CDC keeps every change, in commit order; a delete carries the deleted row's values
        assert [(r["_op"], r["k ey"], r["name"], r["amount"]) for r in rows] == [
            ("update", 1, "uno", Decimal("9.99")),
            ("delete", 2, "two", Decimal("2.20")),
            ("update", 3, "três", Decimal("3.30")),
            ("delete", 3, "três", Decimal("3.30")),
            ("insert", 4, "four", Decimal("4.40")),
            ("insert", 5, "five", Decimal("5.50")),
            ("delete", 5, "five", Decimal("5.50")),
        ]
        positions = [(r["_lsn"], r["_seq"]) for r in rows]
        assert positions == sorted(positions) and all(second.since < p[0] <= second.upto for p in positions)
        assert all(r["_commit_time"] is not None for r in rows)
    finally:
        reader.connection.close()
        admin.execute(
            "EXEC sys.sp_cdc_disable_table @source_schema = N'dbo', @source_name = %(name)s, "
            "@capture_instance = %(instance)s",
            {"name": name, "instance": instance},
        )
