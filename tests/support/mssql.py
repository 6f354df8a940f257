"""A SQL Server for the integration tests, when ``TRIBUTARY_TEST_MSSQL_URI`` names one
(``mssql://user:password@host:1433/database``; tests/readers/test_mssql_integration.py has a
Docker quick start): the marks that skip a module without it, and a pymssql connection to it."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

ENV = "TRIBUTARY_TEST_MSSQL_URI"

NEEDS_SQL_SERVER = [
    pytest.mark.mssql,
    pytest.mark.skipif(
        not os.environ.get(ENV),
        reason=f"no SQL Server: set {ENV}=mssql://user:password@host:1433/database to run these",
    ),
]


def connect(*, autocommit: bool = False) -> Any:
    """A pymssql connection as MsSqlHook.get_conn() makes one (autocommit off), from the URI."""
    import pymssql

    uri = urlsplit(os.environ[ENV])
    options: dict[str, Any] = {"login_timeout": 30, **dict(parse_qsl(uri.query))}
    return pymssql.connect(
        server=uri.hostname or "127.0.0.1",
        port=str(uri.port or 1433),
        user=unquote(uri.username or ""),
        password=unquote(uri.password or ""),
        database=unquote(uri.path.lstrip("/")) or "master",
        autocommit=autocommit,
        **options,
    )
