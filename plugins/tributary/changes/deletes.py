"""``deletes: detect_by_keys``: tombstones for the keys the lake holds and the source has lost.

For sources without a change log to read (SQLite, a replica without slots, SQL Server without
change tracking). After a table's run has committed, this step:

1. reads the lake's current keys: the key columns, ``_op``, ``_ingestion_time`` and ``_batch_id``
   of the parts that every committed partition of the table names (data and ``deletes=``
   partitions alike), projected into local Parquet files through the lake root (only those
   columns' pages are fetched, from a local lake or an object store alike); per key the latest
   row (newest ``_ingestion_time``, then ``_batch_id``) decides, and a key whose latest row is a
   tombstone is gone;
2. reads the source's keys (an index-only read, ``SourceReader.keys``) into a local Parquet file;
3. anti-joins them in DuckDB (a database file in the staging folder, spilling to disk there):
   the lake's current keys the source lacks are the deleted keys;
4. refuses, writing nothing, when they are more than ``max_delete_fraction`` of the lake's keys
   (:class:`DeleteGuardError`): a short read must not delete half the lake;
5. writes them as tombstones (``tributary.changes.shape``) to a new ``deletes=<batch_id>``
   partition, committed like any partition (``_SUCCESS`` last).

The lake is read before the source, so a key committed after the source's keys were read (by
an overlapping run) cannot be taken for a deleted one. A crash before ``_SUCCESS`` leaves a
partition readers skip, and the next run detects the same keys again; a tombstoned key is no
longer current, so it is never tombstoned twice. No Airflow imports here.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from tributary.audit import Audit
from tributary.batches import RunInfo, committed_partitions, new_batch_id, written_manifest
from tributary.changes.shape import COMMIT_TIME, DELETES_PARTITION, OP, Op, tombstone_schema
from tributary.config import TableConfig
from tributary.dialects import DUCKDB
from tributary.dialects.columns import schema_of
from tributary.errors import TributaryError
from tributary.lake import LakePath, Partition
from tributary.lake_io import LakeRoot
from tributary.manifest import Manifest
from tributary.parts import PartFile, write_files, write_parts
from tributary.readers.base import SourceReader
from tributary.sql import render

log = logging.getLogger(__name__)

# what the lake's key files carry beside the key columns
_ORDER_COLUMNS = ("_ingestion_time", "_batch_id")
_READ_ROWS = 64_000
DUCKDB_MEMORY_LIMIT = "1GB"


class DeleteGuardError(TributaryError):
    """More of the lake's keys are missing from the source than the table's
    ``max_delete_fraction`` allows: nothing is written, the run fails."""

    permanent = True


@dataclass(frozen=True)
class KeyDiff:
    """What the comparison found: the lake's current keys, and the deleted ones in a file."""

    lake_keys: int
    deleted_keys: int
    deleted: Path


def detect_deletes(
    reader: SourceReader,
    table: TableConfig,
    *,
    source: str,
    lake_root: LakePath | LakeRoot,
    run: RunInfo | None = None,
    staging_dir: str | None = None,
) -> Manifest | None:
    """Tombstones for the table's keys that the lake holds and the source no longer has, in a
    committed ``deletes=<batch_id>`` partition; its manifest, or None when no key was deleted.

    Raises :class:`DeleteGuardError` (and writes nothing) when the deleted keys are more than
    ``table.max_delete_fraction`` of the lake's current keys.
    """
    run = run or RunInfo()
    label = f"{source}.{table.name}"
    columns = reader.key_columns(table)
    reader.release()  # no session held while the lake is read
    key_schema = schema_of(columns)
    with tempfile.TemporaryDirectory(prefix="tributary-deletes-", dir=staging_dir) as tmp:
        staging = Path(tmp)
        lake_files = lake_key_files(lake_root, source, table, staging / "lake")
        source_file = staging / "source_keys.parquet"
        try:
            write_files(
                reader.keys(table, columns),
                schema=key_schema,
                path_of=lambda _: source_file,
                rows_per_file=2**62,
                label=f"{label} source keys",
            )
        finally:
            reader.release()  # the session is not needed while DuckDB compares
        diff = compare_keys(staging, lake_files, source_file, table.primary_key)
        check_guard(table, label, diff)
        if not diff.deleted_keys:
            log.info("%s: no deleted key (%d current keys in the lake)", label, diff.lake_keys)
            return None
        return write_tombstones(table, key_schema, diff, source=source, lake_root=lake_root, run=run,
                                staging=staging)  # fmt: skip


def lake_key_files(
    lake_root: LakePath | LakeRoot, source: str, table: TableConfig, folder: Path
) -> list[Path]:
    """The key columns, ``_op``, ``_ingestion_time`` and ``_batch_id`` of every part named by a
    committed partition of the table, one local Parquet file per part in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [*table.primary_key, OP, *_ORDER_COLUMNS]
    files: list[Path] = []
    for partition in committed_partitions(lake_root, source, table.name, tombstones=True):
        manifest = partition.committed_manifest()
        if manifest is None:  # its _SUCCESS went since the listing: a re-run is rewriting it
            continue
        for entry in manifest.files:
            target = folder / f"keys-{len(files):06d}.parquet"

            def project(fh: BinaryIO, target: Path = target) -> int:
                return _project(fh, wanted, target)

            if partition.read_file(entry.name, project):
                files.append(target)
    log.info("%s.%s: the key columns of %d committed part(s) read", source, table.name, len(files))
    return files


def _project(fh: BinaryIO, wanted: list[str], target: Path) -> int:
    """Copy the ``wanted`` columns of one Parquet part into ``target`` (``_op`` NULL where the
    part has none: a data row); the rows copied (no file for an empty part)."""
    parquet = pq.ParquetFile(fh)
    present = [name for name in wanted if name in parquet.schema_arrow.names]
    if parquet.metadata.num_rows == 0:
        return 0
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in parquet.iter_batches(batch_size=_READ_ROWS, columns=present):
            if OP not in present:
                batch = batch.append_column(OP, pa.nulls(batch.num_rows, pa.string()))
            if writer is None:
                writer = pq.ParquetWriter(target, batch.schema, compression="none")
            writer.write_batch(batch)
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


def compare_keys(staging: Path, lake_files: list[Path], source_file: Path, key: list[str]) -> KeyDiff:
    """The lake's current keys and those of them the source lacks (written to ``deleted.parquet``
    in ``staging``), in a DuckDB whose database and spill files live in ``staging``."""
    import duckdb

    deleted = staging / "deleted.parquet"
    config: dict[str, Any] = {
        "memory_limit": DUCKDB_MEMORY_LIMIT,
        "temp_directory": str(staging / "spill"),
        "preserve_insertion_order": False,
    }
    with duckdb.connect(str(staging / "diff.duckdb"), config=config) as con:
        con.execute(render(DUCKDB, "extract_session"))  # UTC: timestamptz keys read back as written
        if not lake_files:
            return KeyDiff(0, 0, deleted)
        files = str(lake_files[0].parent / "*.parquet")  # lake_key_files writes one folder
        con.execute(render(DUCKDB, "lake_current_keys", values={"files": files}, columns=key))
        lake_keys = int(con.table("lake_current").shape[0])
        paths = {"source_keys": str(source_file), "target": str(deleted)}
        con.execute(render(DUCKDB, "deleted_keys", values=paths, columns=key))
    deleted_keys = pq.ParquetFile(deleted).metadata.num_rows
    return KeyDiff(lake_keys, deleted_keys, deleted)


def check_guard(table: TableConfig, label: str, diff: KeyDiff) -> None:
    """Refuse to tombstone more than ``max_delete_fraction`` of the lake's current keys."""
    if not diff.lake_keys:
        return
    fraction = diff.deleted_keys / diff.lake_keys
    if fraction > table.max_delete_fraction:
        raise DeleteGuardError(
            f"{label}: {diff.deleted_keys} of the {diff.lake_keys} keys in the lake are missing from "
            f"the source ({fraction:.1%}), more than max_delete_fraction {table.max_delete_fraction} "
            "allows; nothing was written. Check that the source read was complete (a short or "
            "failed read), that the table was not truncated or reloaded, and that the connection "
            "points at the right database; if the deletes are real, raise max_delete_fraction "
            "for this table for one run"
        )


def _tombstones(deleted: Path, schema: pa.Schema, commit_time: dt.datetime) -> Iterator[pa.RecordBatch]:
    """The deleted keys as tombstone batches of ``schema``: the keys, ``_op``, ``_commit_time``."""
    for batch in pq.ParquetFile(deleted).iter_batches(batch_size=_READ_ROWS):
        keys = [batch.column(i).cast(schema.field(i).type) for i in range(batch.num_columns)]
        extra = [
            pa.array([Op.delete.value] * batch.num_rows, pa.string()),
            pa.array([commit_time] * batch.num_rows, schema.field(COMMIT_TIME).type),
        ]
        yield pa.RecordBatch.from_arrays([*keys, *extra], schema=schema)


def write_tombstones(
    table: TableConfig,
    key_schema: pa.Schema,
    diff: KeyDiff,
    *,
    source: str,
    lake_root: LakePath | LakeRoot,
    run: RunInfo,
    staging: Path,
) -> Manifest:
    """The deleted keys as tombstones in a new, committed ``deletes=<batch_id>`` partition."""
    batch_id = new_batch_id()
    now = dt.datetime.now(dt.UTC)
    clock = run.run_start.astimezone(dt.UTC) if run.run_start else now
    schema = tombstone_schema(key_schema, table.primary_key)
    partition = Partition(lake_root, source, table.name, DELETES_PARTITION, batch_id)
    label = f"{source}.{table.name} {partition.name}"
    out = staging / "tombstones"
    out.mkdir()
    parts = write_parts(
        _tombstones(diff.deleted, schema, clock),
        schema=schema,
        audit=Audit(batch_id, now, source),
        staging=out,
        label=label,
    )
    manifest = _manifest(table, partition, run, schema, parts, diff, now)
    partition.begin()
    partition.publish(out, [p.name for p in parts])
    partition.write_manifest(manifest)
    partition.commit(manifest)
    log.info(
        "%s: %d tombstone(s) committed (%d current keys in the lake)",
        label,
        diff.deleted_keys,
        diff.lake_keys,
    )
    return manifest


def _manifest(
    table: TableConfig,
    partition: Partition,
    run: RunInfo,
    schema: pa.Schema,
    parts: list[PartFile],
    diff: KeyDiff,
    now: dt.datetime,
) -> Manifest:
    return written_manifest(
        partition,
        table=table.name,
        mode=table.mode.value,
        batch_id=partition.value,
        run=run,
        parts=parts,
        schema=schema,
        created_at=now,
        lake_keys=diff.lake_keys,
        deleted_keys=diff.deleted_keys,
    )
