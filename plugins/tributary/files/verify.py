"""The verify and commit steps of a file table's batch.

Verify: every part the manifest lists is in the lake with its size; the rows in the parts'
Parquet footers equal the manifest's, and equal the rows read from the accepted files; then the
table's QA checks. Commit: the fence (the state the run planned from is still the newest committed
one, ``batches.commit_planned``: an overlapping run that committed first wins, so no
file is loaded twice); ``_SUCCESS`` last; then the rejected files go to the quarantine (if
the table has one: moved only now, so that a try failing before the commit leaves them where the
retry rejects them again); then, when files were rejected and the table's ``on_violation`` is
``fail``, the step fails naming them (the good files are committed: they are in the lake, in the
state, and the next run does not read them again). The manifest lists the rejected files, so a
retry of the commit fails alike and names them, moved or not.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pyarrow.parquet as pq

from tributary.batches import commit_planned
from tributary.checks import apply_checks
from tributary.config import FileTableConfig, OnViolation
from tributary.errors import ConfigError, IncompletePartitionError, ParityError, RejectedFilesError
from tributary.files.extract import files_partition, last_state, rejected_lines
from tributary.files.landing import Landing, quarantine
from tributary.lake import LakePath
from tributary.lake_io import LakeRoot
from tributary.manifest import Manifest

log = logging.getLogger(__name__)


def _footer_rows(fh: Any) -> int:
    return int(pq.ParquetFile(fh).metadata.num_rows)


def verify_files(
    table: FileTableConfig,
    *,
    source: str,
    lake_root: LakePath | LakeRoot,
    batch_id: str,
    reference_time: dt.datetime,
) -> Manifest:
    """Row parity of the batch (files read = manifest = Parquet footers), then the checks."""
    partition = files_partition(lake_root, source, table.name, batch_id)
    manifest = partition.read_manifest()
    problems = partition.missing_files(manifest)
    if problems:
        raise IncompletePartitionError(f"{partition.location}: " + "; ".join(problems))
    label = f"{source}.{table.name} {partition.name}"
    footers = {f.name: partition.read_file(f.name, _footer_rows) for f in manifest.files}
    wrong = [
        f"{f.name}: {footers[f.name]} rows, manifest says {f.rows}"
        for f in manifest.files
        if footers[f.name] != f.rows
    ]
    read = sum(f.rows for f in manifest.source_files)
    written = sum(footers.values())
    if wrong or not read == written == manifest.rows:
        raise ParityError(
            f"{label}: {read} rows read from {len(manifest.source_files)} file(s), {written} in the "
            f"Parquet parts, {manifest.rows} in the manifest"
            + ("; " + "; ".join(wrong) if wrong else "")
            + "; re-run the extract"
        )
    manifest = apply_checks(partition, manifest, table.checks, reference_time=reference_time)
    verified = manifest.model_copy(update={"source_query_rows": read, "verified_at": dt.datetime.now(dt.UTC)})
    partition.write_manifest(verified)
    log.info(
        "%s: %d rows read from %d file(s), %d in the lake", label, read, len(manifest.source_files), written
    )
    return verified


def commit_files(
    table: FileTableConfig,
    *,
    source: str,
    lake_root: LakePath | LakeRoot,
    batch_id: str,
    landing: Landing | None = None,
) -> Manifest:
    """``_SUCCESS`` for the verified batch; the rejected files to the quarantine (``landing``: the
    landing location, needed when the table has a quarantine); then the ``on_violation`` policy."""
    partition = files_partition(lake_root, source, table.name, batch_id)
    manifest = partition.read_manifest()
    if manifest.verified_at is None:
        raise IncompletePartitionError(f"{partition.location}: not verified; run the verify task first")
    # fenced: the state this run planned from must still be the newest committed one
    commit_planned(partition, manifest, lambda: last_state(lake_root, source, table.name), lake_root)
    label = f"{source}.{table.name} {partition.name}"
    log.info(
        "%s: committed (_SUCCESS written): %d rows from %d file(s)",
        label,
        manifest.rows,
        len(manifest.source_files),
    )
    to_move = [f for f in manifest.rejected_files if f.quarantined_to]
    if to_move:
        if landing is None:
            raise ConfigError(
                f"{label}: the table has a quarantine, and the commit was given no landing location"
            )
        for file in to_move:
            assert file.quarantined_to is not None
            quarantine(landing.root, file, file.quarantined_to)
    if manifest.rejected_files:
        text = (
            f"{label}: {len(manifest.rejected_files)} file(s) broke the contract and were not loaded "
            f"(the {len(manifest.source_files)} good file(s) are committed):\n"
            + "\n".join(rejected_lines(manifest))
        )
        if table.on_violation is OnViolation.fail:
            raise RejectedFilesError(
                text + "\nFix or replace the files in the landing zone (a new or changed file is loaded by "
                "the next run), or set on_violation: warn"
            )
        log.warning("%s", text)
    return manifest
