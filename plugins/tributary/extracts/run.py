"""One extract, one run: its rows into a file, the file published atomically, the outcome told.

A local target gets the file under a temporary name in its own folder (``.<name>.<id>.tmp``),
fsynced and renamed over the final name: readers see the old file or the new one, never half of
one, and a re-run of the window replaces it. An object store (s3://, gs://) gets the file staged
on the worker's disk first; the source is released before the upload, which goes to a temporary
key next to the final one, is checked for its size and then copied to the final key on the server
side, and the temporary key is removed. (An upload that fails half-way can leave a partial object
under the key it was writing; it is never the final key.) Every request to the store goes through
the lake layer's in-place retries.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import posixpath
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pyarrow as pa

from tributary.errors import ConfigError, LakeError
from tributary.extracts.config import Extract
from tributary.extracts.file_names import file_name
from tributary.extracts.sources import Rows
from tributary.extracts.writers import Written, write_file
from tributary.lake_io import LakeRoot
from tributary.windows import Window

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 10.0
SUCCESS = "success"
FAILED = "failed"


@dataclass
class Outcome:
    """What one extract did in one run: a row of the extract history."""

    extract_name: str
    execution_group: str
    config_file: str
    source: str
    format: str
    status: str
    window_start: str | None
    window_end: str | None
    started_at: str
    finished_at: str | None = None
    duration_seconds: float | None = None
    rows: int | None = None
    bytes: int | None = None
    file: str | None = None
    error: str | None = None
    try_number: int | None = None

    @classmethod
    def start(cls, extract: Extract, window: Window) -> Outcome:
        config = extract.config
        return cls(
            extract_name=config.name,
            execution_group=config.execution_group,
            config_file=str(extract.path),
            source=f"{config.source.label} ({config.source.conn_id})",
            format=config.file.extension,
            status="running",
            window_start=window.start.isoformat() if window.start else None,
            window_end=window.end.isoformat(),
            started_at=_now().isoformat(),
        )

    def finish(self, status: str, *, error: str | None = None) -> Outcome:
        finished = _now()
        self.status = status
        self.error = error
        self.finished_at = finished.isoformat()
        self.duration_seconds = round(
            (finished - dt.datetime.fromisoformat(self.started_at)).total_seconds(), 3
        )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def target_url(extract: Extract, window: Window) -> str:
    """The URL of the file this run writes."""
    assert window.start is not None
    return f"{extract.config.target.resolved_url()}/{file_name(extract.config, window.start, window.end)}"


def inside_target(extract: Extract, base: str, relative: str) -> Path | None:
    """The local path of ``relative`` under the target ``base`` (``None`` for an object store),
    refused unless it stays under the target once ``..`` and, locally, symbolic links are
    followed."""
    normal = posixpath.normpath(relative) if relative else ""
    stays = normal == relative and normal not in ("", ".") and not normal.startswith(("/", "../", ".."))
    final = None
    if stays and base.startswith("file://"):
        root = Path(unquote(urlsplit(base).path))
        final = root / relative
        stays = final.parent.resolve().is_relative_to(root.resolve())
    if not stays:
        raise ConfigError(
            f"extract {extract.name!r}: key file.name {extract.config.file.name!r} renders {relative!r}, "
            f"which leads outside the target {base}; the file is not written"
        )
    return final


def run_extract(
    extract: Extract,
    window: Window,
    open_rows: Callable[[], contextlib.AbstractContextManager[Rows]],
    *,
    lake_root: Callable[[str, str | None], LakeRoot] | None = None,
    outcome: Outcome | None = None,
) -> Outcome:
    """Write the extract's file for ``window`` and publish it; the outcome of a success.

    :param open_rows: opens the source and gives the rows (the source is released when it ends)
    :param lake_root: builds the lake root of an object-store target (``tributary.hooks.lake``)
    :param outcome: the outcome to fill in (its start time is the extract's)
    """
    outcome = outcome or Outcome.start(extract, window)
    config = extract.config
    url = target_url(extract, window)
    base = config.target.resolved_url()
    relative = url[len(base) + 1 :]
    log.info("extract %s: %s from %s into %s", config.name, config.source.label, config.source.conn_id, url)

    def write(path: Path) -> Written:
        with open_rows() as rows:
            return write_file(rows.schema, _progress(config.name, rows.batches), config.file, path)

    if base.startswith("file://"):
        final = inside_target(extract, base, relative)
        assert final is not None
        written = publish_local(final, write)
    else:
        inside_target(extract, base, relative)
        if lake_root is None:
            from tributary.hooks.lake import lake_root as hooks_lake_root

            lake_root = hooks_lake_root
        with tempfile.TemporaryDirectory(prefix="tributary-extract-") as staging:
            local = Path(staging) / Path(relative).name
            written = write(local)  # the source is released before the upload
            publish_object(lake_root(base, config.target.conn_id), relative, local)
    outcome.rows, outcome.bytes, outcome.file = written.rows, written.bytes, url
    outcome.finish(SUCCESS)
    log.info(
        "extract %s: %s rows, %s bytes written to %s in %.1fs",
        config.name,
        f"{written.rows:,}",
        f"{written.bytes:,}",
        url,
        outcome.duration_seconds,
    )
    return outcome


def _progress(name: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, logging the rows so far every ``PROGRESS_SECONDS``."""
    rows = 0
    started = last = time.monotonic()
    for batch in batches:
        rows += batch.num_rows
        now = time.monotonic()
        if now - last >= PROGRESS_SECONDS:
            log.info("extract %s: %s rows so far (%.0f rows/s)", name, f"{rows:,}", rows / (now - started))
            last = now
        yield batch


def _temporary(final_name: str) -> str:
    # a leading dot: Spark, Hive and most listings skip it
    return f".{final_name}.{uuid.uuid4().hex[:12]}.tmp"


def publish_local(final: Path, write: Callable[[Path], Written]) -> Written:
    """``write`` a temporary file beside ``final``, then rename it over ``final``."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = final.with_name(_temporary(final.name))
    try:
        written = write(temporary)
        with temporary.open("rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(temporary, final)
        return written
    finally:
        temporary.unlink(missing_ok=True)


def publish_object(root: LakeRoot, relative: str, local: Path) -> None:
    """Upload ``local`` to a temporary key beside ``relative``, check its size, copy it to
    ``relative`` on the server side and remove the temporary key."""
    from tributary.lake import check_under, object_size, upload

    folder, _, name = relative.rpartition("/")
    temporary = f"{folder}/{_temporary(name)}" if folder else _temporary(name)
    expected = local.stat().st_size
    try:
        root.run(f"upload {temporary}", lambda p: upload(local, check_under(p, p / temporary)), writing=True)
        size = root.run(f"check {temporary}", lambda p: object_size(p / temporary))
        if size != expected:
            raise LakeError(f"{root.url}/{temporary}: {size} bytes in the store, {expected} written")
        root.run(
            f"publish {relative}",
            lambda p: p.fs.copy(str((p / temporary).path), str(check_under(p, p / relative).path)),
            writing=True,
        )
    finally:
        try:
            root.run(
                f"remove {temporary}",
                lambda p: check_under(p, p / temporary).unlink(missing_ok=True),
                writing=True,
            )
        except Exception as exc:  # noqa: BLE001 - cleanup must not replace the publish's outcome; a stray key is only clutter
            log.warning("could not remove the temporary object %s/%s: %s", root.url, temporary, exc)
