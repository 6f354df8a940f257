"""The classes of source failure: what went wrong, whether a retry can help, and the message.

Each class is a ``SourceError`` whose ``permanent`` flag tells the Airflow adapters what to do:
permanent failures fail the task at once (``AirflowFailException``), transient ones are raised
as they are so Airflow retries them with the DAG's exponential backoff.

Transient: the server is unreachable (a restart or a failover ends on its own), a timeout, a
deadlock or serialization conflict, a connection cut mid-way, a server too busy to take the
session, and anything not recognised (Airflow's default: retry). Permanent: an unknown host
name, authentication, a TLS certificate or setting, a missing driver or library, a missing
database, a permission, a missing table or column, a connection Airflow does not know, and a
primary where a replica is required. A retry cannot fix any of these; someone has to change a
setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from string import Template
from typing import Any, ClassVar

from tributary.errors import CatalogError, SourceError, TributaryError
from tributary.failures.advice import advice_for
from tributary.failures.secrets import mask, secrets_of

DIALECT_NAMES = {"postgres": "PostgreSQL", "mssql": "SQL Server", "sqlite": "SQLite"}

RETRIED = (
    "Transient: Airflow retries the task with exponential backoff (source.retries and "
    "source.retry_delay_seconds of the pipeline config)."
)
NOT_RETRIED = "Permanent: the task fails now without using its retries; a retry cannot fix this."


@dataclass(frozen=True)
class Target:
    """The source a failure is about, as much of it as a message may show (never a secret).

    :param conn_id: the Airflow connection id
    :param dialect: ``postgres``, ``mssql`` or ``sqlite``, once the connection type is known
    :param secrets: values no message may contain: the password, the extra's secret values
    """

    conn_id: str
    dialect: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    database: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, conn: Any, dialect: str | None) -> Target:
        """The target of an Airflow connection (``Connection`` of the Task SDK or of core)."""
        extra = conn.extra_dejson if conn.extra else {}
        if dialect == "sqlite":
            database = conn.host
        else:
            database = conn.schema or extra.get("database") or extra.get("dbname")
        return cls(
            conn_id=conn.conn_id,
            dialect=dialect,
            host=conn.host,
            port=conn.port,
            login=conn.login,
            database=database,
            secrets=secrets_of(conn.password, extra),
        )

    @property
    def where(self) -> str:
        """E.g. ``PostgreSQL at 127.0.0.1:5432, database 'sales', login 'etl'``."""
        name = DIALECT_NAMES.get(self.dialect or "", self.dialect or "source")
        if self.dialect == "sqlite":
            return f"{name} file {self.database!r}"
        parts = [f"{name} at {self.host or '(no host)'}" + (f":{self.port}" if self.port else "")]
        if self.database:
            parts.append(f"database {self.database!r}")
        if self.login:
            parts.append(f"login {self.login!r}")
        return ", ".join(parts)


class SourceFailure(SourceError):
    """A source error, classified: ``kind`` names the class, the message says what to do, and
    the driver's error stays attached as ``__cause__`` (``driver_error``)."""

    kind: ClassVar[str] = "other"
    title: ClassVar[str] = "unrecognised source error"
    permanent = False

    def __init__(self, message: str, *, target: Target, driver_message: str | None = None) -> None:
        super().__init__(message)
        self.target = target
        self.driver_message = driver_message

    @property
    def conn_id(self) -> str:
        return self.target.conn_id

    @property
    def driver_error(self) -> BaseException | None:
        """The driver's own exception this failure was made from, if any."""
        cause = self.__cause__
        while isinstance(cause, TributaryError):
            cause = cause.__cause__
        return cause


class SourceUnreachable(SourceFailure):
    kind = "unreachable"
    title = "source server unreachable"


class UnknownHost(SourceFailure):
    kind = "unknown_host"
    title = "source host name does not resolve"
    permanent = True


class AuthenticationFailed(SourceFailure):
    kind = "authentication"
    title = "source login refused"
    permanent = True


class TlsFailed(SourceFailure):
    kind = "tls"
    title = "TLS connection to the source failed"
    permanent = True


class DriverMissing(SourceFailure):
    kind = "missing_driver"
    title = "driver or library missing"
    permanent = True


class DatabaseMissing(SourceFailure):
    kind = "missing_database"
    title = "source database missing"
    permanent = True


class PermissionDenied(SourceFailure):
    kind = "permission"
    title = "permission denied on the source"
    permanent = True


class ObjectMissing(SourceFailure, CatalogError):
    kind = "missing_object"
    title = "table or column missing in the source"
    permanent = True


class ConnectionUndefined(SourceFailure):
    kind = "missing_connection"
    title = "Airflow connection not defined"
    permanent = True


class NotAReplica(SourceFailure):
    kind = "not_a_replica"
    title = "source is not a read-only replica"
    permanent = True


class SourceTimeout(SourceFailure):
    kind = "timeout"
    title = "source timeout"


class Deadlock(SourceFailure):
    kind = "deadlock"
    title = "deadlock or serialization conflict on the source"


class ConnectionReset(SourceFailure):
    kind = "connection_reset"
    title = "source connection cut"


class ServerBusy(SourceFailure):
    kind = "server_busy"
    title = "source server busy"


class UnrecognisedSourceError(SourceFailure):
    pass


KINDS: tuple[type[SourceFailure], ...] = (
    SourceUnreachable,
    UnknownHost,
    AuthenticationFailed,
    TlsFailed,
    DriverMissing,
    DatabaseMissing,
    PermissionDenied,
    ObjectMissing,
    ConnectionUndefined,
    NotAReplica,
    SourceTimeout,
    Deadlock,
    ConnectionReset,
    ServerBusy,
    UnrecognisedSourceError,
)


def failure(
    kind: type[SourceFailure],
    target: Target,
    *,
    driver_message: str | None = None,
    advice: str | None = None,
    object_name: str | None = None,
    found: str | None = None,
) -> SourceFailure:
    """The failure of class ``kind`` for ``target``, with its message, masked.

    :param driver_message: the driver's error text, shown after the advice
    :param advice: the key of an advice more precise than the class's (``advice.SPECIFIC``)
    :param object_name: the table, column or module the driver named, for the advice
    :param found: what Tributary found out itself (no driver error), shown after the advice
    """
    values = {
        "conn_id": target.conn_id,
        "host": target.host or "(no host)",
        "port": str(target.port) if target.port else "(default port)",
        "login": target.login or "(no login)",
        "database": target.database or "(no database)",
        "object": object_name or "the table",
        "CONN_ID": target.conn_id.upper(),
    }
    text = Template(advice_for(kind.kind, target.dialect, advice)).safe_substitute(values)
    lines = [
        f"{kind.title[0].upper()}{kind.title[1:]}: connection {target.conn_id!r} ({target.where}).",
        f"What to do: {text}",
        NOT_RETRIED if kind.permanent else RETRIED,
    ]
    if found:
        lines.append(f"Found: {found}")
    driver = mask(driver_message.strip(), target.secrets) if driver_message else None
    if driver:
        lines.append(f"Driver error: {driver}")
    return kind(mask("\n".join(lines), target.secrets), target=target, driver_message=driver)
