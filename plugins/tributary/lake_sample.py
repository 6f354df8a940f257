"""The first rows of a committed partition, read from the lake: only the parts the committed
batch lists (``_SUCCESS`` and its manifest), a few rows from each, never the whole file. No Airflow."""

from __future__ import annotations

from typing import Any

import pyarrow.parquet as pq

from tributary.batches import committed_partitions
from tributary.errors import IncompletePartitionError
from tributary.lake import LakePath, Partition, parse_partition
from tributary.lake_io import LakeRoot


def _committed(root: LakePath | LakeRoot, source: str, table: str, partition: str | None) -> Partition:
    if partition is not None:
        chosen = Partition(root, source, table, *parse_partition(partition))
        if not chosen.is_committed():
            raise IncompletePartitionError(f"{chosen.location}: not committed (no _SUCCESS); nothing to read")
        return chosen
    newest = next(committed_partitions(root, source, table), None)
    if newest is None:
        raise IncompletePartitionError(f"{source}.{table}: no committed partition in the lake")
    return newest


def sample_rows(
    root: LakePath | LakeRoot, source: str, table: str, rows: int, *, partition: str | None = None
) -> list[dict[str, Any]]:
    """Up to ``rows`` rows of ``partition`` (default: the newest committed one), part by part in
    the manifest's order."""
    chosen = _committed(root, source, table, partition)
    manifest = chosen.committed_manifest()
    if manifest is None:
        raise IncompletePartitionError(f"{chosen.location}: its _SUCCESS went while reading; try again")
    found: list[dict[str, Any]] = []
    for entry in manifest.files:
        wanted = rows - len(found)
        if wanted <= 0:
            break

        def head(fh: Any, wanted: int = wanted) -> list[dict[str, Any]]:
            for batch in pq.ParquetFile(fh).iter_batches(batch_size=wanted):
                return list(batch.to_pylist())
            return []

        found.extend(chosen.read_file(entry.name, head))
    return found[:rows]


__all__ = ["sample_rows"]
