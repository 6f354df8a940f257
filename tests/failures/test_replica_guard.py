"""``source.require_read_replica``: a real streaming standby (``pg_basebackup -R`` of a throwaway
primary) passes the guard and extracts through ``open_reader``, the primary is refused before
anything is read; SQLite counts a read-only connection; SQL Server's answers are checked on the
rows its two queries return, since no SQL Server runs here."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from typing import Any

import pymssql
import pytest

from tributary.batches import RunInfo
from tributary.config import Schedule, TableConfig
from tributary.dialects import MSSQL, POSTGRES, SQLITE
from tributary.errors import ConfigError
from tributary.failures import NotAReplica, SourceUnreachable
from tributary.failures.replica import check_replica, sqlite_uri_read_only
from tributary.hooks.sources import open_reader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.sql import render
from tributary.windows import Window

SALES = TableConfig(name="sales", mode="window", date_column="sold_at")
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, tzinfo=dt.UTC))


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, cluster: Any) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", cluster.connection_json())
    return conn_id


def test_the_standby_passes_and_an_extract_reads_it(replica_pair, monkeypatch, tmp_path, caplog) -> None:
    conn_id = define(monkeypatch, "pos_standby", replica_pair.standby)
    place = {"source": "pos", "schedule": Schedule.monthly, "window": JANUARY, "lake_root": tmp_path / "lake"}
    run = RunInfo(dag_id="replicate_pos", run_id="manual__standby")

    caplog.set_level(logging.INFO)
    with open_reader(conn_id, require_read_replica=True) as reader:
        assert reader.scanner_can_read(reader.describe(SALES)), "the scanner's own session reads it"
        manifest = extract_table(reader, SALES, run=run, **place)
    with open_reader(conn_id, require_read_replica=True) as reader:
        verified = verify_table(reader, SALES, batch_id=manifest.batch_id, **place)
    committed = commit_table(SALES, batch_id=manifest.batch_id, **place)

    january = int(replica_pair.primary.psql("SELECT count(*) FROM sales WHERE sold_at < '2025-02-01'"))
    assert manifest.rows == verified.source_query_rows == committed.rows == january > 0
    assert "reads a read-only replica: pg_is_in_recovery() is true" in caplog.text


def test_the_primary_is_refused_before_anything_is_read(replica_pair, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pos_primary", replica_pair.primary)

    with pytest.raises(NotAReplica) as info, open_reader(conn_id, require_read_replica=True):
        pytest.fail("the reader must not be handed out")

    failure = info.value
    assert failure.permanent, "pointing the connection elsewhere is a human's job: no retries"
    message = str(failure)
    assert "connection 'pos_primary'" in message
    assert "pg_is_in_recovery() is false" in message
    assert "standby" in message and "require_read_replica: false" in message


def test_without_the_guard_the_primary_is_read(replica_pair, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pos_primary_ok", replica_pair.primary)
    with open_reader(conn_id) as reader:
        assert reader.count(SALES, reader.describe(SALES), None) == 300


def test_an_unreachable_replica_is_retried_not_refused(monkeypatch) -> None:
    from tests.support.pg import remove_cluster, start_cluster

    cluster = start_cluster()
    conn_id = define(monkeypatch, "pos_replica_down", cluster)
    remove_cluster(cluster)
    with pytest.raises(SourceUnreachable), open_reader(conn_id, require_read_replica=True):
        pass


# -- SQLite: a connection that cannot write counts as a replica ---------------------------------------


def _sqlite(monkeypatch: pytest.MonkeyPatch, conn_id: str, path: Any, **extra: str) -> str:
    conn = {"conn_type": "sqlite", "host": str(path), **({"extra": extra} if extra else {})}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def test_sqlite_opened_read_only_passes(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pos.sqlite"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE sales (id INTEGER, sold_at TEXT)")
        con.execute("INSERT INTO sales VALUES (1, '2025-01-05')")
    conn_id = _sqlite(monkeypatch, "lite_ro", path, mode="ro")

    with open_reader(conn_id, require_read_replica=True) as reader:
        assert reader.count(SALES, reader.describe(SALES), JANUARY) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.connection.execute("DELETE FROM sales")


def test_sqlite_opened_for_writing_is_refused(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pos.sqlite"
    sqlite3.connect(path).close()
    conn_id = _sqlite(monkeypatch, "lite_rw", path)

    with pytest.raises(NotAReplica) as info, open_reader(conn_id, require_read_replica=True):
        pytest.fail("refused before use")
    assert '{"mode": "ro"}' in str(info.value)
    assert "opened for writing" in str(info.value)


def test_sqlite_uri_flags() -> None:
    assert sqlite_uri_read_only("file:/x/pos.sqlite?mode=ro")
    assert sqlite_uri_read_only("file:/x/pos.sqlite?immutable=1")
    assert not sqlite_uri_read_only("file:/x/pos.sqlite")
    assert not sqlite_uri_read_only("file:/x/pos.sqlite?mode=rw")


# -- SQL Server: the check's SQL and its reading of the answers -------------------------------------


def test_mssql_replica_check_sql() -> None:
    assert render(MSSQL, "replica_check") == (
        "SELECT CAST(DATABASEPROPERTYEX(DB_NAME(), 'Updateability') AS nvarchar(60)) AS updateability,\n"
        "       DB_NAME() AS database_name"
    )
    role = render(MSSQL, "replica_role")
    assert "sys.fn_hadr_is_primary_replica(DB_NAME())" in role
    assert "HAS_PERMS_BY_NAME(NULL, NULL, 'VIEW SERVER STATE')" in role
    assert render(POSTGRES, "replica_check") == "SELECT pg_is_in_recovery() AS in_recovery"
    assert render(SQLITE, "replica_check") == "SELECT query_only FROM pragma_query_only()"


class _AnsweringReader:
    """Stands in for a SQL Server reader: answers the two checks with given rows or errors."""

    dialect = MSSQL

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)

    def fetch_all(self, sql: str, params: Any) -> list[tuple[Any, ...]]:
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


@pytest.mark.parametrize(
    ("answers", "is_replica", "said"),
    [
        ([[("READ_ONLY", "pos")]], True, "'Updateability') is READ_ONLY"),
        ([[("READ_WRITE", "pos")], [(0, 1)]], True, "an availability group secondary"),
        ([[("READ_WRITE", "pos")], [(1, 1)]], False, "the availability group's primary"),
        ([[("READ_WRITE", "pos")], [(None, 1)]], False, "in no availability group"),
        ([[("READ_WRITE", "pos")], [(None, 0)]], False, "the login lacks VIEW SERVER STATE"),
        (
            [
                [("READ_WRITE", "pos")],
                pymssql.OperationalError(
                    (195, b"'fn_hadr_is_primary_replica' is not a recognized built-in function name.")
                ),
            ],
            False,
            "its availability group role cannot be read",
        ),
    ],
)
def test_mssql_replica_answers(answers: list[Any], is_replica: bool, said: str) -> None:
    check = check_replica(_AnsweringReader(*answers))  # type: ignore[arg-type]
    assert check.is_replica is is_replica
    assert said in check.evidence


# -- SQL Server read intent (ApplicationIntent=ReadOnly) --------------------------------------------


def test_application_intent_reaches_pymssql_as_read_only(monkeypatch) -> None:
    """FreeTDS sets the TDS 7.4 login's read-only intent flag for pymssql's ``read_only`` and
    follows the routing answer of an availability group listener (FreeTDS 1.1+)."""
    seen: list[dict[str, Any]] = []
    real_connect = pymssql.connect

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real_connect(*args, **{**kwargs, "login_timeout": 2})

    monkeypatch.setattr(pymssql, "connect", spy)
    conn = {
        "conn_type": "mssql",
        "host": "127.0.0.1",
        "port": 1,
        "login": "etl",
        "password": "Sekr1t-pw!",
        "schema": "pos",
    }
    monkeypatch.setenv(
        "AIRFLOW_CONN_POS_AG", json.dumps({**conn, "extra": {"ApplicationIntent": "ReadOnly"}})
    )

    with pytest.raises(SourceUnreachable), open_reader("pos_ag") as reader:
        reader.connection  # noqa: B018 - connecting is the point

    assert seen and seen[-1]["read_only"] is True
    assert "ApplicationIntent" not in seen[-1]

    with pytest.raises(SourceUnreachable), open_reader("pos_ag", application_intent="ReadWrite") as reader:
        reader.connection  # noqa: B018
    assert seen[-1]["read_only"] is False


def test_application_intent_is_for_sql_server_only(pg_cluster, monkeypatch) -> None:
    conn_id = define(monkeypatch, "pg_intent", pg_cluster)
    with pytest.raises(ConfigError, match="application_intent: ReadOnly asks SQL Server"):
        with open_reader(conn_id, application_intent="ReadOnly"):
            pass
