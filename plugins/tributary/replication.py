"""Extract, verify and commit one table's partition for one run: the work of a task group.

Plain functions over a source reader and a lake root; the Airflow operators only build those two
from connection ids and call these.

Window and full tables write the partition of the run's window (``month=``, ``day=``,
``snapshot_date=``). Watermark tables write a new ``batch=<id>`` partition per run; their state,
the high watermark, is read from the last committed manifest, so it can never disagree with the
data, and a failed run leaves it where it was. The manifest records the batch it planned from,
and the commit refuses if another batch was committed since (``commit_planned``).
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tributary.audit import Audit, with_audit_schema
from tributary.checks import apply_checks
from tributary.config import Mode, NullWatermark, Schedule, TableConfig, parse_duration
from tributary.dialects.columns import Column
from tributary.drift import plan
from tributary.errors import CatalogError, ConcurrentRunError, IncompletePartitionError, ParityError
from tributary.lake import LakePath, Partition, list_partitions
from tributary.manifest import Manifest, ManifestFile, decode_schema, encode_schema, schema_fields
from tributary.parts import column_max, write_parts
from tributary.readers.base import SourceReader
from tributary.windows import Window, partition_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInfo:
    """What identifies the Airflow run that writes a partition.

    :param run_start: when the DAG run began (the same for all its tries, however it was
        started: ``operators._common.run_clock``): a watermark run reads up to this minus the
        table's safety lag (default: now)
    :param full_refresh: a watermark run ignores the committed state once and reads everything
    """

    dag_id: str | None = None
    run_id: str | None = None
    run_start: dt.datetime | None = None
    full_refresh: bool = False


def new_batch_id(now: dt.datetime | None = None) -> str:
    """A batch id that sorts by creation time (to the microsecond: two runs in one second still
    sort in order), then a random suffix."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S%f}Z{uuid.uuid4().hex[:8]}"


def table_partition(
    lake_root: LakePath,
    source: str,
    table: TableConfig,
    schedule: Schedule,
    window: Window,
    batch_id: str | None = None,
) -> Partition:
    key, value = partition_for(table, schedule, window, batch_id)
    return Partition(lake_root, source, table.name, key, value)


# -- what is committed already ----------------------------------------------------------------


def committed_partitions(lake_root: LakePath, source: str, table: str) -> Iterator[Partition]:
    """The table's committed partitions, newest name first (batch ids and dates sort by time)."""
    for name in reversed(list_partitions(lake_root, source, table)):
        key, value = name.split("=", 1)
        partition = Partition(lake_root, source, table, key, value)
        if partition.is_committed():
            yield partition


def last_committed(lake_root: LakePath, source: str, table: str) -> Manifest | None:
    """The manifest of the batch ``_SUCCESS`` names in the table's newest committed partition."""
    for partition in committed_partitions(lake_root, source, table):
        manifest = partition.committed_manifest()
        if manifest is not None:  # None: its _SUCCESS went since the listing
            return manifest
    return None


def commit_planned(
    partition: Partition, manifest: Manifest, latest: Callable[[], Manifest | None], lake_root: LakePath
) -> None:
    """Commit a batch planned from committed state (a watermark, the landing-file state), fenced:
    ``latest()``, the newest committed batch now, must still be the one it planned from.

    Runs overlap (``max_active_runs``, a manual run beside a scheduled one): two runs that
    planned from the same state read the same rows or files, and the second commit would load
    them twice. So the second to commit fails, permanently, and commits nothing; a new run plans
    from the newer state. The check and ``_SUCCESS`` are two requests, so after ``_SUCCESS`` the
    commit looks again: a batch of another run planned from the same state and committed too
    means both passed the check at once, and this one takes its ``_SUCCESS`` back (each of the
    two writes before it looks, so at least one sees the other). A retry of a commit that wrote
    ``_SUCCESS`` skips the first check and keeps the second.
    """
    label = f"{manifest.source}.{manifest.table} {partition.name}"
    planned = f"batch {manifest.planned_from}" if manifest.planned_from else "no committed batch"
    advice = (
        "committing would load what that run loaded a second time. Nothing of this batch is "
        "committed: run the DAG again (a new run, or clear this run's task group) and it plans from "
        "the newer state"
    )
    if not partition.is_committed():
        newest = latest()
        now = newest.batch_id if newest is not None else None
        if now != manifest.planned_from:
            raise ConcurrentRunError(
                f"{label}: not committing: this run planned from {planned}, and batch {now} of another "
                f"run has been committed since; {advice}"
            )
    partition.commit(manifest)
    rivals = [
        other.batch_id
        for other in committed_since(lake_root, manifest.source, manifest.table, manifest.planned_from)
        if other.batch_id != manifest.batch_id and other.planned_from == manifest.planned_from
    ]
    if rivals:
        partition.begin()  # _SUCCESS back off: this batch is not committed
        raise ConcurrentRunError(
            f"{label}: not committing: this run planned from {planned}, and batch {', '.join(rivals)} "
            f"of another run planned from it too and was committed at the same time; {advice}"
        )


def committed_since(lake_root: LakePath, source: str, table: str, batch_id: str | None) -> Iterator[Manifest]:
    """The committed batches of a ``batch=`` table newer than ``batch_id`` (all, if ``None``)."""
    for partition in committed_partitions(lake_root, source, table):
        if batch_id is not None and partition.value <= batch_id:
            return
        manifest = partition.committed_manifest()
        if manifest is not None:
            yield manifest


# -- watermark bounds -------------------------------------------------------------------------


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


class _HighWatermark:
    """Passes batches through, remembering the largest value of one column."""

    def __init__(self, column: str) -> None:
        self.column = column
        self.value: dt.datetime | None = None

    def track(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self._see(pc.max(batch.column(self.column)).as_py())
            yield batch

    def track_files(self, paths: Iterable[Path]) -> None:
        self._see(column_max(paths, self.column))

    def _see(self, top: Any) -> None:
        if top is not None:
            if not isinstance(top, dt.datetime):
                top = dt.datetime.combine(top, dt.time())
            top = _utc(top)
            self.value = top if self.value is None else max(self.value, top)


def _check_watermark_column(table: TableConfig, columns: list[Column]) -> None:
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


# -- the three steps --------------------------------------------------------------------------


def extract_table(
    reader: SourceReader,
    table: TableConfig,
    *,
    source: str,
    schedule: Schedule,
    window: Window,
    lake_root: LakePath,
    run: RunInfo = RunInfo(),
    compression: str = "snappy",
    rows_per_file: int = 1_000_000,
    staging_dir: str | None = None,
) -> Manifest:
    """Stream the table's rows for this run into its partition and write the manifest.

    The partition loses ``_SUCCESS`` first and is not complete again until ``commit_table``.
    """
    columns = reader.describe(table)
    previous = last_committed(lake_root, source, table.name)
    drift = plan(
        columns,
        decode_schema(previous.arrow_schema) if previous and previous.arrow_schema else None,
        table.schema_drift,
        table=table.name,
    )
    batch_id = new_batch_id()
    watermark: dict[str, Any] = {}
    full_reload = False
    if table.mode is Mode.watermark:
        _check_watermark_column(table, drift.read)
        read_window, full_reload = watermark_window(table, previous, run)
        nulls = reader.count_nulls(table, drift.read, table.watermark_column or "")
        if nulls and not read_window.include_nulls:
            log.warning(
                "table %s: %d row(s) have a NULL %s and are not read by this run (null_watermark: %s%s)",
                table.name,
                nulls,
                table.watermark_column,
                table.null_watermark.value,
                "; a full_refresh run reads them"
                if table.null_watermark is NullWatermark.full_reload
                else "",
            )
        watermark = {
            "watermark_column": table.watermark_column,
            "watermark_low": read_window.start,
            "watermark_high_bound": read_window.end,
            "full_refresh": full_reload,
            "null_watermark_rows": nulls,
            "planned_from": previous.batch_id if previous is not None else None,
        }
    elif table.mode is Mode.window:
        read_window = window
    else:
        read_window = None
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
    tracker = _HighWatermark(table.watermark_column or "")
    with tempfile.TemporaryDirectory(prefix="tributary-", dir=staging_dir) as tmp:
        staging = Path(tmp)
        parts = None
        if drift.is_identity:
            # the reader's own engine, if it has one (PostgreSQL: DuckDB writes the Parquet)
            parts = reader.write_parquet(
                table,
                drift.read,
                read_window,
                audit=audit,
                staging=staging,
                compression=compression,
                rows_per_file=rows_per_file,
                sessions=table.sessions,
                label=label,
            )
            if parts is not None and table.mode is Mode.watermark:
                tracker.track_files([staging / p.name for p in parts])
        if not parts:  # no engine of its own, or no rows (the empty part carries the schema)
            batches: Iterable[pa.RecordBatch] = ()
            if parts is None:
                batches = reader.batches(table, drift.read, read_window)
                if table.mode is Mode.watermark:
                    batches = tracker.track(batches)
            parts = write_parts(
                drift.conform(batches),
                schema=drift.schema,
                audit=audit,
                staging=staging,
                compression=compression,
                rows_per_file=rows_per_file,
                label=label,
            )
        partition.publish(staging, [p.name for p in parts])
    if table.mode is Mode.watermark:
        # a run that found nothing new keeps the state where it was
        carried = previous.high_watermark if previous and not full_reload else None
        found = [v for v in (tracker.value, carried) if v is not None]
        watermark["high_watermark"] = max(found) if found else None
    manifest = Manifest(
        source=source,
        table=table.name,
        mode=table.mode.value,
        partition=partition.name,
        batch_id=batch_id,
        dag_id=run.dag_id,
        run_id=run.run_id,
        window_start=read_window.start if read_window else None,
        window_end=read_window.end if read_window else None,
        created_at=dt.datetime.now(dt.UTC),
        rows=sum(p.rows for p in parts),
        files=[ManifestFile(name=p.name, rows=p.rows, bytes=p.bytes, sha256=p.sha256) for p in parts],
        schema=schema_fields(with_audit_schema(drift.schema)),
        arrow_schema=encode_schema(drift.schema),
        schema_changes=drift.changes,
        **watermark,
    )
    partition.write_manifest(manifest)
    log.info("%s: %d rows in %d file(s), manifest written", label, manifest.rows, len(parts))
    return manifest


def _current_manifest(partition: Partition, batch_id: str | None) -> Manifest:
    manifest = partition.read_manifest()
    if batch_id is not None and manifest.batch_id != batch_id:
        raise IncompletePartitionError(
            f"{partition.path}: the manifest is of batch {manifest.batch_id}, not {batch_id} that "
            "this run extracted; another run rewrote the partition, re-run the extract"
        )
    return manifest


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
    manifest = _current_manifest(partition, batch_id)
    problems = partition.missing_files(manifest)
    if problems:
        raise IncompletePartitionError(f"{partition.path}: " + "; ".join(problems))
    columns = reader.describe(table)
    read = [c for c in columns if c.name in {f.name for f in manifest.schema_}]
    if table.mode is Mode.watermark:
        assert manifest.watermark_high_bound is not None
        counted = Window(
            manifest.watermark_low,
            manifest.watermark_high_bound,
            include_nulls=bool(manifest.full_refresh and table.null_watermark is NullWatermark.full_reload),
        )
    else:
        counted = window if table.mode is Mode.window else None
    source_rows = reader.count(table, read or columns, counted)
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


def commit_table(
    table: TableConfig,
    *,
    source: str,
    schedule: Schedule,
    window: Window,
    lake_root: LakePath,
    batch_id: str | None = None,
) -> Manifest:
    """Write ``_SUCCESS``: the partition is complete and readers may use it."""
    partition = table_partition(lake_root, source, table, schedule, window, batch_id)
    manifest = _current_manifest(partition, batch_id)
    if manifest.verified_at is None:
        raise IncompletePartitionError(f"{partition.path}: not verified; run the verify task first")
    if table.mode is Mode.watermark:
        commit_planned(partition, manifest, lambda: last_committed(lake_root, source, table.name), lake_root)
    else:
        partition.commit(manifest)
    log.info("%s.%s %s: committed (_SUCCESS written)", source, table.name, partition.name)
    return manifest


def summary(manifest: Manifest, partition_path: Any) -> dict[str, Any]:
    """What the tasks put in XCom: paths and counts, never rows."""
    return {
        "table": manifest.table,
        "partition": manifest.partition,
        "path": str(partition_path),
        "batch_id": manifest.batch_id,
        "rows": manifest.rows,
        "files": len(manifest.files),
        "source_rows": manifest.source_query_rows,
        "high_watermark": manifest.high_watermark.isoformat() if manifest.high_watermark else None,
    }
