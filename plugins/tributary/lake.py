"""Lake layout and the commit protocol.

``<lake>/<source>/<table>/<key>=<value>/part-<batch>-<n>.parquet``, ``_manifest.json``,
``_SUCCESS``. A partition is complete only when ``_SUCCESS`` is present. A run first removes
``_SUCCESS``, then replaces the parts, then writes the manifest, and ``_SUCCESS`` comes last, so a
crash at any step leaves a partition that readers skip and the next run repairs.

Paths are anything with the ``pathlib`` API: ``pathlib.Path`` in tests of the core, Airflow's
``ObjectStoragePath`` (file://, s3://, gs://) in the operators.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from tributary.errors import IncompletePartitionError, LakeError
from tributary.manifest import Manifest

log = logging.getLogger(__name__)

SUCCESS = "_SUCCESS"
MANIFEST = "_manifest.json"
COPY_CHUNK = 8 << 20


class LakePath(Protocol):
    """The subset of the pathlib API the lake needs (``ObjectStoragePath`` provides it)."""

    name: str

    def __truediv__(self, other: str) -> Any: ...
    def exists(self) -> bool: ...
    def open(self, mode: str = ...) -> Any: ...
    def iterdir(self) -> Any: ...
    def mkdir(self, parents: bool = ..., exist_ok: bool = ...) -> None: ...
    def unlink(self, missing_ok: bool = ...) -> None: ...
    def stat(self) -> Any: ...
    def read_text(self, encoding: str | None = ...) -> str: ...


class Partition:
    """One Hive-style partition of one table in the lake."""

    def __init__(self, root: LakePath, source: str, table: str, key: str, value: str) -> None:
        self.root = root
        self.source = source
        self.table = table
        self.key = key
        self.value = value
        self.path: Any = root / source / table / f"{key}={value}"

    @property
    def name(self) -> str:
        return f"{self.key}={self.value}"

    def __repr__(self) -> str:
        return f"Partition({self.path})"

    # -- state ---------------------------------------------------------------------------------

    def is_committed(self) -> bool:
        return bool((self.path / SUCCESS).exists())

    def read_manifest(self) -> Manifest:
        target = self.path / MANIFEST
        try:
            return Manifest.from_json(target.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IncompletePartitionError(f"{self.path}: no {MANIFEST}; the extract has not run") from exc

    def missing_files(self, manifest: Manifest) -> list[str]:
        """Files the manifest lists that are absent or have another size, as readable lines."""
        present = {p.name: p for p in self.path.iterdir()} if self.path.exists() else {}
        problems = []
        for entry in manifest.files:
            found = present.get(entry.name)
            if found is None:
                problems.append(f"{entry.name}: missing")
                continue
            size = _size(found)
            if size != entry.bytes:
                problems.append(f"{entry.name}: {size} bytes, manifest says {entry.bytes}")
        return problems

    # -- the commit protocol -------------------------------------------------------------------

    def begin(self) -> None:
        """Step 1: the partition stops being complete before anything in it changes."""
        success = self.path / SUCCESS
        if success.exists():
            log.info("%s: removing %s before rewriting the partition", self.path, SUCCESS)
            success.unlink()

    def publish(self, staging: Path, names: Sequence[str]) -> None:
        """Step 2: upload the new parts, then remove every other data file of the partition."""
        self.path.mkdir(parents=True, exist_ok=True)
        for name in names:
            upload(staging / name, self.path / name)
        keep = set(names)
        for stale in self.path.iterdir():
            if stale.name not in keep and stale.name not in (MANIFEST, SUCCESS):
                log.info("%s: removing stale file %s", self.path, stale.name)
                stale.unlink()

    def write_manifest(self, manifest: Manifest) -> None:
        """Step 3: the manifest describes exactly the files now in the partition."""
        _write_text(self.path / MANIFEST, manifest.to_json())

    def commit(self, manifest: Manifest) -> None:
        """Step 4: ``_SUCCESS`` last, once every listed file is there with its size."""
        problems = self.missing_files(manifest)
        if problems:
            raise IncompletePartitionError(f"{self.path}: not committing: " + "; ".join(problems))
        body = {"batch_id": manifest.batch_id, "rows": manifest.rows, "files": len(manifest.files)}
        _write_text(self.path / SUCCESS, json.dumps(body))


def _size(path: Any) -> int:
    stat = path.stat()
    size = getattr(stat, "st_size", None)
    if size is None and isinstance(stat, dict):
        size = stat.get("size")
    return int(size)


def _write_text(target: Any, text: str) -> None:
    with target.open("wb") as fh:
        fh.write(text.encode("utf-8"))


def upload(local: Path, target: Any) -> None:
    """Copy one local file to the lake."""
    try:
        with local.open("rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, COPY_CHUNK)
    except OSError as exc:
        raise LakeError(f"upload of {local.name} to {target} failed: {exc}") from exc
