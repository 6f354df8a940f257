"""Failures that explain themselves.

Every error a source driver raises (psycopg2 and libpq, DuckDB's postgres scanner, pymssql and
FreeTDS, sqlite3) becomes one of a few classes (``kinds``): what went wrong, whether a retry can
help, and a message that names the Airflow connection and says what to do -- which connection
field, which service command, which setting -- with the driver's own error attached and every
credential masked. ``replica`` holds the read-replica guard. The core imports no Airflow; the
operators' ``open_reader`` and ``fail_fast`` apply it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tributary.failures.classify import CONNECT, QUERY, classify, driver_message, is_driver_error
from tributary.failures.kinds import (
    KINDS,
    AuthenticationFailed,
    ConnectionReset,
    ConnectionUndefined,
    DatabaseMissing,
    Deadlock,
    DriverMissing,
    NotAReplica,
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
from tributary.failures.secrets import mask, secrets_of


@contextlib.contextmanager
def classified(target: Target, *, phase: str = QUERY) -> Iterator[None]:
    """Raise a source driver's error raised inside as its failure class, from the driver's
    exception; let every other error through untouched."""
    try:
        yield
    except Exception as exc:
        found = classify(exc, target, phase=phase)
        if found is None:
            raise
        raise found from found.__cause__


__all__ = [
    "CONNECT",
    "KINDS",
    "QUERY",
    "AuthenticationFailed",
    "ConnectionReset",
    "ConnectionUndefined",
    "DatabaseMissing",
    "Deadlock",
    "DriverMissing",
    "NotAReplica",
    "ObjectMissing",
    "PermissionDenied",
    "ServerBusy",
    "SourceFailure",
    "SourceTimeout",
    "SourceUnreachable",
    "Target",
    "TlsFailed",
    "UnknownHost",
    "UnrecognisedSourceError",
    "classified",
    "classify",
    "driver_message",
    "failure",
    "is_driver_error",
    "mask",
    "secrets_of",
]
