"""Driver errors into failure classes, per dialect.

PostgreSQL: psycopg2 errors carry the server's SQLSTATE (``pgcode``) once a session exists, and
that decides. Errors while connecting come from libpq as text only, and DuckDB's postgres
scanner hands on libpq's text inside its own (``IO Error: Unable to connect to Postgres at "":
connection to server at ... failed: FATAL: ...``): the text rules below read both. Server texts
are matched in English, PostgreSQL's default ``lc_messages``; a server set to another language
still gets its SQLSTATEs classified, and its connection-time texts come out as 'other'.

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
from dataclasses import dataclass, field
from typing import Any

from tributary.errors import SourceError, TributaryError
from tributary.failures.kinds import (
    AuthenticationFailed,
    ConnectionReset,
    DatabaseMissing,
    Deadlock,
    DriverMissing,
    ObjectMissing,
    PermissionDenied,
    ServerBusy,
    SourceFailure,
    SourceTimeout,
    SourceUnreachable,
    Target,
    TlsFailed,
    UnknownHost,
    UnrecognisedSourceError,
    failure,
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

CONNECT = "connect"
QUERY = "query"


@dataclass(frozen=True)
class Rule:
    """A failure class and what recognises it: codes (SQLSTATE, error number, result-code name)
    or a pattern of the text. ``advice`` picks a more precise advice than the class's."""

    kind: type[SourceFailure]
    codes: frozenset[str] = field(default_factory=frozenset)
    text: re.Pattern[str] | None = None
    advice: str | None = None
    phase: str | None = None  # only while connecting, or only afterwards

    def matches(self, codes: set[str], text: str, phase: str) -> bool:
        if self.phase is not None and self.phase != phase:
            return False
        return bool(self.codes & codes) or bool(self.text and self.text.search(text))


def _rule(
    kind: type[SourceFailure],
    codes: Iterable[str | int] = (),
    text: str | None = None,
    advice: str | None = None,
    phase: str | None = None,
) -> Rule:
    return Rule(
        kind,
        frozenset(str(c) for c in codes),
        re.compile(text, re.IGNORECASE) if text else None,
        advice,
        phase,
    )


# -- PostgreSQL (psycopg2, libpq, DuckDB's postgres scanner) ----------------------------------------

# SQLSTATE, exact or its class (the first two characters); first match wins
POSTGRES_CODES: tuple[Rule, ...] = (
    _rule(Deadlock, ["40001"], text="conflict with recovery", advice="pg_conflict_with_recovery"),
    # a refused client certificate is a refused login (28000) that names the TLS settings
    _rule(
        AuthenticationFailed,
        text=r"certificate authentication failed|connection requires a valid client certificate|"
        r"tlsv1 alert unknown ca|alert (bad certificate|certificate unknown|certificate revoked|"
        r"certificate expired|certificate required|unsupported certificate)",
        advice="pg_tls_client_refused",
    ),
    _rule(AuthenticationFailed, ["28000", "28P01"]),
    _rule(DatabaseMissing, ["3D000"]),
    _rule(PermissionDenied, ["42501"]),
    _rule(ObjectMissing, ["42P01", "42703", "3F000", "42704"]),
    _rule(SourceTimeout, ["57014", "55P03", "25P03", "25P04"]),
    _rule(Deadlock, ["40P01", "40001", "40"]),
    _rule(ServerBusy, ["57P03", "53300", "53", "57P05"]),
    _rule(ConnectionReset, ["57P01", "57P02", "57P04", "08006", "08003", "08007"]),
    _rule(SourceUnreachable, ["08001", "08004"]),
    _rule(ConnectionReset, ["08"]),
)

POSTGRES_TEXTS: tuple[Rule, ...] = (
    # a missing extension of DuckDB's scanner is a missing library
    _rule(
        DriverMissing,
        text=r"extension .*(not found|could not be loaded|failed to download)|"
        r"failed to download extension|postgres_scanner.*not (found|installed)|"
        r"lib(pq|ssl|crypto)[^ ]*\.so[^ ]*: cannot open shared object",
    ),
    # libpq says "could not translate host name", psycopg 3 (resolving itself) "failed to resolve host"
    _rule(
        UnknownHost,
        text=r"(could not translate host name|failed to resolve host) .*(not known|"
        r"nodename nor servname|no address associated|unknown host|non-recoverable failure)",
    ),
    _rule(SourceUnreachable, text=r"temporary failure in name resolution", advice="dns_temporary"),
    # TLS: a certificate, a key or a setting is wrong; a retry meets the same files
    _rule(
        TlsFailed,
        text=r"root certificate file .* does not exist|could not read root certificate file|"
        r"could not get home directory to locate root certificate",
        advice="pg_tls_rootcert_missing",
    ),
    _rule(
        TlsFailed,
        text=r"server certificate for .* does not match host name|"
        r"could not get server's host name from server certificate",
        advice="pg_tls_hostname",
    ),
    _rule(
        TlsFailed,
        text=r"certificate verify failed|self[- ]signed certificate|"
        r"unable to get local issuer certificate|certificate has expired|certificate revoked|"
        r"could not load SSL certificate revocation list",
        advice="pg_tls_verify",
    ),
    _rule(
        TlsFailed,
        text=r"could not (open|read|load|access) (certificate|private key) file|"
        r"certificate present, but not private key|private key file .* (has group or world access|"
        r"is not a regular file|does not exist)|could not load private key|bad decrypt",
        advice="pg_tls_client_cert",
    ),
    _rule(
        TlsFailed,
        text=r"server does not support SSL|SSL is not supported by this build|"
        r"sslmode value .* invalid when SSL support is not compiled",
        advice="pg_tls_unsupported",
    ),
    _rule(
        TlsFailed,
        text=r"wrong version number|unsupported protocol|no protocols available|"
        r"alert protocol version|invalid SSL protocol version range",
        advice="pg_tls_protocol",
    ),
    _rule(TlsFailed, text=r"invalid ssl\w* value", advice="pg_tls_setting"),
    _rule(AuthenticationFailed, text=r"no pg_hba\.conf entry", advice="pg_hba"),
    _rule(AuthenticationFailed, text=r"no password supplied", advice="pg_no_password"),
    _rule(
        AuthenticationFailed,
        text=r"password authentication failed|authentication failed for user|"
        r"(peer|ident|gssapi|sspi|radius|ldap|pam|cert|certificate) authentication failed|"
        r"is not permitted to log in|role \"[^\"]*\" does not exist|"
        r"password is expired|SCRAM authentication requires",
    ),
    _rule(DatabaseMissing, text=r"database \"[^\"]*\" does not exist"),
    _rule(PermissionDenied, text=r"permission denied|must have (select|usage) privilege"),
    _rule(
        ObjectMissing,
        text=r"(relation|column|schema|table) \"[^\"]*\" does not exist|"
        r"Table with name .* does not exist|Referenced column .* not found",
    ),
    _rule(Deadlock, text=r"conflict with recovery", advice="pg_conflict_with_recovery"),
    _rule(Deadlock, text=r"deadlock detected|could not serialize access"),
    _rule(SourceTimeout, text=r"timeout expired|timed out", advice="pg_connect_timeout", phase=CONNECT),
    _rule(
        SourceTimeout,
        text=r"statement timeout|lock timeout|idle-in-transaction timeout|"
        r"idle-session timeout|timeout expired|timed out",
    ),
    _rule(
        ServerBusy,
        text=r"too many (clients|connections)|remaining connection slots are reserved|"
        r"the database system is (starting up|shutting down|in recovery mode|not yet accepting)|"
        r"out of memory|no space left on device|cannot connect now",
    ),
    _rule(
        SourceUnreachable,
        text=r"connection refused|no route to host|network is unreachable|"
        r"host is unreachable|is the server running|could not connect to server",
    ),
    _rule(
        ConnectionReset,
        text=r"server closed the connection|connection reset|terminating connection|"
        r"could not (receive|send) data|SSL SYSCALL error|SSL connection has been closed|"
        r"connection already closed|connection (is )?not open|EOF detected|broken pipe|"
        r"lost synchronization|server conn crashed|connection to server .* was lost",
    ),
)

# -- SQL Server (pymssql over FreeTDS's DB-Lib) ---------------------------------------------------

MSSQL_RULES: tuple[Rule, ...] = (
    # a database the login cannot open fails the login too: that message says more
    _rule(
        DatabaseMissing,
        [4060, 911, 4064],
        text=r"cannot open (user default )?database|"
        r"database '[^']*' does not exist",
    ),
    # the login's own messages, by text too: pymssql's number in front may be stale
    _rule(
        AuthenticationFailed,
        [18456, 18470, 18486, 18487, 18488, 18452, 18463, 18464, 18465, 18466, 18467, 18468, 20014],
        text=r"login failed|logon failed|login incorrect|"
        r"untrusted domain|password of the account (has expired|must be changed)",
    ),
    _rule(DatabaseMissing, [978], advice="mssql_read_intent_required"),
    _rule(DatabaseMissing, [976], advice="mssql_secondary_not_readable"),
    _rule(PermissionDenied, [916], text=r"not able to access the database", advice="mssql_no_database_user"),
    _rule(
        PermissionDenied,
        [229, 230, 262, 297, 300, 15247],
        text=r"permission was denied|permission denied|does not have permission",
    ),
    _rule(ObjectMissing, [208, 207, 4104, 15151], text=r"invalid (object|column) name"),
    _rule(Deadlock, [1205, 3960, 3961], text=r"deadlock victim|deadlocked"),
    _rule(SourceTimeout, [1222, 8645], text=r"lock request time ?out"),
    _rule(
        SourceTimeout,
        [20003],
        text=r"server connection timed out|login timeout expired",
        advice="mssql_login_timeout",
        phase=CONNECT,
    ),
    _rule(SourceTimeout, [20003], text=r"server connection timed out|query timeout"),
    _rule(
        ServerBusy,
        [17809, 40501, 40613, 49918, 49919, 49920, 10928, 10929, 701, 983, 4221, 40197],
        text=r"maximum number of .*user connections|service is currently busy|"
        r"not currently available",
    ),
    _rule(
        SourceUnreachable,
        [],
        text=r"named pipes provider|could not open a connection to sql server|"
        r"error locating server/instance",
        advice="mssql_named_pipes",
    ),
    _rule(UnknownHost, [20013, 11001], text=r"unknown host machine name|no such host is known"),
    _rule(
        ConnectionReset,
        [20004, 20006, 20047, 20020, 10054, 10053],
        text=r"read from the server failed|write to the server failed|dbprocess is dead|"
        r"connection reset|forcibly closed|broken pipe|communication link failure|"
        r"not connected to any ms sql server|connection is closed",
    ),
    _rule(
        SourceUnreachable,
        [20009, 20008, 10060, 10061],
        text=r"unable to connect|server is unavailable or does not exist|unable to open socket|"
        r"connection refused|network-related or instance-specific",
    ),
    # TCP connected, the login handshake did not: encryption or TDS version, more often than not
    _rule(SourceUnreachable, [20002], text=r"server connection failed", advice="mssql_handshake"),
    _rule(ConnectionReset, [20017], text=r"unexpected eof"),
)

# -- SQLite ------------------------------------------------------------------------------------

SQLITE_RULES: tuple[Rule, ...] = (
    _rule(DatabaseMissing, ["SQLITE_NOTADB"], advice="sqlite_not_a_database"),
    _rule(DatabaseMissing, ["SQLITE_CANTOPEN"], text=r"unable to open database file"),
    _rule(PermissionDenied, ["SQLITE_PERM", "SQLITE_AUTH"], text=r"access permission denied|not authorized"),
    _rule(PermissionDenied, ["SQLITE_READONLY"], text=r"readonly database"),
    _rule(ObjectMissing, [], text=r"no such (table|column)"),
    _rule(SourceTimeout, ["SQLITE_BUSY", "SQLITE_LOCKED"], text=r"database (table )?is locked"),
)


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
