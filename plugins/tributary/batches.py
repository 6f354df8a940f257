"""Batches in the lake, whatever their source: what every feature's extract, verify and commit
share.

A run writes one batch into one partition. ``RunInfo`` is the run; ``new_batch_id`` names its
batch. A run plans from what is committed (``committed_partitions``, ``last_committed``), and a
batch planned from committed state commits fenced (``commit_planned``): it refuses if another
run committed since. ``summary`` is what a task puts in XCom. No Airflow imports here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tributary.errors import ConcurrentRunError
from tributary.lake import LakePath, Partition, list_partitions, segment_name
from tributary.lake_io import LakeRoot
from tributary.manifest import Manifest, ManifestFile, encode_schema, schema_fields

if TYPE_CHECKING:  # pyarrow where a batch is written: a commit or verify task reads manifests only
    import pyarrow as pa

    from tributary.parts import PartFile


@dataclass(frozen=True)
class RunInfo:
    """What identifies the Airflow run that writes a partition.

    :param run_start: when the DAG run began (the same for all its tries, however it was
        started: ``dag_support.run_clock``): a watermark run reads up to this minus the
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


# -- what is committed already ----------------------------------------------------------------

# The partition key of a table's tombstone partitions (deletes=<batch_id>, written by deletes:
# detect_by_keys; tributary.changes.shape describes them). They hold no rows of the table, so a
# run never plans from them: a watermark, a drift check or a fenced commit reads data partitions.
DELETES_PARTITION = "deletes"


def committed_partitions(
    lake_root: LakePath | LakeRoot, source: str, table: str, *, tombstones: bool = False
) -> Iterator[Partition]:
    """The table's committed data partitions, newest name first (batch ids and dates sort by
    time); with ``tombstones``, its ``deletes=`` partitions too."""
    for name in reversed(list_partitions(lake_root, source, table)):
        key, value = name.split("=", 1)
        if key == DELETES_PARTITION and not tombstones:
            continue
        partition = Partition(lake_root, source, table, key, value)
        if partition.is_committed():
            yield partition


def last_committed(lake_root: LakePath | LakeRoot, source: str, table: str) -> Manifest | None:
    """The manifest of the batch ``_SUCCESS`` names in the table's newest committed partition."""
    for partition in committed_partitions(lake_root, source, table):
        manifest = partition.committed_manifest()
        if manifest is not None:  # None: its _SUCCESS went since the listing
            return manifest
    return None


def committed_since(
    lake_root: LakePath | LakeRoot, source: str, table: str, batch_id: str | None
) -> Iterator[Manifest]:
    """The committed batches of a ``batch=`` table newer than ``batch_id`` (all, if ``None``)."""
    for partition in committed_partitions(lake_root, source, table):
        if batch_id is not None and partition.value <= batch_id:
            return
        manifest = partition.committed_manifest()
        if manifest is not None:
            yield manifest


# -- the fenced commit ------------------------------------------------------------------------


def commit_planned(
    partition: Partition,
    manifest: Manifest,
    latest: Callable[[], Manifest | None],
    lake_root: LakePath | LakeRoot,
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


# -- what a task reports ----------------------------------------------------------------------


def partition_of(lake_root: LakePath | LakeRoot, manifest: Manifest) -> Partition:
    """The partition ``manifest`` describes: its ``partition`` is the folder's ``key=value``."""
    key, value = (segment_name(side) for side in manifest.partition.split("=", 1))
    return Partition(lake_root, manifest.source, manifest.table, key, value)


def summary(manifest: Manifest, lake_root: LakePath | LakeRoot) -> dict[str, Any]:
    """What the tasks put in XCom: the partition's path and counts, never rows."""
    return {
        "table": manifest.table,
        "partition": manifest.partition,
        "path": str(partition_of(lake_root, manifest).path),
        "batch_id": manifest.batch_id,
        "rows": manifest.rows,
        "files": len(manifest.files),
        "source_rows": manifest.source_query_rows,
        "high_watermark": manifest.high_watermark.isoformat() if manifest.high_watermark else None,
    }


def written_manifest(
    partition: Partition,
    *,
    table: str,
    mode: str,
    batch_id: str,
    run: RunInfo,
    parts: list[PartFile],
    schema: pa.Schema,
    created_at: dt.datetime | None = None,
    **fields: Any,
) -> Manifest:
    """The manifest of a batch just written into ``partition``: its parts (rows, bytes, sha256),
    its schema (with the audit columns, and as Arrow for later drift checks), the run that wrote
    it, and what the feature records besides (``fields``: the window, watermark, positions, ...)."""
    from tributary.audit import with_audit_schema

    return Manifest(
        source=partition.source,
        table=table,
        mode=mode,
        partition=partition.name,
        batch_id=batch_id,
        dag_id=run.dag_id,
        run_id=run.run_id,
        created_at=created_at or dt.datetime.now(dt.UTC),
        rows=sum(p.rows for p in parts),
        files=[ManifestFile(name=p.name, rows=p.rows, bytes=p.bytes, sha256=p.sha256) for p in parts],
        schema=schema_fields(with_audit_schema(schema)),
        arrow_schema=encode_schema(schema),
        **fields,
    )
