"""The read-replica guard: is a source connection reading a read-only replica?

``source.require_read_replica: true`` makes every task that reads the source (the extract and the
verify) ask this before its first heavy query, and refuse a primary: the incident of seed 004,
where month-long extracts ran against the point-of-sale system's primary and slowed its tills.

- PostgreSQL: ``pg_is_in_recovery()`` -- true on a streaming (hot) standby. A logical-replication
  subscriber is a primary of its own and is refused.
- SQL Server: the database's ``Updateability`` is ``READ_ONLY`` (a read-scale-out replica reached
  with read intent, a log-shipping standby, a read-only database), or
  ``sys.fn_hadr_is_primary_replica`` says 0 (an availability group secondary; the login needs
  VIEW SERVER STATE for this second check).
- SQLite has no replicas: a connection that cannot write counts -- the file opened with
  ``mode=ro`` or ``immutable=1`` (``{"mode": "ro"}`` in the connection's extra), or
  ``PRAGMA query_only`` on.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from tributary.dialects import MSSQL, POSTGRES, SQLITE
from tributary.failures.classify import is_driver_error
from tributary.readers.base import SourceReader
from tributary.sql import render

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ReplicaCheck:
    """Whether the connection reads a read-only replica, and what the source said."""

    is_replica: bool
    evidence: str


def sqlite_uri_read_only(uri: str) -> bool:
    """Whether an SQLite URI (``file:/path?mode=ro``) opens its file read-only."""
    query = dict(parse_qsl(urlsplit(uri).query))
    return query.get("mode") == "ro" or query.get("immutable", "").lower() in _TRUE


def check_replica(reader: SourceReader, *, sqlite_read_only_uri: bool = False) -> ReplicaCheck:
    """Ask the reader's source whether it is a read-only replica (one or two tiny queries)."""
    name = reader.dialect.name
    if name == POSTGRES.name:
        ((in_recovery,),) = reader.fetch_all(render(POSTGRES, "replica_check"), {})
        return ReplicaCheck(bool(in_recovery), f"pg_is_in_recovery() is {str(bool(in_recovery)).lower()}")
    if name == MSSQL.name:
        return _check_mssql(reader)
    if name == SQLITE.name:
        ((query_only,),) = reader.fetch_all(render(SQLITE, "replica_check"), {})
        if sqlite_read_only_uri:
            return ReplicaCheck(True, "the file is opened read-only (mode=ro or immutable=1)")
        if query_only:
            return ReplicaCheck(True, "PRAGMA query_only is on")
        return ReplicaCheck(False, "the file is opened for writing (no mode=ro) and query_only is off")
    raise ValueError(f"no read-replica check for dialect {name!r}")


def _check_mssql(reader: SourceReader) -> ReplicaCheck:
    ((updateability, database),) = reader.fetch_all(render(MSSQL, "replica_check"), {})
    said = f"DATABASEPROPERTYEX({database!r}, 'Updateability') is {updateability}"
    if str(updateability).upper() == "READ_ONLY":
        return ReplicaCheck(True, said)
    try:
        ((is_primary, can_view),) = reader.fetch_all(render(MSSQL, "replica_role"), {})
    except Exception as exc:  # SQL Server before 2014 or Azure SQL Database: no such function
        if not is_driver_error(exc):
            raise
        return ReplicaCheck(False, f"{said}; its availability group role cannot be read ({exc})")
    if is_primary is not None and not is_primary:
        return ReplicaCheck(
            True, f"{said}, and sys.fn_hadr_is_primary_replica is 0: an availability group secondary"
        )
    if is_primary:
        role = "sys.fn_hadr_is_primary_replica is 1: the availability group's primary"
    elif not can_view:
        role = "its availability group role is unknown: the login lacks VIEW SERVER STATE"
    else:
        role = "it is in no availability group"
    return ReplicaCheck(False, f"{said}; {role}")
