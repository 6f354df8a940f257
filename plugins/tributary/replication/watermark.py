"""Watermark tables: the bounds a run reads, and the high watermark it leaves.

A watermark table's state, the high watermark, is read from the last committed manifest, so it
can never disagree with the data, and a failed run leaves it where it was. A run reads from the
committed high watermark minus the lookback up to its start minus the safety lag, and records
the largest value of the watermark column it wrote.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from tributary.batches import RunInfo
from tributary.config import NullWatermark, TableConfig, parse_duration
from tributary.dialects.columns import Column
from tributary.errors import CatalogError
from tributary.manifest import Manifest
from tributary.parts import column_max
from tributary.readers.base import SourceReader
from tributary.windows import Window

log = logging.getLogger(__name__)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def watermark_window(table: TableConfig, state: Manifest | None, run: RunInfo) -> tuple[Window, bool]:
    """The bounds of a watermark run, and whether it is a full reload.

    From the committed high watermark minus the lookback (inclusive) up to the run's start minus
    the safety lag (exclusive); everything up to that bound on the first run or a full refresh.
    """
    clock = _utc(run.run_start) if run.run_start else dt.datetime.now(dt.UTC)
    upper = clock - parse_duration(table.safety_lag)
    log.info(
        "table %s: rows up to %s: %s %s minus the safety lag %s",
        table.name,
        upper,
        "the run's start" if run.run_start else "now (no run start known)",
        clock,
        table.safety_lag,
    )
    high = state.high_watermark if state is not None else None
    if run.full_refresh or (high is None and table.initial_watermark is None):
        low, full_reload = None, True
    elif high is None:
        assert table.initial_watermark is not None
        low, full_reload = _utc(table.initial_watermark), False
    else:
        low, full_reload = _utc(high) - parse_duration(table.lookback), False
    if low is not None and low >= upper:
        log.warning(
            "table %s: the high watermark %s is past this run's upper bound %s (clock skew, or "
            "rows dated in the future); nothing new to read",
            table.name,
            high,
            upper,
        )
        low = upper
    include_nulls = full_reload and table.null_watermark is NullWatermark.full_reload
    return Window(low, upper, include_nulls), full_reload


def check_watermark_column(table: TableConfig, columns: list[Column]) -> None:
    """The watermark column is read, and is a timestamp or a date."""
    column = next((c for c in columns if c.name == table.watermark_column), None)
    if column is None:
        raise CatalogError(
            f"table {table.name}: watermark_column {table.watermark_column!r} must be one of the "
            "columns read (add it to `columns:`)"
        )
    if not (pa.types.is_timestamp(column.arrow_type) or pa.types.is_date(column.arrow_type)):
        raise CatalogError(
            f"table {table.name}: watermark_column {column.name!r} is {column.arrow_type}; a "
            "watermark is a timestamp or date column that every insert and update sets"
        )


def plan_watermark(
    reader: SourceReader, table: TableConfig, columns: list[Column], previous: Manifest | None, run: RunInfo
) -> tuple[Window, dict[str, Any]]:
    """The window a watermark run reads, and the manifest's watermark fields (all but the new
    high watermark, known once the rows are written: ``high_watermark``)."""
    check_watermark_column(table, columns)
    read_window, full_reload = watermark_window(table, previous, run)
    nulls = reader.count_nulls(table, columns, table.watermark_column or "")
    if nulls and not read_window.include_nulls:
        log.warning(
            "table %s: %d row(s) have a NULL %s and are not read by this run (null_watermark: %s%s)",
            table.name,
            nulls,
            table.watermark_column,
            table.null_watermark.value,
            "; a full_refresh run reads them" if table.null_watermark is NullWatermark.full_reload else "",
        )
    fields = {
        "watermark_column": table.watermark_column,
        "watermark_low": read_window.start,
        "watermark_high_bound": read_window.end,
        "full_refresh": full_reload,
        "null_watermark_rows": nulls,
        "planned_from": previous.batch_id if previous is not None else None,
    }
    return read_window, fields


def high_watermark(
    parts: Iterable[Path], column: str, previous: Manifest | None, full_reload: bool
) -> dt.datetime | None:
    """The high watermark a run leaves: the largest value of ``column`` in the parts it wrote, as
    a UTC datetime; a run that found nothing new keeps the state where it was."""
    top = column_max(parts, column)
    if top is not None:
        if not isinstance(top, dt.datetime):
            top = dt.datetime.combine(top, dt.time())  # type: ignore[arg-type]
        top = _utc(top)
    carried = previous.high_watermark if previous and not full_reload else None
    found = [v for v in (top, carried) if v is not None]
    return max(found) if found else None
