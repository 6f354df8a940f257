"""Run windows: the slice of a table one DAG run replicates, and the partition it lands in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tributary.config import Mode, Schedule, TableConfig


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= date_column < end``; both bounds are UTC."""

    start: dt.datetime
    end: dt.datetime


def partition_for(table: TableConfig, schedule: Schedule, window: Window) -> tuple[str, str]:
    """The Hive partition ``(key, value)`` a run writes: month=, day= or snapshot_date=."""
    if table.mode is Mode.full:
        return "snapshot_date", window.start.date().isoformat()
    if schedule is Schedule.monthly:
        return "month", window.start.strftime("%Y-%m")
    return "day", window.start.date().isoformat()
