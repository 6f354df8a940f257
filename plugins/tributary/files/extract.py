"""The extract step of a file table: the new and changed landing files into a ``batch=<id>``
partition, with each row's ``_source_file`` and ``_file_modified_time``.

Each file is read, converted to the contract and written as Parquet parts of its own (so a
part's audit columns are one file's), file after file: memory holds one batch. A file that
breaks the contract is not written; it is listed in the manifest with its violations and, if
the table has a ``quarantine`` prefix, the place there that the commit moves it to once the
batch is committed (``verify.commit_files``). Unchanged files are skipped, and files modified
within the table's ``quiet_period`` wait for a later run (``state``). A run with nothing new
still commits its batch: one part with the schema and no rows, so that the table's checks run
(``row_count: {min: 1}`` or ``freshness`` catch a feed that stopped).
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa

from tributary.audit import Audit
from tributary.batches import RunInfo, committed_partitions, new_batch_id, written_manifest
from tributary.config import FileTableConfig, parse_duration
from tributary.files.contract import FileRejected, contract_schema
from tributary.files.landing import Landing, list_files, local_copy, quarantine_path
from tributary.files.read import read_file
from tributary.files.state import next_state, plan_files, settled
from tributary.lake import LakePath, Partition
from tributary.lake_io import LakeRoot
from tributary.manifest import (
    LandingFile,
    LoadedFile,
    Manifest,
    RejectedFile,
)
from tributary.parts import PartFile, part_name, write_parts

log = logging.getLogger(__name__)

PARTITION_KEY = "batch"


def files_partition(lake_root: LakePath | LakeRoot, source: str, table: str, batch_id: str) -> Partition:
    return Partition(lake_root, source, table, PARTITION_KEY, batch_id)


def last_state(lake_root: LakePath | LakeRoot, source: str, table: str) -> Manifest | None:
    """The manifest of the table's newest committed batch. Batch ids sort by their second
    (``YYYYmmddTHHMMSSZ``) and then by a random suffix, so among the batches of the newest
    second the latest ``created_at`` wins."""
    newest: Manifest | None = None
    for partition in committed_partitions(lake_root, source, table):
        if newest is not None and partition.value[:16] != newest.batch_id[:16]:
            break
        manifest = partition.committed_manifest()
        if manifest is None:  # its _SUCCESS went since the listing: a re-run is rewriting it
            continue
        if newest is None or manifest.created_at > newest.created_at:
            newest = manifest
    return newest


class _Counted:
    """Passes batches through, counting the rows read from the file."""

    def __init__(self) -> None:
        self.rows = 0

    def count(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            self.rows += batch.num_rows
            yield batch


@dataclass(frozen=True)
class _Plan:
    """The files a run loads, against the committed state it planned from."""

    previous: Manifest | None  # the newest committed batch: the state
    listed: list[LandingFile]
    todo: list[LandingFile]  # new or changed, and settled
    same: list[LandingFile]  # unchanged: skipped
    waiting: list[LandingFile]  # within the quiet period: a later run loads them


def _plan(
    table: FileTableConfig, landing: Landing, lake_root: LakePath | LakeRoot, source: str, run: RunInfo
) -> _Plan:
    previous = last_state(lake_root, source, table.name)
    listed = list_files(landing.root, table.glob, exclude=table.quarantine)
    # full_refresh: every matching file again, as if nothing had been committed
    todo, same = plan_files(listed, None if run.full_refresh else previous)
    todo, waiting = settled(todo, parse_duration(table.quiet_period), dt.datetime.now(dt.UTC))
    return _Plan(previous, listed, todo, same, waiting)


def _log_plan(label: str, table: FileTableConfig, landing: Landing, plan: _Plan) -> None:
    log.info(
        "%s: %d file(s) match %s/%s: %d new or changed, %d unchanged (skipped), %d waiting",
        label,
        len(plan.listed),
        landing.url,
        table.glob,
        len(plan.todo),
        len(plan.same),
        len(plan.waiting),
    )
    for file in plan.waiting:
        assert file.modified is not None
        log.info(
            "%s: %s was modified at %s, within the quiet period of %s: waiting (it may still be being "
            "written); a later run loads it",
            label,
            file.path,
            file.modified.isoformat(),
            table.quiet_period,
        )


class _BatchFiles:
    """Loads files into one batch's staging folder, file after file, each into parts of its own
    (so that a part's audit columns are one file's), and keeps what became of each file."""

    def __init__(
        self,
        table: FileTableConfig,
        landing: Landing,
        audit: Audit,
        staging: Path,
        *,
        compression: str,
        rows_per_file: int,
        label: str,
    ) -> None:
        self.table = table
        self.landing = landing
        self.audit = audit  # of the batch: a file's adds its URL and modified time
        self.staging = staging
        self.compression = compression
        self.rows_per_file = rows_per_file
        self.label = label
        self.schema = contract_schema(table.contract)
        self.loaded: list[LoadedFile] = []
        self.rejected: list[RejectedFile] = []
        self.parts: list[PartFile] = []

    def load(self, number: int, file: LandingFile) -> None:
        """Write the file's parts, or note it rejected with its violations."""
        url = self.landing.file_url(file)
        audit = replace(self.audit, source_file=url, file_modified_time=file.modified)
        scratch = self.staging / f"file-{number:06d}"
        scratch.mkdir()
        counter = _Counted()
        try:
            with local_copy(self.landing.root, file, self.staging) as local:
                written = write_parts(
                    counter.count(read_file(local, self.table, workdir=scratch)),
                    schema=self.schema,
                    audit=audit,
                    staging=scratch,
                    compression=self.compression,
                    rows_per_file=self.rows_per_file,
                    label=f"{self.label} {file.path}",
                )
        except FileRejected as exc:
            shutil.rmtree(scratch, ignore_errors=True)
            self.rejected.append(RejectedFile(**file.model_dump(), violations=exc.violations))
            log.warning(
                "%s: %s breaks the contract, not loaded:\n%s",
                self.label,
                file.path,
                "\n".join("  " + v.describe(file.path) for v in exc.violations),
            )
            return
        names = [self._keep(scratch, part) for part in written if part.rows]  # no rows: no part
        shutil.rmtree(scratch, ignore_errors=True)
        self.loaded.append(LoadedFile(**file.model_dump(), rows=counter.rows, parts=names))
        log.info("%s: %s: %d rows loaded", self.label, file.path, counter.rows)

    def _keep(self, scratch: Path, part: PartFile) -> str:
        """Move a part of a file into the batch, numbered on from the batch's parts so far."""
        name = part_name(self.audit.batch_id, len(self.parts))
        (scratch / part.name).rename(self.staging / name)
        self.parts.append(PartFile(name, part.rows, part.bytes, part.sha256))
        return name

    def finish(self) -> list[PartFile]:
        """The batch's parts; if nothing new or nothing good, the schema in one part without rows."""
        if not self.parts:
            self.parts = write_parts(
                iter(()),
                schema=self.schema,
                audit=self.audit,
                staging=self.staging,
                compression=self.compression,
                label=self.label,
            )
        return self.parts


def _files_manifest(
    table: FileTableConfig,
    partition: Partition,
    landing: Landing,
    run: RunInfo,
    plan: _Plan,
    batch: _BatchFiles,
) -> Manifest:
    batch_id = batch.audit.batch_id
    rejected = batch.rejected
    if table.quarantine:
        # where the commit moves them, after _SUCCESS: a try that fails before leaves them in the
        # landing zone, so the retry rejects them again instead of committing without them
        rejected = [
            file.model_copy(update={"quarantined_to": quarantine_path(table.quarantine, batch_id, file)})
            for file in rejected
        ]
    return written_manifest(
        partition,
        table=table.name,
        mode="files",
        batch_id=batch_id,
        run=run,
        parts=batch.parts,
        schema=batch.schema,
        landing_url=landing.url,
        source_files=batch.loaded,
        rejected_files=rejected,
        unchanged_files=len(plan.same),
        waiting_files=plan.waiting,
        on_violation=table.on_violation.value,
        landing_state=next_state(plan.same, batch.loaded),
        planned_from=plan.previous.batch_id if plan.previous is not None else None,
    )


def extract_files(
    table: FileTableConfig,
    *,
    source: str,
    landing: Landing,
    lake_root: LakePath | LakeRoot,
    run: RunInfo | None = None,
    compression: str = "snappy",
    rows_per_file: int = 1_000_000,
    staging_dir: str | None = None,
) -> Manifest:
    """Load the table's new and changed files into a new batch partition and write its manifest.

    The partition is not committed: verify checks it, commit writes ``_SUCCESS``.
    """
    run = run or RunInfo()
    plan = _plan(table, landing, lake_root, source, run)
    batch_id = new_batch_id()
    partition = files_partition(lake_root, source, table.name, batch_id)
    label = f"{source}.{table.name} {partition.name}"
    _log_plan(label, table, landing, plan)
    audit = Audit(batch_id, dt.datetime.now(dt.UTC), source)
    partition.begin()
    with tempfile.TemporaryDirectory(prefix="tributary-files-", dir=staging_dir) as tmp:
        batch = _BatchFiles(
            table,
            landing,
            audit,
            Path(tmp),
            compression=compression,
            rows_per_file=rows_per_file,
            label=label,
        )
        for number, file in enumerate(plan.todo):
            batch.load(number, file)
        partition.publish(batch.staging, [p.name for p in batch.finish()])
    manifest = _files_manifest(table, partition, landing, run, plan, batch)
    partition.write_manifest(manifest)
    log.info(
        "%s: %d rows from %d file(s) in %d part(s); %d file(s) rejected; %d unchanged; manifest written",
        label,
        manifest.rows,
        len(batch.loaded),
        len(batch.parts),
        len(manifest.rejected_files),
        len(plan.same),
    )
    if manifest.rejected_files:
        log.warning(
            "%s: rejected file(s) (on_violation: %s):\n%s",
            label,
            table.on_violation.value,
            "\n".join(rejected_lines(manifest)),
        )
    return manifest


def rejected_lines(manifest: Manifest) -> list[str]:
    """One line per rejected file with its first violation, and its place in the quarantine."""
    lines = []
    for file in manifest.rejected_files:
        first = file.violations[0].describe() if file.violations else "?"
        more = f" (+{len(file.violations) - 1} more)" if len(file.violations) > 1 else ""
        moved = f"; quarantine: {file.quarantined_to}" if file.quarantined_to else ""
        lines.append(f"  {file.path}: {first}{more}{moved}")
    return lines
