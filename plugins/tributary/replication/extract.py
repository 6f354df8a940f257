"""The extract step of a table: the rows of the run into its partition's Parquet parts, and the
manifest.

Window and full tables write the partition of the run's window (``month=``, ``day=``,
``snapshot_date=``). Watermark tables write a new ``batch=<id>`` partition per run, planned from
the last committed manifest (``watermark``); the manifest records the batch it planned from, and
the commit refuses if another batch was committed since (``batches.commit_planned``).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path
from typing import Any

from tributary.audit import Audit
from tributary.batches import RunInfo, last_committed, new_batch_id, written_manifest
from tributary.config import Mode, Schedule, TableConfig
from tributary.dialects.columns import Column
from tributary.drift import DriftPlan, plan
from tributary.lake import LakePath, Partition
from tributary.manifest import Manifest, decode_schema
from tributary.parts import PartFile
from tributary.readers.base import SourceReader
from tributary.replication.partition import table_partition
from tributary.replication.watermark import high_watermark, plan_watermark
from tributary.windows import Window

log = logging.getLogger(__name__)


def _drift(table: TableConfig, columns: list[Column], previous: Manifest | None) -> DriftPlan:
    """What to read and write, given the schema of the last committed batch."""
    committed = decode_schema(previous.arrow_schema) if previous and previous.arrow_schema else None
    return plan(columns, committed, table.schema_drift, table=table.name)


def _read_window(
    reader: SourceReader,
    table: TableConfig,
    columns: list[Column],
    window: Window,
    previous: Manifest | None,
    run: RunInfo,
) -> tuple[Window | None, dict[str, Any]]:
    """The rows the run reads (None: the whole table), and a watermark table's manifest fields."""
    if table.mode is Mode.watermark:
        return plan_watermark(reader, table, columns, previous, run)
    return (window if table.mode is Mode.window else None), {}


def _table_manifest(
    table: TableConfig,
    partition: Partition,
    audit: Audit,
    run: RunInfo,
    read_window: Window | None,
    drift: DriftPlan,
    parts: list[PartFile],
    watermark: dict[str, Any],
) -> Manifest:
    return written_manifest(
        partition,
        table=table.name,
        mode=table.mode.value,
        batch_id=audit.batch_id,
        run=run,
        parts=parts,
        schema=drift.schema,
        window_start=read_window.start if read_window else None,
        window_end=read_window.end if read_window else None,
        schema_changes=drift.changes,
        **watermark,
    )


def extract_table(
    reader: SourceReader,
    table: TableConfig,
    *,
    source: str,
    schedule: Schedule,
    window: Window,
    lake_root: LakePath,
    run: RunInfo | None = None,
    compression: str = "snappy",
    rows_per_file: int = 1_000_000,
    staging_dir: str | None = None,
) -> Manifest:
    """Stream the table's rows for this run into its partition and write the manifest.

    The partition loses ``_SUCCESS`` first and is not complete again until ``commit_table``.
    """
    run = run or RunInfo()
    reader.prepare_read()
    columns = reader.describe(table)
    previous = last_committed(lake_root, source, table.name)
    drift = _drift(table, columns, previous)
    batch_id = new_batch_id()
    read_window, watermark = _read_window(reader, table, drift.read, window, previous, run)
    partition = table_partition(lake_root, source, table, schedule, window, batch_id)
    audit = Audit(batch_id, dt.datetime.now(dt.UTC), source)
    label = f"{source}.{table.name} {partition.name}"
    bounds = (
        f" rows with {table.filter_column} in [{read_window.start}, {read_window.end})"
        if read_window is not None
        else " the whole table"
    )
    log.info("%s: extracting %d columns,%s, into %s", label, len(drift.read), bounds, partition.path)

    partition.begin()
    with tempfile.TemporaryDirectory(prefix="tributary-", dir=staging_dir) as tmp:
        staging = Path(tmp)
        parts = reader.write_parts(
            table,
            drift.read,
            read_window,
            audit=audit,
            staging=staging,
            drift=drift,
            compression=compression,
            rows_per_file=rows_per_file,
            label=label,
        )
        if table.mode is Mode.watermark:
            written = [staging / p.name for p in parts]
            top = high_watermark(written, table.watermark_column or "", previous, watermark["full_refresh"])
            watermark["high_watermark"] = top
        partition.publish(staging, [p.name for p in parts])
    manifest = _table_manifest(table, partition, audit, run, read_window, drift, parts, watermark)
    partition.write_manifest(manifest)
    log.info("%s: %d rows in %d file(s), manifest written", label, manifest.rows, len(parts))
    return manifest
