"""The landing location of a file source: list the files of a glob, fetch one, quarantine one.

Every request goes through :meth:`LakeRoot.run`, so the landing zone gets the lake's in-place
retries with fresh credentials, and its permanent failures (missing bucket, access denied) the
lake's messages. The root path is an Airflow ``ObjectStoragePath`` in the operators (its ``fs``
is the provider's fsspec filesystem) or a ``pathlib.Path`` in tests of the core.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.lake_io import LakeRoot
from tributary.manifest import LandingFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Landing:
    """Where a file source's files land: the root (with the lake's retries) and its URL."""

    root: LakeRoot
    url: str

    def file_url(self, file: LandingFile) -> str:
        return f"{self.url.rstrip('/')}/{file.path}"


LOCAL_PROTOCOLS = ("file", "local", "")


def _fs_and_base(root: Any) -> tuple[Any, str]:
    """The fsspec filesystem behind a root path and the root's path on it."""
    fs = getattr(root, "fs", None)
    if fs is None:  # a pathlib.Path
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem(), str(Path(root).resolve())
    return fs, str(root.path).rstrip("/")


def _is_local(root: Any) -> bool:
    return getattr(root, "protocol", "file") in LOCAL_PROTOCOLS


def _modified(info: dict[str, Any]) -> dt.datetime | None:
    for key in ("LastModified", "mtime", "updated", "last_modified", "timeCreated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if isinstance(value, dt.datetime):
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _version(info: dict[str, Any], modified: dt.datetime | None) -> str | None:
    """What identifies the content: the store's checksum when it keeps one, else the mtime."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}"
    for key in ("md5Hash", "crc32c"):
        if info.get(key):
            return f"{key.lower()}:{info[key]}"
    return f"mtime:{modified.isoformat()}" if modified is not None else None


def list_files(landing: LakeRoot, pattern: str, *, exclude: str | None = None) -> list[LandingFile]:
    """The files under the landing root that match ``pattern`` (a glob relative to the root,
    ``**`` for any depth), sorted by path; files under the ``exclude`` prefix are left out."""

    def listing(root: Any) -> list[LandingFile]:
        fs, base = _fs_and_base(root)
        if not _is_local(root):
            fs.invalidate_cache(base)  # another process may have landed files since
        found = fs.glob(f"{base}/{pattern}", detail=True)
        files = []
        for name, info in sorted(found.items()):
            if info.get("type", "file") != "file":
                continue
            relative = str(name)[len(base) + 1 :] if str(name).startswith(base + "/") else str(name)
            if exclude and (relative == exclude or relative.startswith(exclude + "/")):
                continue
            modified = _modified(info)
            files.append(
                LandingFile(
                    path=relative,
                    size=int(info.get("size") or 0),
                    modified=modified,
                    version=_version(info, modified),
                )
            )
        return files

    return landing.run(f"list {landing.url}/{pattern}", listing)


@contextlib.contextmanager
def local_copy(landing: LakeRoot, file: LandingFile, staging: Path) -> Iterator[Path]:
    """A local path to read ``file`` from: the file itself when the landing zone is local, else
    a copy downloaded into ``staging`` (retried in place), removed afterwards."""
    root = landing.path
    if _is_local(root):
        _, base = _fs_and_base(root)
        yield Path(f"{base}/{file.path}")
        return
    target = staging / "download" / file.path.replace("/", "__")
    target.parent.mkdir(parents=True, exist_ok=True)

    def fetch(root: Any) -> None:
        fs, base = _fs_and_base(root)
        fs.get_file(f"{base}/{file.path}", str(target))

    landing.run(f"download {landing.url}/{file.path}", fetch)
    try:
        yield target
    finally:
        target.unlink(missing_ok=True)


def quarantine_path(prefix: str, batch_id: str, file: LandingFile) -> str:
    """Where a rejected file goes: ``<prefix>/<batch_id>/<its path>`` under the landing root."""
    return f"{prefix}/{batch_id}/{file.path}"


def quarantine(landing: LakeRoot, file: LandingFile, moved: str) -> bool:
    """Move the rejected ``file`` to ``moved`` (relative to the landing root); a move on an
    object store is a copy and a delete. Idempotent, for the commit's retries: a file already
    at ``moved`` and gone from its place was moved by an earlier try. A file whose size or
    version changed since the extract is a new file (a fix, loaded by the next run): it stays.
    Returns whether the file is in the quarantine."""

    def move(root: Any) -> bool:
        fs, base = _fs_and_base(root)
        source, target = f"{base}/{file.path}", f"{base}/{moved}"
        if not _is_local(root):
            fs.invalidate_cache(base)
        if not fs.exists(source):
            if fs.exists(target):
                log.info("%s: already in %s/%s", file.path, landing.url, moved)
                return True
            log.warning("%s: gone from %s before it could be moved to the quarantine", file.path, landing.url)
            return False
        info = fs.info(source)
        if (int(info.get("size") or 0), _version(info, _modified(info))) != (file.size, file.version):
            log.warning(
                "%s: changed since the extract rejected it; not moved to the quarantine (the next "
                "run reads it again)",
                file.path,
            )
            return False
        if _is_local(root):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, target)
        else:
            fs.mv(source, target)
        log.warning("%s: moved to %s/%s", file.path, landing.url, moved)
        return True

    return bool(landing.run(f"quarantine {landing.url}/{file.path}", move, writing=True))
