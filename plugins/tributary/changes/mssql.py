"""``mode: cdc`` on SQL Server: Change Tracking, or CDC where the table has a capture instance.

Two calls, over an :class:`~tributary.readers.mssql.MsSqlReader` (no Airflow here):

- :func:`plan` at the run's start: which mechanism the table has (a CDC capture instance if there
  is one, else Change Tracking, else a permanent error with the SQL to run), the position the run
  reads from (the ``change_position_to`` of the last committed batch; none on a first run or a
  ``full_refresh``: a baseline) and the one it reads up to, fixed now (the current change tracking
  version, the highest captured LSN). A saved position older than what retention still holds
  fails for good, saying that a ``full_refresh`` run re-baselines the table.
- :func:`read_changes` then streams the changes between those positions as Arrow record batches
  of :func:`tributary.changes.shape.change_schema`: ``_op``, ``_change_version`` (Change Tracking)
  or ``_lsn`` and ``_seq`` (CDC, 20 hex digits), ``_commit_time``. A baseline streams the table's
  rows as inserts at the planned position. The retention check is made again in the read's own
  transaction (a SNAPSHOT one where the database allows it), since cleanup runs meanwhile.

Positions are strings, as the manifest keeps them: a change tracking version in decimal, an LSN
as 20 upper-case hex digits; one never reads as the other, so a table moved from one mechanism to
the other is caught. See ``docs/cdc-mssql.md``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pyarrow as pa

from tributary.changes.mssql_rows import (
    CDC_POSITION,
    CT_POSITION,
    baseline_batch,
    cdc_batch,
    ct_batch,
    lsn_bytes,
    lsn_text,
    next_lsn,
)
from tributary.changes.shape import CHANGE_TRACKING_POSITION, MSSQL_CDC_POSITION, change_schema
from tributary.config import TableConfig
from tributary.dialects import MSSQL
from tributary.dialects.columns import Column, schema_of
from tributary.errors import CatalogError, SourceError
from tributary.manifest import Manifest
from tributary.readers.mssql import MsSqlReader
from tributary.sql import render

log = logging.getLogger(__name__)

DOCS = "docs/cdc-mssql.md"
# A capture instance's name becomes part of a function's name (cdc.fn_cdc_get_all_changes_<name>):
# only names that need no quoting at all are taken. SQL Server caps the name at 100 characters.
CAPTURE_INSTANCE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


class ChangeCaptureSetupError(SourceError):
    """The table has neither change tracking nor CDC on, or not in a form Tributary reads."""

    permanent = True


class ChangesLostError(SourceError):
    """The changes after the lake's last position are gone from the source (retention cleanup,
    a mechanism switched or re-enabled): only a new baseline brings the table back."""

    permanent = True


class Mechanism(StrEnum):
    change_tracking = "change_tracking"
    cdc = "cdc"


@dataclass(frozen=True)
class ChangePlan:
    """What one run of a cdc table reads: from ``since`` (exclusive; None: a baseline of the
    whole table) up to ``upto`` (inclusive), by ``mechanism`` (with its ``capture_instance``)."""

    mechanism: Mechanism
    since: str | None
    upto: str
    capture_instance: str | None = None

    @property
    def baseline(self) -> bool:
        return self.since is None

    def to_dict(self) -> dict[str, str | None]:
        """The plan as XCom carries it from the task that plans to the one that reads."""
        return {
            "mechanism": self.mechanism.value,
            "since": self.since,
            "upto": self.upto,
            "capture_instance": self.capture_instance,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> ChangePlan:
        return cls(
            Mechanism(str(data["mechanism"])), data["since"], str(data["upto"]), data.get("capture_instance")
        )


def capture_function(instance: str) -> str:
    """The name of a capture instance's change function, refusing a name that would need quoting."""
    if not CAPTURE_INSTANCE.fullmatch(instance):
        raise ChangeCaptureSetupError(
            f"CDC capture instance {instance!r} is not a plain name (letters, digits and "
            "underscores, at most 100): Tributary builds the name of its change function from it "
            "and takes no other. Create one with a plain name: EXEC sys.sp_cdc_enable_table ... "
            f"@capture_instance = N'<schema>_<table>' (see {DOCS})"
        )
    return f"fn_cdc_get_all_changes_{instance}"


def _one(reader: MsSqlReader, statement: str, params: dict[str, Any]) -> tuple[Any, ...]:
    rows = reader.fetch_all(render(MSSQL, statement), params)
    return rows[0] if rows else ()


def _names(reader: MsSqlReader, table: TableConfig) -> dict[str, Any]:
    return {"schema": reader.schema_name(table), "table": table.name}


# -- which mechanism ---------------------------------------------------------------------------


def detect(reader: MsSqlReader, table: TableConfig) -> tuple[Mechanism, str | None]:
    """The table's mechanism and, for CDC, its capture instance (the oldest of two: it holds the
    longer history; the newer takes over once the old one is disabled)."""
    names = _names(reader, table)
    cdc_db, cdc_table = _one(reader, "cdc_enabled", names) or (0, 0)
    if cdc_db and cdc_table:
        instances = reader.fetch_all(render(MSSQL, "cdc_capture_instance"), names)
        if instances:
            instance = str(instances[0][0])
            capture_function(instance)
            return Mechanism.cdc, instance
    db_on, table_on, database = _one(reader, "ct_enabled", names)
    if db_on and table_on:
        return Mechanism.change_tracking, None
    setup = render(MSSQL, "ct_setup", database=database, database_enabled=bool(db_on), **names)
    hidden = (
        "CDC captures the table, but the user sees none of its capture instances (GRANT SELECT ON "
        "SCHEMA::[cdc], and membership of the instance's gating role). "
        if cdc_db and cdc_table
        else ""
    )
    raise ChangeCaptureSetupError(
        f"table {names['schema']}.{names['table']} (connection {reader.conn_id!r}) has neither "
        f"change tracking nor a CDC capture instance, which mode 'cdc' reads. {hidden}Turn change "
        f"tracking on (a user with ALTER on the database and the table):\n{setup}\n"
        f"or enable CDC on it (see {DOCS}); the user Tributary connects as then needs VIEW CHANGE "
        "TRACKING and SELECT on the table"
    )


# -- positions and retention -------------------------------------------------------------------


def _current(reader: MsSqlReader, mechanism: Mechanism, instance: str | None) -> tuple[str, str | None]:
    """The position now (current version; highest captured LSN) and the lowest still held."""
    if mechanism is Mechanism.change_tracking:
        (version,) = _one(reader, "ct_current_version", {})
        return str(int(version)), None
    min_lsn, max_lsn = _one(reader, "cdc_lsn_bounds", {"instance": instance})
    # 0x00... for an instance that is gone, or that the user may not read (its gating role)
    zero = bytes(10)
    return lsn_text(max_lsn or zero), lsn_text(min_lsn) if min_lsn and min_lsn != zero else None


def _kind_of(position: str) -> Mechanism | None:
    if CT_POSITION.fullmatch(position):
        return Mechanism.change_tracking
    if CDC_POSITION.fullmatch(position):
        return Mechanism.cdc
    return None


def _lost(table: str, detail: str) -> ChangesLostError:
    return ChangesLostError(
        f"table {table}: {detail}. The changes since the lake's last batch cannot be read any "
        "more, so the lake would silently miss them. Run the table once with full_refresh: it "
        "takes a new baseline of every row and goes on from there. To keep it from happening "
        f"again, run more often than the retention period or lengthen it (see {DOCS})"
    )


def check_positions(table: str, plan: ChangePlan) -> None:
    """Both positions of ``plan`` are of its mechanism (a table moved from change tracking to CDC
    or back has to start again from a baseline)."""
    for position in (plan.since, plan.upto):
        if position is not None and _kind_of(position) is not plan.mechanism:
            raise _lost(
                table,
                f"position {position!r} is not a {plan.mechanism.value} position (a change tracking "
                "version in decimal, a CDC LSN in 20 hex digits): the table's mechanism has changed",
            )


def check_retention(reader: MsSqlReader, table: TableConfig, plan: ChangePlan) -> None:
    """Fail for good when the source no longer holds every change after ``plan.since``."""
    if plan.since is None:
        return
    names = _names(reader, table)
    shown = f"{names['schema']}.{names['table']}"
    check_positions(shown, plan)
    if plan.mechanism is Mechanism.change_tracking:
        (oldest,) = _one(reader, "ct_min_valid_version", names) or (None,)
        if oldest is None:
            raise _lost(shown, "change tracking is no longer on for the table (or its user may not see it)")
        if int(plan.since) < int(oldest):
            raise _lost(
                shown,
                f"the lake has read up to change tracking version {plan.since}, and the oldest "
                f"version the source still holds changes from (CHANGE_TRACKING_MIN_VALID_VERSION) "
                f"is {oldest}: cleanup removed changes before they were read",
            )
        return
    _, min_lsn = _current(reader, plan.mechanism, plan.capture_instance)
    if min_lsn is None:
        raise _lost(
            shown,
            f"CDC capture instance {plan.capture_instance!r} is gone, or its gating role does not "
            "admit the user (sys.fn_cdc_get_min_lsn returns 0)",
        )
    if next_lsn(plan.since) < min_lsn:
        raise _lost(
            shown,
            f"the lake has read CDC changes up to LSN {plan.since}, and capture instance "
            f"{plan.capture_instance!r} holds changes from LSN {min_lsn} on (sys.fn_cdc_get_min_lsn): "
            "cleanup removed changes before they were read, or the instance was re-created",
        )


def plan(reader: MsSqlReader, table: TableConfig, last: Manifest | None) -> ChangePlan:
    """What this run reads: from the last committed batch's ``change_position_to`` (``last``;
    None on a first run or a full_refresh: a baseline) up to the position now."""
    mechanism, instance = detect(reader, table)
    upto, min_lsn = _current(reader, mechanism, instance)
    since = last.change_position_to if last is not None else None
    if mechanism is Mechanism.cdc:
        # nothing captured since: the position stays; a new instance starts after the highest LSN
        floor = since if since is not None else (_before(min_lsn) if min_lsn else upto)
        upto = max(upto, floor)
    result = ChangePlan(mechanism, since, upto, instance)
    check_retention(reader, table, result)
    if since is not None and mechanism is Mechanism.change_tracking and int(since) > int(upto):
        raise _lost(
            f"{reader.schema_name(table)}.{table.name}",
            f"the lake has read up to version {since}, beyond the source's current version {upto} "
            "(a database restored from a backup, or another database)",
        )
    return result


def _before(lsn: str) -> str:
    return f"{max(int(lsn, 16) - 1, 0):020X}"


# -- reading -----------------------------------------------------------------------------------


def read_changes(
    reader: MsSqlReader, table: TableConfig, columns: list[Column], plan: ChangePlan
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The change schema of ``columns`` (``reader.describe(table)``) and the planned changes as
    batches of ``table.batch_size`` rows, streamed; errors of the read surface as it is iterated."""
    position = CHANGE_TRACKING_POSITION if plan.mechanism is Mechanism.change_tracking else MSSQL_CDC_POSITION
    schema = change_schema(schema_of(columns), position)
    names = [c.name for c in columns]
    check_positions(f"{reader.schema_name(table)}.{table.name}", plan)
    missing = [key for key in table.primary_key if key not in names]
    if missing:
        raise CatalogError(
            f"columns of table {table.name} leave out primary key {missing}: a change row needs its key"
        )
    if plan.since is None:
        upto = plan.upto
        return schema, (baseline_batch(b, schema, upto) for b in reader.batches(table, columns, None))
    if plan.mechanism is Mechanism.change_tracking:
        context = {**_names(reader, table), "columns": names, "keys": list(table.primary_key)}
        params: dict[str, Any] = {"since": int(plan.since), "upto": int(plan.upto)}
        sql, convert = render(MSSQL, "ct_changes", **context), ct_batch
    else:
        function = capture_function(plan.capture_instance or "")
        _check_captured(reader, plan.capture_instance or "", names)
        start = next_lsn(plan.since)
        if start > plan.upto:
            return schema, iter(())  # nothing captured since the last run
        params = {"from_lsn": lsn_bytes(start), "to_lsn": lsn_bytes(plan.upto)}
        sql, convert = render(MSSQL, "cdc_changes", columns=names, function=function), cdc_batch
    return schema, _stream(reader, table, plan, _Query(sql, params, schema, convert))


def _check_captured(reader: MsSqlReader, instance: str, names: list[str]) -> None:
    captured = {
        str(r[0]) for r in reader.fetch_all(render(MSSQL, "cdc_captured_columns"), {"instance": instance})
    }
    missing = [n for n in names if n not in captured]
    if missing:
        raise ChangeCaptureSetupError(
            f"CDC capture instance {instance!r} does not capture {missing}: leave them out with the "
            "table's `columns:` list, or capture them (a new capture instance with "
            f"@captured_column_list; see {DOCS})"
        )


@dataclass(frozen=True)
class _Query:
    sql: str
    params: dict[str, Any]
    schema: pa.Schema
    convert: Callable[[Sequence[Sequence[Any]], pa.Schema], pa.RecordBatch]


def _stream(
    reader: MsSqlReader, table: TableConfig, plan: ChangePlan, query: _Query
) -> Iterator[pa.RecordBatch]:
    """The query's rows in batches, in one transaction that also checks retention: a SNAPSHOT one
    where the database allows it, so that change records and rows are read as of one moment."""
    snapshot = bool((_one(reader, "changes_snapshot_isolation", {}) or (0,))[0])
    if snapshot:
        _set_isolation(reader, snapshot=True)
    else:
        log.warning(
            "%s: snapshot isolation is off in the database; the change read may see rows newer "
            "than their change record (the next run corrects them; see %s)",
            table.name,
            DOCS,
        )
    cursor = reader.cursor_for_streaming()
    try:
        check_retention(reader, table, plan)
        cursor.execute(query.sql, query.params)
        while rows := cursor.fetchmany(table.batch_size):
            yield query.convert(rows, query.schema)
    finally:
        cursor.close()
        if snapshot:
            _set_isolation(reader, snapshot=False)


def _set_isolation(reader: MsSqlReader, *, snapshot: bool) -> None:
    """Set the session's isolation level, then end the open transaction: pymssql begins the next
    one at once, and SQL Server takes a transaction into SNAPSHOT only from its start."""
    reader.connection.rollback()
    cursor = reader.connection.cursor()
    try:
        cursor.execute(render(MSSQL, "changes_isolation", snapshot=snapshot), {})
    finally:
        cursor.close()
    reader.connection.rollback()
