"""Run windows: the slice of a table one DAG run replicates, and the partition it lands in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tributary.config import Mode, Schedule, TableConfig


@dataclass(frozen=True)
class Window:
    """Rows with ``start <= column < end`` (no lower bound when ``start`` is None), and with
    ``include_nulls`` the rows whose column is NULL too; bounds are UTC."""

    start: dt.datetime | None
    end: dt.datetime
    include_nulls: bool = False


def partition_for(
    table: TableConfig, schedule: Schedule, window: Window, batch_id: str | None = None
) -> tuple[str, str]:
    """The Hive partition ``(key, value)`` a run writes: month=, day=, snapshot_date= or batch=."""
    if table.mode is Mode.watermark:
        if batch_id is None:
            raise ValueError(f"table {table.name}: a watermark partition is named by its batch id")
        return "batch", batch_id
    if table.mode is Mode.full:
        assert window.start is not None
        return "snapshot_date", window.start.date().isoformat()
    assert window.start is not None
    if schedule is Schedule.monthly:
        return "month", window.start.strftime("%Y-%m")
    return "day", window.start.date().isoformat()
