"""The sources' connections: the provider's hook that Airflow builds from the connection's type,
and SQL Server's read intent handed to pymssql.

The read intent reaches pymssql through a constructor argument of ``DbApiHook`` that no document
promises; the test marked "upgrade guard" fails, naming the function to fix, if a provider
upgrade changes it. No SQL Server is needed: ``pymssql.connect`` is replaced by a spy."""

from __future__ import annotations

import json
from typing import Any

import pymssql
import pytest
from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.sqlite.hooks.sqlite import SqliteHook
from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowException

from tributary.failures import DriverMissing, Target, classified
from tributary.hooks import sources
from tributary.hooks.sources import (
    conn_type_of,
    mssql_hook_with_extra,
    mssql_read_intent,
    provider_hook,
)

MSSQL_CONN = {
    "conn_type": "mssql",
    "host": "sql.example",
    "port": 1433,
    "login": "etl",
    "password": "Sekr1t-pw!",
    "schema": "pos",
    "extra": {"tds_version": "7.4", "ApplicationIntent": "ReadOnly"},
}


def _define(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> Any:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return BaseHook.get_connection(conn_id)


@pytest.mark.parametrize(
    ("conn_type", "dialect", "hook_class", "attribute"),
    [
        ("sqlite", "sqlite", SqliteHook, "sqlite_conn_id"),
        ("postgres", "postgres", PostgresHook, "postgres_conn_id"),
        ("postgresql", "postgres", PostgresHook, "postgres_conn_id"),
        ("mssql", "mssql", MsSqlHook, "mssql_conn_id"),
    ],
)
def test_the_providers_hook_comes_from_the_connection_type(
    monkeypatch: pytest.MonkeyPatch, conn_type: str, dialect: str, hook_class: type, attribute: str
) -> None:
    conn = _define(monkeypatch, "src_hook", {"conn_type": conn_type, "host": "h"})
    hook = provider_hook(conn, dialect)
    assert type(hook) is hook_class
    assert getattr(hook, attribute) == "src_hook"


def test_a_missing_provider_is_a_missing_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """As when the provider's hook was imported by name: ``tributary.failures`` names the module."""
    conn = _define(monkeypatch, "src_noprov", {"conn_type": "mssql", "host": "h"})

    def unknown(self: Connection, *, hook_params: Any = None) -> Any:
        raise AirflowException(f'Unknown hook type "{self.conn_type}"')

    monkeypatch.setattr(Connection, "get_hook", unknown)
    monkeypatch.setattr(sources, "_installed", lambda module: False)
    with pytest.raises(DriverMissing, match=r"airflow\.providers\.microsoft\.mssql"):
        with classified(Target.of(conn, "mssql")):
            provider_hook(conn, "mssql")


def test_the_type_of_an_undefined_connection_is_empty() -> None:
    assert conn_type_of("src_never_defined") == ""


def test_upgrade_guard_the_read_intent_reaches_pymssql(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mssql_hook_with_extra`` gives ``MsSqlHook`` a copy of the connection through
    ``DbApiHook(connection=...)``; ``MsSqlHook.get_conn`` must hand its extra to ``pymssql.connect``."""
    conn = _define(monkeypatch, "src_ag", MSSQL_CONN)
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(pymssql, "connect", lambda **kwargs: seen.append(kwargs) or "a connection")

    extra = mssql_read_intent(conn.extra_dejson, None)
    assert mssql_hook_with_extra(conn, extra).get_conn() == "a connection"

    assert seen, "MsSqlHook.get_conn no longer calls pymssql.connect"
    assert seen[0].get("read_only") is True and "ApplicationIntent" not in seen[0], (
        "MsSqlHook no longer connects with the connection given as DbApiHook(connection=...): "
        f"pymssql.connect got {sorted(seen[0])}; fix tributary.hooks.sources.mssql_hook_with_extra"
    )
    assert seen[0]["tds_version"] == "7.4"
    assert (seen[0]["server"], seen[0]["user"], seen[0]["password"], seen[0]["database"]) == (
        "sql.example",
        "etl",
        "Sekr1t-pw!",
        "pos",
    )
    assert json.loads(conn.extra) == MSSQL_CONN["extra"]  # the connection looked up is left as it was


@pytest.mark.parametrize(
    ("extra", "intent", "expected"),
    [
        ({}, None, None),
        ({"read_only": True}, None, None),
        ({}, "ReadOnly", {"read_only": True}),
        ({"read_only": True}, "ReadWrite", {"read_only": False}),
        (
            {"ApplicationIntent": "ReadOnly", "tds_version": "7.4"},
            None,
            {"tds_version": "7.4", "read_only": True},
        ),
        ({"application_intent": "ReadWrite"}, "ReadOnly", {"read_only": True}),
        ({"read_only": "false"}, None, {"read_only": False}),
    ],
)
def test_mssql_read_intent_extra(extra: dict, intent: str | None, expected: dict | None) -> None:
    assert mssql_read_intent(extra, intent) == expected
