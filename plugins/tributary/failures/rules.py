"""The failure rules per dialect: which driver codes (SQLSTATE, error number, result-code name) and
which texts make which failure class, first match wins. :mod:`tributary.failures.classify` says
where each driver puts its codes and applies these tables."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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
    TlsFailed,
    UnknownHost,
)

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
