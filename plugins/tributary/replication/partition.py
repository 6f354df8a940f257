"""The partition a table's run writes, and the manifest of the run's batch in it.

Window and full tables write the partition of the run's window (``month=``, ``day=``,
``snapshot_date=``); watermark tables a new ``batch=<id>`` partition per run.
"""

from __future__ import annotations

from tributary.config import Schedule, TableConfig
from tributary.errors import IncompletePartitionError
from tributary.lake import LakePath, Partition
from tributary.manifest import Manifest
from tributary.windows import Window, partition_for


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


def current_manifest(partition: Partition, batch_id: str | None) -> Manifest:
    """The partition's manifest, which must be of the batch this run extracted (if known)."""
    manifest = partition.read_manifest()
    if batch_id is not None and manifest.batch_id != batch_id:
        raise IncompletePartitionError(
            f"{partition.path}: the manifest is of batch {manifest.batch_id}, not {batch_id} that "
            "this run extracted; another run rewrote the partition, re-run the extract"
        )
    return manifest
