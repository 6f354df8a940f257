"""Driver errors into failure classes, per dialect.

PostgreSQL: psycopg2 errors carry the server's SQLSTATE (``pgcode``) once a session exists, and
that decides. Errors while connecting come from libpq as text only, and DuckDB's postgres
scanner hands on libpq's text inside its own (``IO Error: Unable to connect to Postgres at "":
connection to server at ... failed: FATAL: ...``): the text rules (:mod:`tributary.failures.rules`)
read both. Server texts are matched in English, PostgreSQL's default ``lc_messages``; a server set
to another language still gets its SQLSTATEs classified, and its connection-time texts come out as
'other'.

SQL Server: pymssql raises ``(number, b"text")``. The number is the most severe message's: a
server error (18456 login failed, 4060 database, 229 permission, 208 object, 1205 deadlock) or a
DB-Lib one of FreeTDS (20009 cannot connect, 20003 timed out, 20004/20006 read/write failed,
20017 unexpected EOF, 20047 dead DBPROCESS). pymssql keeps the number of a failed *connect* in
module state it does not always clear, so when the text holds DB-Lib messages only, the numbers
written in the text decide, not the stale one in front. The texts of Microsoft's own drivers
(Named Pipes Provider, error 40/53) are recognised too, for messages passed on from ODBC tools.

SQLite: ``sqlite3`` errors carry the extended result code's name (``SQLITE_CANTOPEN``,
``SQLITE_BUSY``, ...); "no such table/column" is a plain ``SQLITE_ERROR`` read by its text.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from typing import Any

from tributary.errors import SourceError, TributaryError
from tributary.failures.kinds import (
    ConnectionReset,
    DriverMissing,
    SourceFailure,
    SourceTimeout,
    SourceUnreachable,
    Target,
    UnknownHost,
    UnrecognisedSourceError,
    failure,
)
from tributary.failures.rules import (
    CONNECT,
    MSSQL_RULES,
    POSTGRES_CODES,
    POSTGRES_TEXTS,
    QUERY,
    SQLITE_RULES,
    Rule,
)

# modules whose exceptions are a source driver's
DRIVER_MODULES = frozenset(
    {"psycopg2", "psycopg", "pymssql", "_mssql", "sqlite3", "_sqlite3", "duckdb", "_duckdb"}
)
# modules whose absence is a missing driver, wherever it shows
DRIVER_PACKAGES = DRIVER_MODULES | {
    "duckdb_extensions",
    "airflow.providers.postgres",
    "airflow.providers.microsoft",
    "airflow.providers.sqlite",
    "airflow.providers.common.sql",
}


def _postgres_codes(exc: BaseException) -> set[str]:
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    return {code, code[:2]} if isinstance(code, str) and code else set()


_DBLIB_NUMBER = re.compile(r"DB-Lib error message (\d+)")
# Microsoft's ODBC drivers end a server message with its number: "[SQL Server]Login failed ... (18456)"
_ODBC_NUMBER = re.compile(r"\[SQL Server\][^\[]*?\((\d{2,5})\)")


def _mssql_parts(exc: BaseException) -> tuple[set[str], str]:
    """The error numbers pymssql's exception holds, and its text."""
    args = exc.args
    number: Any = None
    text: Any = args[0] if args else str(exc)
    if args and isinstance(args[0], tuple) and len(args[0]) == 2:
        number, text = args[0]
    elif len(args) == 2 and isinstance(args[0], int):
        number, text = args
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = str(text)
    codes = set(_DBLIB_NUMBER.findall(text))
    # the number in front is the server's error only when a server message leads the text
    if isinstance(number, int) and number and not text.lstrip().startswith("DB-Lib error message"):
        codes.add(str(number))
    codes.update(_ODBC_NUMBER.findall(text))
    return codes, text


def _sqlite_codes(exc: BaseException) -> set[str]:
    """The extended result code's name and its primary code's (SQLITE_BUSY_RECOVERY, SQLITE_BUSY)."""
    name = getattr(exc, "sqlite_errorname", None)
    if not isinstance(name, str) or not name:
        return set()
    return {name, "_".join(name.split("_")[:2])}


def driver_message(exc: BaseException) -> str:
    """The driver's error as one text, its SQLSTATE or error number in front."""
    module = _root_module(exc)
    if module in ("pymssql", "_mssql"):
        _, text = _mssql_parts(exc)
        number = exc.args[0][0] if exc.args and isinstance(exc.args[0], tuple) else None
        return f"[{number}] {text.strip()}" if number else text.strip()
    code = (
        getattr(exc, "pgcode", None)
        or getattr(exc, "sqlstate", None)
        or getattr(exc, "sqlite_errorname", None)
    )
    text = str(exc).strip() or type(exc).__name__
    return f"[{code}] {text}" if code else text


def _root_module(exc: BaseException) -> str:
    for cls in type(exc).__mro__:
        root = cls.__module__.split(".", 1)[0]
        if root in DRIVER_MODULES:
            return "pymssql" if root == "_mssql" else root
    return type(exc).__module__.split(".", 1)[0]


def is_driver_error(exc: BaseException) -> bool:
    return any(cls.__module__.split(".", 1)[0] in DRIVER_MODULES for cls in type(exc).__mro__)


def _first(rules: Iterable[Rule], codes: set[str], text: str, phase: str) -> Rule | None:
    return next((rule for rule in rules if rule.matches(codes, text, phase)), None)


_OBJECT_NAMES = (
    re.compile(r"on the object '([^']+)', database '[^']+', schema '([^']+)'"),  # SQL Server 229
    re.compile(r"Invalid (?:object|column) name '([^']+)'"),
    re.compile(r"(?:relation|column|schema|table|view|sequence) \"([^\"]+)\""),  # PostgreSQL
    re.compile(r"permission denied for (?:table|schema|view|sequence|database|relation) \"?([^\"\s]+)"),
    re.compile(r"no such (?:table|column): (\S+)"),
    re.compile(r"Table with name (\S+) does not exist"),
)


def _object_name(text: str) -> str | None:
    for pattern in _OBJECT_NAMES:
        match = pattern.search(text)
        if match:
            groups = [g for g in match.groups() if g]
            if len(groups) == 2:  # SQL Server: object, schema
                return f"{groups[1]}.{groups[0]}"
            return groups[0]
    return None


_RULES_BY_DIALECT = {"postgres": POSTGRES_TEXTS, "mssql": MSSQL_RULES, "sqlite": SQLITE_RULES}


def recognise(dialect: str, text: str, *, phase: str = QUERY) -> Rule | None:
    """The rule that recognises an error known only by its text (a log line, an ODBC tool's
    message): SQL Server's error numbers are read from the text."""
    codes = (
        set(_DBLIB_NUMBER.findall(text)) | set(_ODBC_NUMBER.findall(text)) if dialect == "mssql" else set()
    )
    return _first(_RULES_BY_DIALECT[dialect], codes, text, phase)


def _rules_for(exc: BaseException, dialect: str | None) -> tuple[tuple[Rule, ...], set[str], str]:
    module = _root_module(exc)
    if module in ("psycopg2", "psycopg", "duckdb", "_duckdb"):
        return POSTGRES_CODES + POSTGRES_TEXTS, _postgres_codes(exc), str(exc)
    if module == "pymssql":
        codes, text = _mssql_parts(exc)
        return MSSQL_RULES, codes, text
    if module in ("sqlite3", "_sqlite3"):
        return SQLITE_RULES, _sqlite_codes(exc), str(exc)
    # not a driver's exception (a wrapped text, a socket error): the dialect's text rules
    text = str(exc)
    if dialect == "mssql":
        return MSSQL_RULES, set(_DBLIB_NUMBER.findall(text)) | set(_ODBC_NUMBER.findall(text)), text
    return _RULES_BY_DIALECT.get(dialect or "", POSTGRES_TEXTS), set(), text


_SOCKET_ERRORS: tuple[tuple[type[BaseException], type[SourceFailure]], ...] = (
    (socket.gaierror, UnknownHost),
    (ConnectionRefusedError, SourceUnreachable),
    (ConnectionResetError, ConnectionReset),
    (BrokenPipeError, ConnectionReset),
    (ConnectionAbortedError, ConnectionReset),
    (TimeoutError, SourceTimeout),
)


def _missing_module(exc: ImportError) -> str | None:
    name = exc.name or ""
    if any(name == p or name.startswith(p + ".") for p in DRIVER_PACKAGES):
        return name
    return None


def classify(exc: BaseException, target: Target, *, phase: str = QUERY) -> SourceFailure | None:
    """The failure ``exc`` is, for ``target``; ``None`` when it is no source driver's error
    (a lake error, a bug, a Tributary error that already says what it is).

    The failure's ``__cause__`` is the driver's exception. ``phase`` is ``connect`` for errors
    raised while opening the connection, where an ``OSError`` is the driver's too.
    """
    if isinstance(exc, SourceFailure):
        return None
    cause: BaseException = exc
    context = ""
    if type(exc) is SourceError and exc.__cause__ is not None:
        # the scanner's wrapper: classify what DuckDB said, keep what the reader was doing
        cause, context = exc.__cause__, str(exc)
    elif isinstance(exc, TributaryError):
        return None

    found: SourceFailure | None = None
    if isinstance(cause, ImportError):
        module = _missing_module(cause) or (cause.name if phase == CONNECT else None)
        if module:
            found = failure(
                DriverMissing, target, driver_message=str(cause), object_name=f"Python module {module!r}"
            )
    elif is_driver_error(cause) or context or (phase == CONNECT and isinstance(cause, OSError)):
        rules, codes, text = _rules_for(cause, target.dialect)
        rule = _first(rules, codes, text, phase)
        if rule is None and isinstance(cause, OSError):
            kind = next((k for t, k in _SOCKET_ERRORS if isinstance(cause, t)), None)
            rule = Rule(kind) if kind else None
        found = failure(
            rule.kind if rule else UnrecognisedSourceError,
            target,
            driver_message=context or driver_message(cause),
            advice=rule.advice if rule else None,
            object_name=_object_name(text),
        )
    if found is None:
        return None
    if phase == CONNECT and type(found) is SourceUnreachable and _resolves(target.host) is False:
        # FreeTDS says "unable to connect" for a name that does not resolve too
        found = failure(UnknownHost, target, driver_message=found.driver_message)
    found.__cause__ = cause
    return found


def _resolves(host: str | None) -> bool | None:
    """Whether ``host`` (``name``, ``name\\INSTANCE``, ``name,port``) resolves; ``None`` when
    that cannot be told (no host, a DNS server that does not answer)."""
    name = re.split(r"[\\,]", host or "", maxsplit=1)[0].strip()
    if name.lower().startswith("tcp:"):
        name = name[4:]
    if not name:
        return None
    try:
        socket.getaddrinfo(name, None)
    except socket.gaierror as exc:
        permanent = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
        return False if exc.errno in permanent else None
    except (OSError, UnicodeError):
        return None
    return True
