"""The batch of a ``cdc`` table: extract, verify and commit of one run's changes, and the check
that lets the slot advance.

Each run writes a ``batch=<id>`` partition: the table's changes in the run's bounds
(``CdcPlan``), with ``change_position_from``/``change_position_to`` in the manifest. The first
run of a table (no committed batch) and a ``full_refresh`` run also take a snapshot of the table:
its rows as ``_op = 'insert'`` at ``_lsn`` = the run's ``from_lsn`` (``_seq`` 0, 1, ...,
``_commit_time`` NULL), then the changes after it. The snapshot is read after the run planned,
so it may already hold changes that come again as change rows; silver applies rows by
``(key, _lsn, _seq)``, so every key ends at its latest change whatever the overlap.

Verify checks the written files against the manifest (every part, its size, its rows): change
rows have no source count to compare with. Commit is fenced like a watermark batch: the batch it
planned from must still be the newest committed one.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tributary.audit import Audit
from tributary.batches import RunInfo, commit_planned, last_committed, new_batch_id, written_manifest
from tributary.changes import mssql, postgres
from tributary.changes.pgoutput import parse_lsn
from tributary.changes.shape import COMMIT_TIME, LSN, OP, POSTGRES_POSITION, SEQ, Op, change_schema
from tributary.checks import apply_checks
from tributary.config import Mode, TableConfig
from tributary.dialects.columns import Column, schema_of
from tributary.errors import ConfigError, IncompletePartitionError, ParityError
from tributary.lake import LakePath, Partition
from tributary.lake_io import LakeRoot
from tributary.manifest import Manifest
from tributary.parts import write_parts
from tributary.readers.base import SourceReader
from tributary.readers.mssql import MsSqlReader

log = logging.getLogger(__name__)

BATCH = "batch"


def cdc_partition(lake_root: LakePath | LakeRoot, source: str, table: str, batch_id: str) -> Partition:
    return Partition(lake_root, source, table, BATCH, batch_id)


def require_change_log(reader: SourceReader, source: str, table: str) -> None:
    """``mode: cdc`` reads PostgreSQL's log or SQL Server's change tracking or CDC; on another
    source (SQLite) it fails, saying what to use."""
    dialect = reader.dialect.name
    if dialect in ("postgres", "mssql"):
        return
    raise ConfigError(
        f"{source}.{table}: mode 'cdc' reads a change log (PostgreSQL's write-ahead log, SQL "
        f"Server's change tracking or CDC), and connection {reader.conn_id!r} is a {dialect} source, "
        "which has none; use mode 'full', 'window' or 'watermark', with deletes: detect_by_keys to "
        "capture deletes"
    )


def _snapshot(
    reader: SourceReader, table: TableConfig, columns: list[Column], lsn: int, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    """A truncate at ``(lsn, 0)`` -- what the lake held of the table before is replaced, keys
    deleted while no change was read included -- then the table's rows now, as inserts at
    ``lsn``, ``_seq`` 1, 2, ..."""
    marker = {name: pa.nulls(1, schema.field(name).type) for name in schema.names}
    marker.update(
        {OP: pa.array([Op.truncate.value]), LSN: pa.array([lsn], pa.int64()), SEQ: pa.array([0], pa.int64())}
    )
    yield pa.RecordBatch.from_arrays(list(marker.values()), schema=schema)
    seq = 1
    for batch in reader.batches(table, columns, None):
        n = batch.num_rows
        extra = {
            OP: pa.array([Op.insert.value] * n, pa.string()),
            LSN: pa.array([lsn] * n, pa.int64()),
            SEQ: pa.array(range(seq, seq + n), pa.int64()),
            COMMIT_TIME: pa.nulls(n, pa.timestamp("us", tz="UTC")),
        }
        seq += n
        yield pa.RecordBatch.from_arrays([*batch.columns, *extra.values()], schema=schema)


def _rows(
    reader: SourceReader,
    table: TableConfig,
    columns: list[Column],
    cdc: postgres.CdcPlan,
    snapshot: bool,
    label: str,
) -> Iterable[pa.RecordBatch]:
    schema = change_schema(schema_of(columns), POSTGRES_POSITION)
    if snapshot:
        log.info("%s: a snapshot of the table first, as inserts at %s", label, cdc.from_lsn)
        yield from _snapshot(reader, table, columns, parse_lsn(cdc.from_lsn), schema)
    yield from postgres.change_batches(
        reader.connection,
        cdc,
        schema=reader.schema_name(table),
        table=table.name,
        columns=columns,
        batch_size=table.batch_size,
        label=label,
    )


def extract_changes(
    reader: SourceReader,
    table: TableConfig,
    cdc: postgres.CdcPlan,
    *,
    source: str,
    lake_root: LakePath | LakeRoot,
    run: RunInfo | None = None,
    compression: str = "snappy",
    rows_per_file: int = 1_000_000,
    staging_dir: str | None = None,
) -> Manifest:
    """Write the table's changes in the run's bounds (and a snapshot, on its first run or a
    ``full_refresh``) into a new ``batch=`` partition, with its manifest; nothing is committed."""
    require_change_log(reader, source, table.name)
    run = run or RunInfo()
    columns = reader.describe(table)
    previous = last_committed(lake_root, source, table.name)
    snapshot = previous is None or run.full_refresh
    schema = change_schema(schema_of(columns), POSTGRES_POSITION)
    label = f"{source}.{table.name}"
    log.info("%s: changes after %s up to %s from slot %r", label, cdc.from_lsn, cdc.upto_lsn, cdc.slot)
    return _write_batch(
        table,
        _rows(reader, table, columns, cdc, snapshot, label),
        schema,
        _Batch(source, run, previous, snapshot, cdc.from_lsn, cdc.upto_lsn),
        lake_root=lake_root,
        compression=compression,
        rows_per_file=rows_per_file,
        staging_dir=staging_dir,
    )


def extract_mssql_changes(
    reader: MsSqlReader,
    table: TableConfig,
    *,
    source: str,
    lake_root: LakePath | LakeRoot,
    run: RunInfo | None = None,
    compression: str = "snappy",
    rows_per_file: int = 1_000_000,
    staging_dir: str | None = None,
) -> Manifest:
    """A SQL Server ``cdc`` table's batch: its changes since the last committed position
    (CDC, else Change Tracking; ``tributary.changes.mssql``), or a baseline of the table on its
    first run or a ``full_refresh``. Its positions live in the manifests: no slot to advance."""
    run = run or RunInfo()
    previous = last_committed(lake_root, source, table.name)
    change_plan = mssql.plan(reader, table, None if run.full_refresh else previous)
    columns = reader.describe(table)
    schema, batches = mssql.read_changes(reader, table, columns, change_plan)
    log.info(
        "%s.%s: %s %s after %s up to %s",
        source,
        table.name,
        change_plan.mechanism.value,
        "baseline" if change_plan.baseline else "changes",
        change_plan.since,
        change_plan.upto,
    )
    batch = _Batch(source, run, previous, change_plan.baseline, change_plan.since, change_plan.upto)
    return _write_batch(
        table,
        batches,
        schema,
        batch,
        lake_root=lake_root,
        compression=compression,
        rows_per_file=rows_per_file,
        staging_dir=staging_dir,
    )


@dataclass(frozen=True)
class _Batch:
    """What a change batch's manifest records besides its files."""

    source: str
    run: RunInfo
    previous: Manifest | None
    snapshot: bool
    position_from: str | None
    position_to: str


def _write_batch(
    table: TableConfig,
    rows: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    batch: _Batch,
    *,
    lake_root: LakePath | LakeRoot,
    compression: str,
    rows_per_file: int,
    staging_dir: str | None,
) -> Manifest:
    """``rows`` into a new ``batch=`` partition's parts, then its manifest; nothing committed."""
    audit = Audit(new_batch_id(), dt.datetime.now(dt.UTC), batch.source)
    partition = cdc_partition(lake_root, batch.source, table.name, audit.batch_id)
    label = f"{batch.source}.{table.name} {partition.name}"
    partition.begin()
    with tempfile.TemporaryDirectory(prefix="tributary-", dir=staging_dir) as tmp:
        parts = write_parts(
            rows,
            schema=schema,
            audit=audit,
            staging=Path(tmp),
            compression=compression,
            rows_per_file=rows_per_file,
            label=label,
        )
        partition.publish(Path(tmp), [p.name for p in parts])
    manifest = written_manifest(
        partition,
        table=table.name,
        mode=Mode.cdc.value,
        batch_id=audit.batch_id,
        run=batch.run,
        parts=parts,
        schema=schema,
        full_refresh=batch.snapshot,
        planned_from=batch.previous.batch_id if batch.previous is not None else None,
        change_position_from=batch.position_from,
        change_position_to=batch.position_to,
    )
    partition.write_manifest(manifest)
    log.info("%s: %d change rows in %d file(s), manifest written", label, manifest.rows, len(parts))
    return manifest


def _manifest(partition: Partition, batch_id: str) -> Manifest:
    manifest = partition.read_manifest()
    if manifest.batch_id != batch_id:
        raise IncompletePartitionError(
            f"{partition.path}: the manifest is of batch {manifest.batch_id}, not {batch_id} that this "
            "run extracted; re-run the extract"
        )
    return manifest


def _footer_rows(fh: Any) -> int:
    return int(pq.ParquetFile(fh).metadata.num_rows)


def verify_changes(
    table: TableConfig, *, source: str, lake_root: LakePath | LakeRoot, batch_id: str
) -> Manifest:
    """The written files against the manifest (present, sizes, rows in their footers), then the
    table's QA checks (on change rows). No count against the source: a log has none to compare."""
    partition = cdc_partition(lake_root, source, table.name, batch_id)
    manifest = _manifest(partition, batch_id)
    problems = partition.missing_files(manifest)
    if problems:
        raise IncompletePartitionError(f"{partition.path}: " + "; ".join(problems))
    wrong = [
        f"{f.name}: {rows} rows, the manifest says {f.rows}"
        for f in manifest.files
        if (rows := partition.read_file(f.name, _footer_rows)) != f.rows
    ]
    if wrong:
        raise ParityError(f"{partition.path}: " + "; ".join(wrong))
    manifest = apply_checks(partition, manifest, table.checks, reference_time=dt.datetime.now(dt.UTC))
    verified = manifest.model_copy(update={"verified_at": dt.datetime.now(dt.UTC)})
    partition.write_manifest(verified)
    return verified


def commit_changes(
    table: TableConfig, *, source: str, lake_root: LakePath | LakeRoot, batch_id: str
) -> Manifest:
    """``_SUCCESS``, fenced: the batch this run planned from must still be the newest committed."""
    partition = cdc_partition(lake_root, source, table.name, batch_id)
    manifest = _manifest(partition, batch_id)
    if manifest.verified_at is None:
        raise IncompletePartitionError(f"{partition.path}: not verified; run the verify task first")
    commit_planned(partition, manifest, lambda: last_committed(lake_root, source, table.name), lake_root)
    log.info("%s.%s %s: committed (_SUCCESS written)", source, table.name, partition.name)
    return manifest


def behind(lake_root: LakePath | LakeRoot, source: str, tables: list[str], upto_lsn: str) -> list[str]:
    """The tables whose newest committed batch does not reach ``upto_lsn``: while there is one,
    the slot must not advance to it."""
    late = []
    for name in tables:
        manifest = last_committed(lake_root, source, name)
        if manifest is None or manifest.change_position_to != upto_lsn:
            late.append(f"{name} ({manifest.change_position_to if manifest else 'nothing committed'})")
    return late
