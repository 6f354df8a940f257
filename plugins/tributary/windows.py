"""Run windows: the slice of a table one DAG run replicates, and the partition it lands in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tributary.config import Mode, Schedule, TableConfig
from tributary.errors import TributaryError


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= column < end`` (no lower bound when ``start`` is None), and with
    ``include_nulls`` the rows whose column is NULL too; bounds are UTC."""

    start: dt.datetime | None
    end: dt.datetime
    include_nulls: bool = False


def window_containing(moment: dt.datetime, schedule: Schedule) -> Window:
    """The window of ``schedule`` that contains ``moment``: its UTC month or its UTC day.

    What a run for logical date ``moment`` replicates, however it was started: scheduled, a
    backfill, ``airflow dags trigger -l``, the REST API or the UI, ``airflow dags test``.
    """
    utc = moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    if schedule is Schedule.daily:
        start = dt.datetime(utc.year, utc.month, utc.day, tzinfo=dt.UTC)
        return Window(start, start + dt.timedelta(days=1))
    start = dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)
    following = dt.datetime(utc.year + utc.month // 12, utc.month % 12 + 1, 1, tzinfo=dt.UTC)
    return Window(start, following)


class OutOfRange(TributaryError):
    """A run for a window the pipeline does not cover (before its ``start_date`` or from its
    ``end_date`` on): nothing is replicated, and the message says what to do instead."""

    permanent = True


def check_in_range(window: Window, start_date: dt.date | None, end_date: dt.date | None, dag_id: str) -> None:
    """Refuse a window that starts before the pipeline's ``start_date`` or at or after its
    ``end_date`` (the windows its scheduler would never run)."""
    assert window.start is not None
    first = window.start.date()
    if (start_date is None or first >= start_date) and (end_date is None or first < end_date):
        return
    covered = f"from {start_date.isoformat() if start_date else 'the beginning'}" + (
        f" to before {end_date.isoformat()}" if end_date else " on"
    )
    raise OutOfRange(
        f"{dag_id}: this run's window {window.start:%Y-%m-%d} -> {window.end:%Y-%m-%d} is outside "
        f"the windows of its pipeline config (start_date {start_date}, end_date {end_date}): "
        f"nothing was replicated. Trigger a logical date {covered} (e.g. `airflow dags trigger "
        f"{dag_id} -l {(start_date or first).isoformat()}`), or move the config's "
        f"{'end_date' if start_date is None or first >= start_date else 'start_date'}."
    )


def partition_for(
    table: TableConfig, schedule: Schedule, window: Window, batch_id: str | None = None
) -> tuple[str, str]:
    """The Hive partition ``(key, value)`` a run writes: month=, day=, snapshot_date= or batch=."""
    if table.mode in (Mode.watermark, Mode.cdc):
        if batch_id is None:
            raise ValueError(f"table {table.name}: a {table.mode.value} partition is named by its batch id")
        return "batch", batch_id
    if table.mode is Mode.full:
        assert window.start is not None
        return "snapshot_date", window.start.date().isoformat()
    assert window.start is not None
    if schedule is Schedule.monthly:
        return "month", window.start.strftime("%Y-%m")
    return "day", window.start.date().isoformat()
