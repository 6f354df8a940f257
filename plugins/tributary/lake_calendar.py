"""A table's partitions as a calendar strip: one cell per window of the pipeline's schedule (a
month or a day) from its ``start_date`` to the last window due, each cell committed, written but
not committed, failed (checks, parity, an incomplete commit) or missing. What the Lake view draws;
no Airflow here.

Window and full tables have one partition per window (``month=``, ``day=``, ``snapshot_date=``):
a due window without one is *missing*. Watermark, change-capture and file tables write a
``batch=`` partition per run, so their cells are the months (or days) the batches were written
for, and a month with no batch is *empty*, not missing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from tributary import lake_status as ls
from tributary.config import FileTableConfig, Mode, Schedule, TableConfig
from tributary.lake import path_segment
from tributary.lake_status import PartitionStatus
from tributary.windows import Window, partition_for, window_containing

OK = "committed"
UNCOMMITTED = "not-committed"
FAILED = "failed"
MISSING = "missing"
EMPTY = "empty"

# the cell class of each partition state; a cell of several batches shows the worst
CELL_OF_STATE = {
    ls.COMMITTED: OK,
    ls.NOT_COMMITTED: UNCOMMITTED,
    ls.NOT_VERIFIED: UNCOMMITTED,
    ls.NO_MANIFEST: UNCOMMITTED,
    ls.COMMITTED_FAILED_CHECKS: FAILED,
    ls.INCOMPLETE: FAILED,
    ls.FAILED_CHECKS: FAILED,
    ls.FAILED_PARITY: FAILED,
}
_WORST = (FAILED, UNCOMMITTED, OK)
LABELS = {
    OK: "committed and verified",
    UNCOMMITTED: "written, not committed",
    FAILED: "failed checks or parity",
    MISSING: "missing",
    EMPTY: "no batch",
}


@dataclass
class Cell:
    """One window of the strip: its label (``2025-03``, ``2025-03-31``), its class, and the
    partitions that fall in it (one for window tables; the batches of the month otherwise)."""

    period: str
    kind: str
    partitions: list[PartitionStatus] = field(default_factory=list)

    @property
    def label(self) -> str:
        return LABELS[self.kind]


def is_batch_table(table: TableConfig | FileTableConfig) -> bool:
    """Whether a table writes a ``batch=`` partition per run (watermark, cdc and file tables)."""
    return not isinstance(table, TableConfig) or table.mode in (Mode.watermark, Mode.cdc)


def due_windows(schedule: Schedule, start: dt.date, end: dt.date | None, now: dt.datetime) -> list[Window]:
    """The windows from ``start`` whose end has passed by ``now`` (the scheduler runs a window
    once it is over), and before ``end`` (the config's ``end_date``)."""
    windows: list[Window] = []
    moment = dt.datetime.combine(start, dt.time(), dt.UTC)
    while True:
        window = window_containing(moment, schedule)
        assert window.start is not None
        if window.end > now or (end is not None and window.start.date() >= end):
            return windows
        windows.append(window)
        moment = window.end


def _period(window: Window, schedule: Schedule) -> str:
    assert window.start is not None
    return window.start.strftime("%Y-%m-%d" if schedule is Schedule.daily else "%Y-%m")


def _batch_period(status: PartitionStatus, schedule: Schedule) -> str | None:
    if schedule is Schedule.daily and (start := status.window_start) is not None:
        return start.strftime("%Y-%m-%d")
    return status.window_month


def calendar(
    table: TableConfig | FileTableConfig,
    schedule: Schedule,
    start: dt.date,
    end: dt.date | None,
    statuses: Iterable[PartitionStatus],
    now: dt.datetime,
) -> list[Cell]:
    """The strip of one table: the due windows in order, then any partition of a window outside
    them (before ``start_date``, or a month not due yet) in its place by date."""
    windows = due_windows(schedule, start, end, now)
    statuses = list(statuses)
    if is_batch_table(table):
        return _batch_cells(windows, schedule, statuses)
    assert isinstance(table, TableConfig)
    by_name = {status.partition: status for status in statuses}
    cells: dict[str, Cell] = {}
    for window in windows:
        key, value = partition_for(table, schedule, window)
        found = by_name.pop(f"{path_segment(key)}={path_segment(value)}", None)
        cell = Cell(_period(window, schedule), MISSING)
        if found is not None:
            cell.kind, cell.partitions = CELL_OF_STATE.get(found.state, FAILED), [found]
        cells[cell.period] = cell
    for status in by_name.values():  # partitions of windows outside the strip
        period = _batch_period(status, schedule) or status.partition
        cell = cells.setdefault(period, Cell(period, EMPTY))
        cell.partitions.append(status)
        cell.kind = _worst(cell.partitions)
    return [cells[period] for period in sorted(cells)]


def _batch_cells(windows: list[Window], schedule: Schedule, statuses: list[PartitionStatus]) -> list[Cell]:
    cells = {_period(w, schedule): Cell(_period(w, schedule), EMPTY) for w in windows}
    for status in statuses:
        period = _batch_period(status, schedule) or status.partition
        cells.setdefault(period, Cell(period, EMPTY)).partitions.append(status)
    for cell in cells.values():
        if cell.partitions:
            cell.kind = _worst(cell.partitions)
    return [cells[period] for period in sorted(cells)]


def _worst(partitions: list[PartitionStatus]) -> str:
    kinds = {CELL_OF_STATE.get(p.state, FAILED) for p in partitions}
    return next(kind for kind in _WORST if kind in kinds)


def counts(cells: Iterable[Cell]) -> dict[str, int]:
    """How many cells of each kind (the strip's legend)."""
    found: dict[str, int] = {}
    for cell in cells:
        found[cell.kind] = found.get(cell.kind, 0) + 1
    return found


__all__ = [
    "EMPTY",
    "FAILED",
    "LABELS",
    "MISSING",
    "OK",
    "UNCOMMITTED",
    "Cell",
    "calendar",
    "counts",
    "due_windows",
    "is_batch_table",
]
