"""``airflow connections test <id>`` works for the source connections, through the providers' hooks
(``SqliteHook``, ``PostgresHook``, ``MsSqlHook``: ``DbApiHook.test_connection`` runs ``select 1``),
once ``AIRFLOW__CORE__TEST_CONNECTION=Enabled``; a failure shows the driver's reason, not the
password."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.failures.conftest import APP_PASSWORD

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
SA_PASSWORD = "Cli-Sa-passw0rd"
WRONG_PASSWORD = "Cli-wrong-Passw0rd"


@pytest.fixture(scope="module")
def cli(
    auth_cluster, airflow_db: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[int, str]]:
    """``airflow connections test`` of each connection, the CLIs run side by side (each takes
    a while to start): conn id -> (exit code, stdout and stderr)."""
    db = tmp_path_factory.mktemp("cli") / "pos.sqlite"
    sqlite3.connect(db).close()
    connections = {
        "cli_lite": json.dumps({"conn_type": "sqlite", "host": str(db), "extra": {"mode": "ro"}}),
        "cli_pg": auth_cluster.conn(),
        "cli_pg_bad": auth_cluster.conn(password=WRONG_PASSWORD),
        "cli_mssql": json.dumps(
            {"conn_type": "mssql", "host": "127.0.0.1", "port": 1, "login": "sa", "password": SA_PASSWORD}
        ),
    }
    env = {  # the test session's AIRFLOW_HOME and settings, and the connections as variables
        **os.environ,
        **{f"AIRFLOW_CONN_{conn_id.upper()}": conn for conn_id, conn in connections.items()},
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
    }
    running = {
        conn_id: subprocess.Popen(
            [AIRFLOW, "connections", "test", conn_id],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for conn_id in connections
    }
    results = {}
    for conn_id, process in running.items():
        output, _ = process.communicate(timeout=300)
        results[conn_id] = (process.returncode, output)
    return results


def test_a_sqlite_source(cli) -> None:
    code, output = cli["cli_lite"]
    assert code == 0, output
    assert "Connection success!" in output


def test_a_postgres_source(cli) -> None:
    code, output = cli["cli_pg"]
    assert code == 0, output
    assert "Connection success!" in output


def test_a_wrong_password_shows_the_reason_not_the_password(cli) -> None:
    code, output = cli["cli_pg_bad"]
    assert code == 1
    assert "Connection failed!" in output and 'password authentication failed for user "app"' in output
    assert WRONG_PASSWORD not in output and APP_PASSWORD not in output


def test_a_sql_server_source_goes_through_pymssql(cli) -> None:
    code, output = cli["cli_mssql"]
    assert code == 1
    assert "Unable to connect" in output, "FreeTDS answered: the hook and its driver are installed"
    assert SA_PASSWORD not in output


@pytest.mark.parametrize("conn_type", ["sqlite", "postgres", "mssql"])
def test_the_hooks_implement_test_connection(conn_type: str) -> None:
    from airflow.providers.common.sql.hooks.sql import DbApiHook
    from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    hook = {"sqlite": SqliteHook, "postgres": PostgresHook, "mssql": MsSqlHook}[conn_type]
    assert issubclass(hook, DbApiHook) and callable(hook.test_connection)
