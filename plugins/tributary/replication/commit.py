"""The commit step of a table's partition: ``_SUCCESS`` once it is verified."""

from __future__ import annotations

import logging

from tributary.batches import commit_planned, last_committed
from tributary.config import Mode, Schedule, TableConfig
from tributary.errors import IncompletePartitionError
from tributary.lake import LakePath
from tributary.manifest import Manifest
from tributary.replication.partition import current_manifest, table_partition
from tributary.windows import Window

log = logging.getLogger(__name__)


def commit_table(
    table: TableConfig,
    *,
    source: str,
    schedule: Schedule,
    window: Window,
    lake_root: LakePath,
    batch_id: str | None = None,
) -> Manifest:
    """Write ``_SUCCESS``: the partition is complete and readers may use it.

    A watermark table's batch is fenced (``batches.commit_planned``): the batch it planned from
    must still be the newest committed one.
    """
    partition = table_partition(lake_root, source, table, schedule, window, batch_id)
    manifest = current_manifest(partition, batch_id)
    if manifest.verified_at is None:
        raise IncompletePartitionError(f"{partition.path}: not verified; run the verify task first")
    if table.mode is Mode.watermark:
        commit_planned(partition, manifest, lambda: last_committed(lake_root, source, table.name), lake_root)
    else:
        partition.commit(manifest)
    log.info("%s.%s %s: committed (_SUCCESS written)", source, table.name, partition.name)
    return manifest
