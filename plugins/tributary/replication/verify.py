"""The verify step of a table's partition: the source's row count against the manifest's, then
the table's QA checks."""

from __future__ import annotations

import datetime as dt
import logging

from tributary.checks import apply_checks
from tributary.config import Mode, NullWatermark, Schedule, TableConfig
from tributary.errors import IncompletePartitionError, ParityError
from tributary.lake import LakePath
from tributary.manifest import Manifest
from tributary.readers.base import SourceReader
from tributary.replication.partition import current_manifest, table_partition
from tributary.windows import Window

log = logging.getLogger(__name__)


def _counted_window(table: TableConfig, manifest: Manifest, window: Window) -> Window | None:
    """The bounds the extract read: a watermark batch's from its manifest, else the run's."""
    if table.mode is Mode.watermark:
        assert manifest.watermark_high_bound is not None
        return Window(
            manifest.watermark_low,
            manifest.watermark_high_bound,
            include_nulls=bool(manifest.full_refresh and table.null_watermark is NullWatermark.full_reload),
        )
    return window if table.mode is Mode.window else None


def verify_table(
    reader: SourceReader,
    table: TableConfig,
    *,
    source: str,
    schedule: Schedule,
    window: Window,
    lake_root: LakePath,
    batch_id: str | None = None,
) -> Manifest:
    """Count the same rows in the source and compare with the manifest; record the count.

    Window and full tables must match exactly. A watermark table is live: rows updated since the
    extract move past its upper bound and late rows arrive below it, so a difference there is
    logged, not failed; the next run's lookback reads what came late.
    """
    partition = table_partition(lake_root, source, table, schedule, window, batch_id)
    manifest = current_manifest(partition, batch_id)
    problems = partition.missing_files(manifest)
    if problems:
        raise IncompletePartitionError(f"{partition.path}: " + "; ".join(problems))
    columns = reader.describe(table)
    read = [c for c in columns if c.name in {f.name for f in manifest.schema_}]
    source_rows = reader.count(table, read or columns, _counted_window(table, manifest, window))
    if source_rows != manifest.rows:
        message = (
            f"{source}.{table.name} {partition.name}: the source has {source_rows} rows for these "
            f"bounds, the lake has {manifest.rows} (batch {manifest.batch_id})"
        )
        if table.mode is Mode.watermark:
            log.warning("%s; rows changed since the extract, the next run's lookback reads them", message)
        else:
            hint = " (a full snapshot of a table that changed meanwhile can differ)"
            raise ParityError(message + "; re-run the window" + (hint if table.mode is Mode.full else ""))
    manifest = apply_checks(partition, manifest, table.checks, reference_time=window.end)
    verified = manifest.model_copy(
        update={"source_query_rows": source_rows, "verified_at": dt.datetime.now(dt.UTC)}
    )
    partition.write_manifest(verified)
    log.info("%s.%s %s: %d rows in the source, %d in the lake", source, table.name, partition.name,
             source_rows, manifest.rows)  # fmt: skip
    return verified
