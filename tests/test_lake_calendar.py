"""The calendar strip of the Lake view (tributary.lake_calendar): a cell per due window, the kind
of each, batch tables by month, partitions outside the config's windows."""

from __future__ import annotations

import datetime as dt

from tributary.config import Schedule, TableConfig
from tributary.lake_calendar import calendar, counts, due_windows
from tributary.lake_status import COMMITTED, FAILED_CHECKS, NO_MANIFEST, NOT_COMMITTED, PartitionStatus
from tributary.manifest import Manifest

NOW = dt.datetime(2025, 5, 10, 12, tzinfo=dt.UTC)


def _status(partition: str, state: str, window_start: dt.datetime | None = None) -> PartitionStatus:
    manifest = None
    if window_start is not None:
        manifest = Manifest(
            source="s", table="t", mode="watermark", partition=partition, batch_id="b",
            created_at=window_start, rows=1, files=[], schema=[], window_start=window_start,
        )  # fmt: skip
    return PartitionStatus(partition, state, rows=1, manifest=manifest)


def test_due_windows_end_before_now_and_before_end_date() -> None:
    monthly = due_windows(Schedule.monthly, dt.date(2025, 1, 1), None, NOW)
    assert [w.start.strftime("%Y-%m") for w in monthly if w.start] == [
        "2025-01",
        "2025-02",
        "2025-03",
        "2025-04",
    ]
    assert len(due_windows(Schedule.monthly, dt.date(2025, 1, 1), dt.date(2025, 3, 1), NOW)) == 2
    daily = due_windows(Schedule.daily, dt.date(2025, 5, 1), None, NOW)
    assert daily[-1].start == dt.datetime(2025, 5, 9, tzinfo=dt.UTC) and len(daily) == 9


def test_a_window_table_has_a_cell_per_due_window_and_one_for_each_stray_partition() -> None:
    table = TableConfig(name="sales", mode="window", date_column="d")
    statuses = [
        _status("month=2024-12", COMMITTED),  # before start_date: shown in its place
        _status("month=2025-01", COMMITTED),
        _status("month=2025-02", FAILED_CHECKS),
        _status("month=2025-03", NOT_COMMITTED),
    ]
    cells = calendar(table, Schedule.monthly, dt.date(2025, 1, 1), None, statuses, NOW)
    assert [(c.period, c.kind) for c in cells] == [
        ("2024-12", "committed"),
        ("2025-01", "committed"),
        ("2025-02", "failed"),
        ("2025-03", "not-committed"),
        ("2025-04", "missing"),
    ]
    assert counts(cells) == {"committed": 2, "failed": 1, "not-committed": 1, "missing": 1}


def test_a_full_table_is_matched_by_its_snapshot_date_and_a_daily_one_by_day() -> None:
    full = TableConfig(name="items", mode="full")
    cells = calendar(
        full,
        Schedule.monthly,
        dt.date(2025, 3, 1),
        None,
        [_status("snapshot_date=2025-04-01", NO_MANIFEST)],
        NOW,
    )
    assert [(c.period, c.kind) for c in cells] == [("2025-03", "missing"), ("2025-04", "not-committed")]
    window = TableConfig(name="sales", mode="window", date_column="d")
    cells = calendar(
        window, Schedule.daily, dt.date(2025, 5, 8), None, [_status("day=2025-05-08", COMMITTED)], NOW
    )
    assert [(c.period, c.kind) for c in cells] == [("2025-05-08", "committed"), ("2025-05-09", "missing")]


def test_a_batch_table_has_a_cell_per_month_with_the_worst_of_its_batches() -> None:
    table = TableConfig(name="orders", mode="watermark", watermark_column="m")
    march = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
    statuses = [
        _status("batch=20250301T000000Z1", COMMITTED, march),
        _status("batch=20250302T000000Z1", FAILED_CHECKS, march),
        _status("batch=20250401T000000Z1", COMMITTED, dt.datetime(2025, 4, 1, tzinfo=dt.UTC)),
    ]
    cells = calendar(table, Schedule.monthly, dt.date(2025, 2, 1), None, statuses, NOW)
    assert [(c.period, c.kind, len(c.partitions)) for c in cells] == [
        ("2025-02", "empty", 0),  # no batch that month: not missing
        ("2025-03", "failed", 2),
        ("2025-04", "committed", 1),
    ]
