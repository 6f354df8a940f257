"""What the lake holds of a table, partition by partition: the state a reader of the lake (the
``tributary status`` command, a future Lake view) shows, read from ``_SUCCESS`` markers and
manifests only, never the data files. No Airflow here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from tributary.errors import IncompletePartitionError
from tributary.lake import LakePath, Partition, list_partitions
from tributary.lake_io import LakeRoot
from tributary.manifest import Manifest

COMMITTED = "committed"
COMMITTED_FAILED_CHECKS = "committed, failed checks"
INCOMPLETE = "committed, incomplete"
NOT_COMMITTED = "written, not committed"
NOT_VERIFIED = "written, not verified"
FAILED_CHECKS = "failed checks"
FAILED_PARITY = "failed parity"
NO_MANIFEST = "no manifest"

_MONTH = re.compile(r"^(\d{4})-?(\d{2})")  # month=2025-01, day=2025-01-31, batch=20250131T...


@dataclass(frozen=True)
class PartitionStatus:
    """One partition as the lake shows it; ``problems`` says why it is not plainly committed."""

    partition: str
    state: str
    rows: int | None = None
    batch_id: str | None = None
    run_id: str | None = None
    verified_at: dt.datetime | None = None
    position: str | None = None  # the high watermark or the change position written up to
    problems: list[str] = field(default_factory=list)


def month_of(value: str) -> str | None:
    """``YYYY-MM`` of a partition value that starts with a date or a batch id (else ``None``)."""
    match = _MONTH.match(value)
    return f"{match[1]}-{match[2]}" if match else None


def _position(manifest: Manifest) -> str | None:
    if manifest.high_watermark is not None:
        return manifest.high_watermark.isoformat()
    return manifest.change_position_to


def _state(committed: bool, manifest: Manifest) -> tuple[str, list[str]]:
    failed = [f"{c.check}: {c.detail}" for c in manifest.checks if not c.passed]
    parity = (
        manifest.source_query_rows is not None
        and manifest.source_query_rows != manifest.rows
        and manifest.mode != "watermark"  # a live table: verify logs the difference, it does not fail
    )
    if committed:
        return (COMMITTED_FAILED_CHECKS, failed) if failed else (COMMITTED, [])
    if failed:
        return FAILED_CHECKS, failed
    if parity:
        return FAILED_PARITY, [f"the source has {manifest.source_query_rows} rows, the lake {manifest.rows}"]
    return (NOT_VERIFIED if manifest.verified_at is None else NOT_COMMITTED), []


def partition_status(partition: Partition) -> PartitionStatus:
    """The state of one partition: committed (``_SUCCESS`` names a complete batch), committed but
    incomplete, written and not committed (or not verified), failed checks or parity, no manifest."""
    state = partition.state()
    try:
        manifest = partition.read_manifest()
    except IncompletePartitionError:
        name = INCOMPLETE if state.committed else NO_MANIFEST
        return PartitionStatus(partition.name, name, problems=state.problems)
    if state.committed and state.problems:
        name, problems = INCOMPLETE, state.problems
    else:
        name, problems = _state(state.committed, manifest)
    return PartitionStatus(
        partition=partition.name,
        state=name,
        rows=manifest.rows,
        batch_id=manifest.batch_id,
        run_id=manifest.run_id,
        verified_at=manifest.verified_at,
        position=_position(manifest),
        problems=problems,
    )


def table_status(
    root: LakePath | LakeRoot, source: str, table: str, *, start: str | None = None, end: str | None = None
) -> list[PartitionStatus]:
    """Every partition of a table, oldest first; ``start``/``end`` (``YYYY-MM``, inclusive) keep
    the partitions of those months (a partition whose value is no date is always kept)."""
    statuses = []
    for name in list_partitions(root, source, table):
        key, value = name.split("=", 1)
        month = month_of(value)
        if month is not None and ((start and month < start) or (end and month > end)):
            continue
        statuses.append(partition_status(Partition(root, source, table, key, value)))
    return statuses


__all__ = ["PartitionStatus", "month_of", "partition_status", "table_status"]
