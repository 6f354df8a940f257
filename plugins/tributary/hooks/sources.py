"""The source databases: a reader over the provider's hook of each Airflow connection.

:func:`open_reader` looks the connection up, masks its secrets, and builds the provider's hook
(``SqliteHook``, ``PostgresHook``, ``MsSqlHook``) the way Airflow does, from the connection's type
(``Connection.get_hook``). A source driver's error raised while the reader is in use comes out as
its class of ``tributary.failures``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow.sdk import BaseHook, Connection
from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException
from airflow.sdk.log import mask_secret

from tributary.dialects import dialect_for_conn_type
from tributary.errors import ConfigError
from tributary.failures import (
    CONNECT,
    ConnectionUndefined,
    DatabaseMissing,
    NotAReplica,
    Target,
    classified,
    failure,
)
from tributary.failures.replica import sqlite_uri_read_only
from tributary.readers import reader_for
from tributary.readers.base import SourceReader

log = logging.getLogger(__name__)


def conn_type_of(conn_id: str) -> str:
    """The connection's type, lower case; ``""`` when the connection is not defined."""
    try:
        return (BaseHook.get_connection(conn_id).conn_type or "").lower()
    except AirflowNotFoundException:
        return ""


@contextlib.contextmanager
def open_reader(
    conn_id: str, *, require_read_replica: bool = False, application_intent: str | None = None
) -> Iterator[SourceReader]:
    """A source reader whose DB-API connection comes from the provider's hook when first used,
    and is closed afterwards.

    A source driver's error raised while the reader is in use -- connecting, the catalog, counts,
    batches -- comes out as its class of ``tributary.failures``: a message that names the
    connection and says what to do, ``permanent`` or not, the driver's error as its cause.

    :param conn_id: the source's Airflow connection (sqlite, postgres or mssql)
    :param require_read_replica: before anything else is read, the source must show that the
        connection reads a read-only replica; ``NotAReplica`` (permanent) otherwise
    :param application_intent: ``ReadOnly`` opens SQL Server sessions with read intent, which an
        availability group listener routes to a readable secondary (pymssql's ``read_only``,
        FreeTDS's read-only intent); ``ReadWrite`` clears a ``read_only`` of the connection's extra
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise failure(ConnectionUndefined, Target(conn_id)) from exc
    dialect = dialect_for_conn_type(conn.conn_type)
    target = Target.of(conn, dialect.name)
    for secret in target.secrets:  # the Task SDK masks the password; the extra's values too
        mask_secret(secret)
    with classified(target):
        source = _source_session(conn_id, conn, target, application_intent)
        reader = reader_for(dialect, conn_id=conn_id, connect=source.connect, **source.options)
        try:
            if require_read_replica:
                _require_read_replica(reader, target, sqlite_read_only=source.read_only)
            yield reader
        finally:
            reader.release()


@dataclass(frozen=True)
class _SourceSession:
    """How a reader opens its connection: ``connect`` (errors classified as connect errors),
    the reader's options, and whether the connection opens its source read-only (SQLite)."""

    connect: Callable[[], Any]
    options: dict[str, Any]
    read_only: bool = False


def _source_session(
    conn_id: str, conn: Any, target: Target, application_intent: str | None
) -> _SourceSession:
    options: dict[str, Any] = {}
    read_only = False
    if application_intent == "ReadOnly" and target.dialect != "mssql":
        raise ConfigError(
            f"source.application_intent: ReadOnly asks SQL Server for read-intent routing, and "
            f"connection {conn_id!r} is a {target.dialect} connection; remove application_intent "
            "from the pipeline config (a PostgreSQL source reads a standby when its Host is one)"
        )
    if target.dialect == "sqlite":
        sqlite_hook = provider_hook(conn, "sqlite")
        uri = sqlite_hook.get_uri().replace("sqlite:///", "file:", 1)  # what get_conn opens
        read_only = sqlite_uri_read_only(uri)

        def get_conn() -> Any:
            _require_sqlite_file(uri, target)
            return sqlite_hook.get_conn()

    elif target.dialect == "postgres":
        get_conn = provider_hook(conn, "postgres").get_conn
        options["libpq"] = _libpq_params(conn)
    else:
        extra = mssql_read_intent(conn.extra_dejson if conn.extra else {}, application_intent)
        mssql_hook = provider_hook(conn, "mssql") if extra is None else mssql_hook_with_extra(conn, extra)
        get_conn = mssql_hook.get_conn

    def connect() -> Any:
        with classified(target, phase=CONNECT):
            return get_conn()

    return _SourceSession(connect, options, read_only)


def provider_hook(conn: Any, conn_type: str, **hook_params: Any) -> Any:
    """The provider's hook for ``conn``, as Airflow builds it from a connection type
    (``Connection.get_hook``): the hook the provider registers for ``conn_type``.

    ``conn_type`` is the dialect's own type: a connection may say ``postgresql``, which Airflow
    reads as a PostgreSQL URI but no provider registers a hook for.
    """
    if conn.conn_type != conn_type:
        conn = Connection(conn_id=conn.conn_id, conn_type=conn_type)  # only its hook is looked up
    try:
        return conn.get_hook(hook_params=hook_params or None)
    except AirflowException as exc:  # "Unknown hook type": the provider is not installed
        package = _PROVIDERS[conn_type]
        if _installed(package):
            raise
        # as an import of the provider fails: ``tributary.failures`` says which package to install
        raise ModuleNotFoundError(f"No module named {package!r}", name=package) from exc


_PROVIDERS = {
    "sqlite": "airflow.providers.sqlite",
    "postgres": "airflow.providers.postgres",
    "mssql": "airflow.providers.microsoft.mssql",
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def mssql_hook_with_extra(conn: Any, extra: dict[str, Any]) -> Any:
    """``MsSqlHook`` over a copy of ``conn`` whose extra is ``extra``: ``get_conn`` hands the extra
    to ``pymssql.connect`` (``read_only`` for read intent).

    No documented way exists to give a hook other connect arguments than its connection's: the
    copy goes in through ``DbApiHook``'s ``connection`` argument, which the hook uses instead of
    looking the connection up. ``tests/hooks/test_sources.py`` fails if a provider upgrade stops
    ``read_only`` from reaching ``pymssql.connect`` this way.
    """
    copy = Connection(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        description=conn.description,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=conn.password,
        port=conn.port,
        extra=json.dumps(extra),
    )
    return provider_hook(conn, "mssql", connection=copy)


_INTENT_KEYS = {"applicationintent", "application_intent"}


def mssql_read_intent(extra: dict[str, Any], application_intent: str | None) -> dict[str, Any] | None:
    """The extra to give pymssql for ``application_intent`` (``None``: leave it as it is).

    pymssql takes the intent as ``read_only=True``; an ODBC-style ``ApplicationIntent`` key in
    the extra is translated (pymssql.connect would refuse it), the config's setting wins, and a
    ``"read_only": "false"`` string -- true to Python -- is read as the false it means.
    """
    intent = application_intent
    for key in [k for k in extra if k.lower() in _INTENT_KEYS]:
        intent = intent or str(extra[key])
    wanted: bool | None = None
    if intent is not None:
        wanted = intent.replace("_", "").lower() == "readonly"
    elif isinstance(extra.get("read_only"), str):
        wanted = extra["read_only"].strip().lower() in ("1", "true", "yes", "on")
    if wanted is None and not any(k.lower() in _INTENT_KEYS for k in extra):
        return None
    cleaned = {k: v for k, v in extra.items() if k.lower() not in _INTENT_KEYS and k != "read_only"}
    return {**cleaned, "read_only": bool(wanted)} if wanted is not None else cleaned


def _libpq_params(conn: Any) -> dict[str, Any]:
    """What DuckDB's scanner connects with: the connection's fields, and every libpq setting of
    its extra (sslmode, sslrootcert, sslcert, sslkey, sslpassword, ...). The extra's keys win, as
    in the provider's hook, which hands the whole extra to psycopg: both paths connect alike."""
    from tributary.readers.postgres_scanner import LIBPQ_KEYWORDS

    extra = conn.extra_dejson if conn.extra else {}
    return {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema or extra.get("database"),
        **{key: value for key, value in extra.items() if key in LIBPQ_KEYWORDS},
    }


def _require_sqlite_file(uri: str, target: Target) -> None:
    """SQLite creates a missing file: a mistyped path would read as an empty database."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if "mode=memory" in parts.query or path in ("", ":memory:") or Path(path).exists():
        return
    raise failure(DatabaseMissing, target, advice="sqlite_missing_file")


def _require_read_replica(reader: SourceReader, target: Target, *, sqlite_read_only: bool) -> None:
    from tributary.failures.replica import check_replica

    check = check_replica(reader, sqlite_read_only_uri=sqlite_read_only)
    if not check.is_replica:
        raise failure(NotAReplica, target, found=check.evidence)
    log.info("Connection %r reads a read-only replica: %s", target.conn_id, check.evidence)
