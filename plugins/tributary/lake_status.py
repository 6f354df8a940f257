"""What the lake holds of a table, partition by partition: the state a reader of the lake (the
``tributary status`` command, the Lake view in the Airflow UI) shows, read from ``_SUCCESS``
markers and manifests (and, for ``status``, the partition's listing), never the data files. No
Airflow here.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from tributary.errors import IncompletePartitionError
from tributary.lake import LakePath, Partition, list_partitions
from tributary.lake_io import LakeRoot
from tributary.manifest import CheckResult, Manifest, RejectedFile

COMMITTED = "committed"
COMMITTED_FAILED_CHECKS = "committed, failed checks"
INCOMPLETE = "committed, incomplete"
NOT_COMMITTED = "written, not committed"
NOT_VERIFIED = "written, not verified"
FAILED_CHECKS = "failed checks"
FAILED_PARITY = "failed parity"
NO_MANIFEST = "no manifest"

T = TypeVar("T")
R = TypeVar("R")

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
    # the manifest read (None when there is none): the Lake view shows the rest of it
    manifest: Manifest | None = field(default=None, repr=False, compare=False)
    # or, read fast (the Lake view's overview), what the overview needs of it and its text
    brief: ManifestBrief | None = field(default=None, repr=False, compare=False)

    def full(self) -> Manifest | None:
        """The manifest, validated from the brief's text on first use (pydantic's errors then)."""
        if self.manifest is None and self.brief is not None:
            object.__setattr__(self, "manifest", Manifest.from_json(self.brief.text))
        return self.manifest

    @property
    def bytes(self) -> int | None:
        if self.brief is not None:
            return self.brief.bytes
        return sum(f.bytes for f in self.manifest.files) if self.manifest else None

    @property
    def dag_id(self) -> str | None:
        if self.brief is not None:
            return self.brief.dag_id
        return self.manifest.dag_id if self.manifest else None

    @property
    def window_start(self) -> dt.datetime | None:
        if self.brief is not None:
            return self.brief.window_start
        return self.manifest.window_start if self.manifest else None

    @property
    def checks(self) -> list[CheckResult]:
        return list(manifest.checks) if (manifest := self.full()) else []

    @property
    def schema_changes(self) -> list[str]:
        return list(manifest.schema_changes) if (manifest := self.full()) else []

    @property
    def rejected_files(self) -> list[RejectedFile]:
        return list(manifest.rejected_files) if (manifest := self.full()) else []

    @property
    def window_month(self) -> str | None:
        """``YYYY-MM`` of the run's window (a batch partition: the month its run replicated),
        else of the partition's value."""
        if (start := self.window_start) is not None:
            return start.strftime("%Y-%m")
        return month_of(self.partition.split("=", 1)[-1])


@dataclass(frozen=True)
class ManifestBrief:
    """What the Lake view's overview shows of a manifest, read without validating all of it; the
    whole manifest is validated from ``text`` when a page shows more (:meth:`PartitionStatus.full`)."""

    text: bytes
    bytes: int
    dag_id: str | None
    window_start: dt.datetime | None


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
    return commit_state(
        committed, failed, manifest.mode, manifest.rows, manifest.source_query_rows, manifest.verified_at
    )


def commit_state(
    committed: bool, failed: list[str], mode: str, rows: int, source_rows: int | None, verified: Any
) -> tuple[str, list[str]]:
    """The state of a partition with a manifest, and its problems, from ``_SUCCESS`` there? and
    the manifest's failed checks (``check: detail``), mode, rows, source rows and verification."""
    # a live table (watermark): verify logs a difference of rows, it does not fail
    parity = source_rows is not None and source_rows != rows and mode != "watermark"
    if committed:
        return (COMMITTED_FAILED_CHECKS, failed) if failed else (COMMITTED, [])
    if failed:
        return FAILED_CHECKS, failed
    if parity:
        return FAILED_PARITY, [f"the source has {source_rows} rows, the lake {rows}"]
    return (NOT_VERIFIED if verified is None else NOT_COMMITTED), []


def partition_status(partition: Partition, *, check_files: bool = True, root: Any = None) -> PartitionStatus:
    """The state of one partition: committed (``_SUCCESS`` names a complete batch), committed but
    incomplete, written and not committed (or not verified), failed checks or parity, no manifest.

    ``check_files=False`` reads only ``_SUCCESS`` and the manifest (two requests; the Lake view):
    a committed partition whose files were removed by hand then shows as committed; with
    ``check_files`` (``tributary status``) the partition is listed and every file's size compared.
    With ``root`` (and no ``check_files``), the lake's path in a request of the caller's, the
    partition is read in that request (see :func:`read_partitions`).
    """
    if check_files:
        return _checked_status(partition)
    committed, manifest, problems = partition.marker_and_manifest(root)
    if manifest is None:
        return PartitionStatus(partition.name, INCOMPLETE if committed else NO_MANIFEST, problems=problems)
    if problems:
        return _status(partition, manifest, INCOMPLETE, problems)
    return _status(partition, manifest, *_state(committed, manifest))


def _checked_status(partition: Partition) -> PartitionStatus:
    state = partition.state()
    try:
        manifest = partition.read_manifest()
    except IncompletePartitionError:
        name = INCOMPLETE if state.committed else NO_MANIFEST
        return PartitionStatus(partition.name, name, problems=state.problems)
    if state.committed and state.problems:
        return _status(partition, manifest, INCOMPLETE, state.problems)
    return _status(partition, manifest, *_state(state.committed, manifest))


def _status(partition: Partition, manifest: Manifest, state: str, problems: list[str]) -> PartitionStatus:
    return PartitionStatus(
        partition=partition.name,
        state=state,
        rows=manifest.rows,
        batch_id=manifest.batch_id,
        run_id=manifest.run_id,
        verified_at=manifest.verified_at,
        position=_position(manifest),
        problems=problems,
        manifest=manifest,
    )


def read_partitions(
    root: LakePath | LakeRoot, source: str, table: str, names: list[str]
) -> list[PartitionStatus]:
    """The partitions ``names`` (``key=value``) of a table, from ``_SUCCESS`` and the manifest
    only, read in one request to the lake (retried as a whole): a request per partition costs
    more than reading its two small files when there are thousands (the Lake view)."""
    lake = LakeRoot.fixed(root)
    partitions = [Partition(lake, source, table, *name.split("=", 1)) for name in names]

    def read(path: Any) -> list[PartitionStatus]:
        return [partition_status(p, check_files=False, root=path) for p in partitions]

    return lake.run(f"read the manifests of {len(names)} partition(s) of {source}.{table}", read)


def in_parallel(function: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(function, items)`` on ``workers`` threads (in order); one thread: plain ``map``.
    Requests to an object store wait on the network, so a few at once cut a page's time."""
    if workers <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lake-status") as pool:
        yield from pool.map(function, items)


def table_status(
    root: LakePath | LakeRoot,
    source: str,
    table: str,
    *,
    start: str | None = None,
    end: str | None = None,
    check_files: bool = True,
    workers: int = 1,
) -> list[PartitionStatus]:
    """Every partition of a table, oldest first; ``start``/``end`` (``YYYY-MM``, inclusive) keep
    the partitions of those months (a partition whose value is no date is always kept).
    ``workers`` partitions are read at once (see :func:`partition_status` for ``check_files``)."""
    partitions = []
    for name in list_partitions(root, source, table):
        key, value = name.split("=", 1)
        month = month_of(value)
        if month is not None and ((start and month < start) or (end and month > end)):
            continue
        partitions.append(Partition(root, source, table, key, value))
    read = partial(partition_status, check_files=check_files)
    return list(in_parallel(read, partitions, workers))


__all__ = [
    "COMMITTED",
    "COMMITTED_FAILED_CHECKS",
    "FAILED_CHECKS",
    "FAILED_PARITY",
    "INCOMPLETE",
    "NOT_COMMITTED",
    "NOT_VERIFIED",
    "NO_MANIFEST",
    "ManifestBrief",
    "PartitionStatus",
    "commit_state",
    "in_parallel",
    "month_of",
    "partition_status",
    "read_partitions",
    "table_status",
]
