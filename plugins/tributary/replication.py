"""Extract, verify and commit one table's partition for one window: the work of a task group.

Plain functions over a source reader and a lake root; the Airflow operators only build those two
from connection ids and call these.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.audit import Audit, with_audit_schema
from tributary.config import Mode, Schedule, TableConfig
from tributary.dialects.columns import schema_of
from tributary.errors import IncompletePartitionError, ParityError
from tributary.lake import LakePath, Partition
from tributary.manifest import Manifest, ManifestFile, schema_fields
from tributary.parts import write_parts
from tributary.readers.base import SourceReader
from tributary.windows import Window, partition_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunInfo:
    """What identifies the Airflow run that writes a partition."""

    dag_id: str | None = None
    run_id: str | None = None


def new_batch_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}Z{uuid.uuid4().hex[:8]}"


def table_partition(
    lake_root: LakePath, source: str, table: TableConfig, schedule: Schedule, window: Window
) -> Partition:
    key, value = partition_for(table, schedule, window)
    return Partition(lake_root, source, table.name, key, value)


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
    """Stream the table's rows for ``window`` into the partition and write its manifest.

    The partition loses ``_SUCCESS`` first and is not complete again until ``commit_table``.
    """
    columns = reader.describe(table)
    schema = schema_of(columns)
    partition = table_partition(lake_root, source, table, schedule, window)
    read_window = window if table.mode is Mode.window else None
    batch_id = new_batch_id()
    audit = Audit(batch_id, dt.datetime.now(dt.UTC), source)
    label = f"{source}.{table.name} {partition.name}"
    log.info("%s: extracting %d columns into %s (batch %s)", label, len(columns), partition.path, batch_id)

    partition.begin()
    with tempfile.TemporaryDirectory(prefix="tributary-", dir=staging_dir) as tmp:
        staging = Path(tmp)
        parts = write_parts(
            reader.batches(table, columns, read_window),
            schema=schema,
            audit=audit,
            staging=staging,
            compression=compression,
            rows_per_file=rows_per_file,
            label=label,
        )
        partition.publish(staging, [p.name for p in parts])
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
        schema=schema_fields(with_audit_schema(schema)),
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
    """Count the same window in the source and compare with the manifest; record the count."""
    partition = table_partition(lake_root, source, table, schedule, window)
    manifest = _current_manifest(partition, batch_id)
    problems = partition.missing_files(manifest)
    if problems:
        raise IncompletePartitionError(f"{partition.path}: " + "; ".join(problems))
    columns = reader.describe(table)
    source_rows = reader.count(table, columns, window if table.mode is Mode.window else None)
    if source_rows != manifest.rows:
        hint = " (a full snapshot of a table that changed meanwhile can differ)"
        raise ParityError(
            f"{source}.{table.name} {partition.name}: the source has {source_rows} rows for this "
            f"window, the lake has {manifest.rows} (batch {manifest.batch_id}); re-run the window"
            + (hint if table.mode is Mode.full else "")
        )
    verified = manifest.model_copy(
        update={"source_query_rows": source_rows, "verified_at": dt.datetime.now(dt.UTC)}
    )
    partition.write_manifest(verified)
    log.info("%s.%s %s: parity OK, %d rows", source, table.name, partition.name, source_rows)
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
    partition = table_partition(lake_root, source, table, schedule, window)
    manifest = _current_manifest(partition, batch_id)
    if manifest.verified_at is None:
        raise IncompletePartitionError(f"{partition.path}: not verified; run the verify task first")
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
    }
