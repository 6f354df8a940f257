"""Lake layout and the commit protocol.

``<lake>/<source>/<table>/<key>=<value>/part-<batch>-<n>.parquet``, ``_manifest.json``,
``_SUCCESS``. A partition is complete only when ``_SUCCESS`` is present. A run first removes
``_SUCCESS``, then replaces the parts, then writes the manifest, and ``_SUCCESS`` comes last, so a
crash at any step leaves a partition that readers skip and the next run repairs.

Paths are anything with the ``pathlib`` API: ``pathlib.Path`` in tests of the core, Airflow's
``ObjectStoragePath`` (file://, s3://, gs://) in the operators, which pass a
:class:`~tributary.lake_io.LakeRoot` that can rebuild the path with fresh credentials. Every
request to the lake goes through ``LakeRoot.run``: transient failures are retried in place (the
parts are staged locally, so a retry re-sends one file and re-extracts nothing), permanent ones
fail at once with a message that names the connection.

Names never become paths as they are: the source, the table and the partition key and value each
become one path segment through :func:`path_segment` (percent-encoding of the few characters that
could leave ``<lake>/<source>/<table>/`` or that readers would misread; every other name, unicode
and spaces included, stays as it is), and every write is checked by :func:`check_under` to land
under its root before it is made.

Object stores have prefixes, not directories: nothing here creates a "directory" there (s3fs and
gcsfs would create a missing *bucket* on ``mkdir(parents=True)``, hiding a typo in ``lake.url``),
and a partition with no objects lists as empty.
"""

from __future__ import annotations

import json
import logging
import posixpath
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, unquote

from tributary.errors import IncompletePartitionError, StrayFilesError, UnsafePathError
from tributary.lake_io import LakeRoot
from tributary.manifest import Manifest

log = logging.getLogger(__name__)

SUCCESS = "_SUCCESS"
MANIFEST = "_manifest.json"
COPY_CHUNK = 8 << 20
LOCAL_PROTOCOLS = ("file", "local", "")

T = TypeVar("T")

# Characters percent-encoded in a lake path segment: "/" and "\\" (path separators), "%" (the escape
# itself, so decoding is exact), the C0 controls and DEL (NUL ends a path in C, the others are
# invisible in listings), "=" (DuckDB, Spark and Athena read a key=value segment as a Hive
# partition column), the glob characters "*", "?", "[", "]" (readers list partitions with
# globs) and "#" (a URL fragment to fsspec and DuckDB). A leading "." is encoded too, so neither
# "." nor ".." nor a hidden name can come out.
_UNSAFE = frozenset("/\\%=*?[]#") | frozenset(map(chr, range(0x20))) | {"\x7f"}


@lru_cache(maxsize=1 << 16)  # pure, and called for every path of every partition
def path_segment(name: str) -> str:
    """The lake path segment of a source, table, partition key or partition value ``name``.

    Percent-encoding (``%XX`` of the UTF-8 bytes, as in URLs) of ``/ \\ % = * ? [ ] #``, control
    characters and a leading ``.``; everything else stays, so ``sales``, ``Order Details``,
    ``ünïcödé`` and ``x; drop table y; --`` are their own segments, and ``../../escape`` is
    ``%2E.%2F..%2Fescape``. Reversed by :func:`segment_name`. The same rule is written in Jinja in
    ``dbt/macros/bronze.sql`` (``tributary_segment``) for dbt's reads of the lake.
    """
    if not name:
        raise UnsafePathError("an empty name cannot be a lake path segment")
    out = [
        "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        if char in _UNSAFE or (index == 0 and char == ".")
        else char
        for index, char in enumerate(name)
    ]
    return "".join(out)


def segment_name(segment: str) -> str:
    """The name a lake path segment encodes: the inverse of :func:`path_segment`."""
    return unquote(segment)


def table_url(lake_url: str, source: str, table: str) -> str:
    """The URL of a table's folder in the lake at ``lake_url``: its path segments percent-encoded
    once more (``urllib.parse.quote``) so that the URL is ASCII and parses back to the folder
    (``Order Details`` → ``Order%20Details``, ``ünïcödé`` → ``%C3%BCn%C3%AFc%C3%B6d%C3%A9``)."""
    root = quote(lake_url.rstrip("/"), safe=":/%@")  # a non-ASCII bucket prefix, too
    return "/".join([root, *(quote(path_segment(n), safe="") for n in (source, table))])


def _location_of(path: Any) -> str:
    """The normalized location of a path, without its scheme (``bucket/key`` for object
    stores, the absolute path for local files), for comparing paths of one root."""
    text = getattr(path, "path", None)  # ObjectStoragePath: the path without the protocol
    if not isinstance(text, str):
        text = str(path)
    return posixpath.normpath(text) if text else text


def check_under(root: Any, path: Any) -> Any:
    """``path`` if it lies strictly under ``root`` once ``.`` and ``..`` are resolved, and holds no
    NUL; :class:`UnsafePathError` otherwise. Every path the lake writes passes here first."""
    where, base = _location_of(path), _location_of(root)
    inside = where.startswith(base.rstrip("/") + "/") and where != base
    if not inside or "\x00" in where:
        raise UnsafePathError(
            f"refusing to write {str(path)!r}: it is not under the lake root {str(root)!r}. "
            "Names are encoded into path segments (tributary.lake.path_segment); please report "
            "the source, table and partition names that produced this path"
        )
    return path


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


@dataclass(frozen=True)
class PartitionState:
    """What a reader (the sensor) finds in a partition: complete only if ``ready``."""

    path: str
    committed: bool
    problems: list[str] = field(default_factory=list)
    batch_id: str | None = None
    rows: int | None = None
    files: list[str] = field(default_factory=list)  # the committed batch's parts: all a reader reads

    @property
    def ready(self) -> bool:
        return self.committed and not self.problems


class Partition:
    """One Hive-style partition of one table in the lake.

    ``root`` is a plain path or a :class:`LakeRoot`; every request to the lake is retried by the
    root's policy, and a retry re-opens the root (fresh credentials) when it can.
    """

    def __init__(self, root: LakePath | LakeRoot, source: str, table: str, key: str, value: str) -> None:
        self.root = root
        self.lake = LakeRoot.fixed(root)
        self.source = source
        self.table = table
        self.key = key
        self.value = value

    @property
    def name(self) -> str:
        """The partition's folder: ``key=value``, each side a :func:`path_segment`."""
        return f"{path_segment(self.key)}={path_segment(self.value)}"

    @property
    def relative(self) -> str:
        """``<source>/<table>/<key>=<value>`` under the lake root, names encoded."""
        return f"{path_segment(self.source)}/{path_segment(self.table)}/{self.name}"

    @property
    def path(self) -> Any:
        """The partition's path under the root as it is now (re-opened roots give new paths)."""
        return self._under(self.lake.path)

    def _under(self, root: Any) -> Any:
        return root / path_segment(self.source) / path_segment(self.table) / self.name

    @property
    def location(self) -> str:
        """The partition's location, for messages (no connection id in it, and no request made)."""
        return f"{self.lake.url}/{self.relative}"

    def __repr__(self) -> str:
        return f"Partition({self.location})"

    def _run(self, what: str, request: Callable[[Any], T], *, writing: bool = False) -> T:
        def on_partition(root: Any) -> T:
            path = self._under(root)
            if writing:  # the table's folder under the root, the partition's under the table's
                table_dir = root / path_segment(self.source) / path_segment(self.table)
                check_under(check_under(root, table_dir), path)
            return request(path)

        return self.lake.run(f"{what} ({self.location})", on_partition, writing=writing)

    # -- state ---------------------------------------------------------------------------------

    def is_committed(self) -> bool:
        return bool(self._run(f"check {SUCCESS}", lambda p: _fresh(p / SUCCESS).exists()))

    def read_manifest(self) -> Manifest:
        try:
            text = self._run(f"read {MANIFEST}", lambda p: _fresh(p / MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise IncompletePartitionError(
                f"{self.location}: no {MANIFEST}; the extract has not run"
            ) from exc
        return Manifest.from_json(text)

    def read_file(self, name: str, read: Callable[[Any], T]) -> T:
        """``read`` applied to the partition's file ``name`` opened for binary reading (pyarrow
        reads Parquet footers and columns from it), through the root's retries."""

        def request(path: Any) -> T:
            with (path / name).open("rb") as fh:
                return read(fh)

        return self._run(f"read {name}", request)

    def listing(self) -> dict[str, int]:
        """Every object of the partition with its size (an empty dict when there is none)."""
        return dict(self._run("list the partition", _sizes))

    def missing_files(self, manifest: Manifest) -> list[str]:
        """Files the manifest lists that are absent or have another size, as readable lines."""
        present = self.listing()
        problems = []
        for entry in manifest.files:
            size = present.get(entry.name)
            if size is None:
                problems.append(f"{entry.name}: missing")
            elif size != entry.bytes:
                problems.append(f"{entry.name}: {size} bytes, manifest says {entry.bytes}")
        return problems

    def stray_files(self, manifest: Manifest) -> list[str]:
        """Data files of the partition that the manifest does not list (names starting with
        ``_`` or ``.`` are not data, as in Hive and Spark)."""
        listed = {entry.name for entry in manifest.files}
        return sorted(
            name for name in self.listing() if name not in listed and not name.startswith(("_", "."))
        )

    def committed_manifest(self) -> Manifest | None:
        """The manifest of the batch ``_SUCCESS`` names, or ``None`` if the partition is not
        committed. A manifest of another batch means a re-run is rewriting the partition:
        :class:`IncompletePartitionError`, since nothing of it may be read."""
        try:
            marker = self._run(f"read {SUCCESS}", lambda p: _fresh(p / SUCCESS).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        manifest = self.read_manifest()
        if (committed_batch := marker_batch(marker)) and committed_batch != manifest.batch_id:
            raise IncompletePartitionError(
                f"{self.location}: {SUCCESS} is of batch {committed_batch}, the manifest of batch "
                f"{manifest.batch_id}; another run is rewriting the partition"
            )
        return manifest

    def marker_and_manifest(self, root: Any = None) -> tuple[bool, Manifest | None, list[str]]:
        """``_SUCCESS`` there?, the manifest (or ``None``), what is wrong with the commit: one request
        (none in a request of the caller's on ``root``), no listing. The Lake view reads 1000s."""

        def request(path: Any) -> list[str | None]:
            return [_text_or_none(_fresh(path / name)) for name in (SUCCESS, MANIFEST)]

        what = f"read {SUCCESS} and {MANIFEST}"
        marker, text = request(self._under(root)) if root is not None else self._run(what, request)
        manifest = Manifest.from_json(text) if text is not None else None
        problems = [f"{SUCCESS} without {MANIFEST}"] if marker is not None and manifest is None else []
        if manifest is not None and (batch := marker_batch(marker or "")) and batch != manifest.batch_id:
            problems.append(f"{SUCCESS} is of batch {batch}, the manifest of batch {manifest.batch_id}")
        return marker is not None, manifest, problems

    def state(self) -> PartitionState:
        """Is the partition committed, and is its manifest complete (every listed file present
        with its size, and the manifest of the batch ``_SUCCESS`` names)? For readers."""
        committed, manifest, problems = self.marker_and_manifest()
        if not committed or manifest is None:
            return PartitionState(self.location, committed, problems)
        files = [entry.name for entry in manifest.files]
        problems = self.missing_files(manifest) + problems
        return PartitionState(self.location, True, problems, manifest.batch_id, manifest.rows, files)

    # -- the commit protocol -------------------------------------------------------------------

    def begin(self) -> None:
        """Step 1: the partition stops being complete before anything in it changes."""

        def drop_success(path: Any) -> None:
            success = _fresh(path / SUCCESS)
            if success.exists():
                log.info("%s: removing %s before rewriting the partition", path, SUCCESS)
                success.unlink(missing_ok=True)

        self._run(f"remove {SUCCESS}", drop_success, writing=True)

    def publish(self, staging: Path, names: Sequence[str]) -> None:
        """Step 2: upload the new parts, then remove every other data file of the partition."""
        self._run("create the partition folder", _make_dir, writing=True)
        for name in names:

            def put(p: Any, name: str = name) -> None:
                upload(staging / name, _child(p, name))

            self._run(f"upload {name}", put, writing=True)
        keep = {*names, MANIFEST, SUCCESS}
        for stale in sorted(set(self.listing()) - keep):
            log.info("%s: removing stale file %s", self.location, stale)

            def remove(p: Any, stale: str = stale) -> None:
                _child(p, stale).unlink(missing_ok=True)

            self._run(f"remove {stale}", remove, writing=True)

    def write_manifest(self, manifest: Manifest) -> None:
        """Step 3: the manifest describes exactly the files now in the partition."""
        self._run(
            f"write {MANIFEST}", lambda p: _write_text(_child(p, MANIFEST), manifest.to_json()), writing=True
        )

    def commit(self, manifest: Manifest) -> None:
        """Step 4: ``_SUCCESS`` last, once every listed file is there with its size and no other
        data file is: a reader reads the batch ``_SUCCESS`` names, and a stray part beside it is
        another run's (or a hand's) that nothing verified. ``_SUCCESS`` names the batch and its
        parts, so a reader gets the exact file list in the one object it reads first."""
        problems = self.missing_files(manifest)
        if problems:
            raise IncompletePartitionError(f"{self.location}: not committing: " + "; ".join(problems))
        strays = self.stray_files(manifest)
        if strays:
            raise StrayFilesError(
                f"{self.location}: not committing batch {manifest.batch_id}: the partition holds data "
                f"file(s) its manifest does not list: {', '.join(strays)}. Another run may be writing "
                "the partition; else re-run the table's task group (its extract removes every file "
                "its batch does not list) or delete those files"
            )
        body = {
            "batch_id": manifest.batch_id,
            "rows": manifest.rows,
            "files": len(manifest.files),
            "parts": [entry.name for entry in manifest.files],
        }
        self._run(
            f"write {SUCCESS}", lambda p: _write_text(_child(p, SUCCESS), json.dumps(body)), writing=True
        )


def _child(folder: Any, name: str) -> Any:
    """The file ``name`` of the partition ``folder``, checked to be inside it."""
    return check_under(folder, folder / name)


def _is_local(path: Any) -> bool:
    return getattr(path, "protocol", "file") in LOCAL_PROTOCOLS


def _filesystems(path: Any) -> list[Any]:
    """The fsspec filesystems behind an object-store path (``ObjectStoragePath`` answers some
    calls through ``.fs`` and delegates others to the ``UPath`` it wraps)."""
    if _is_local(path):
        return []
    found = [getattr(path, "fs", None), getattr(getattr(path, "__wrapped__", None), "fs", None)]
    unique: list[Any] = []
    for fs in found:
        if fs is not None and all(fs is not u for u in unique):
            unique.append(fs)
    return unique


def _forget_listing(path: Any) -> None:
    """Drop the filesystems' cached listing of ``path``: s3fs and gcsfs answer ``exists`` and
    ``iterdir`` from a listing cached by an earlier call, which would hide another process's
    ``_SUCCESS`` from a sensor that pokes with the same filesystem."""
    for fs in _filesystems(path):
        fs.invalidate_cache(str(path.path))


def _fresh(path: Any) -> Any:
    """The path of a file, its folder's cached listing dropped first."""
    if not _is_local(path):
        _forget_listing(path.parent)
    return path


def _text_or_none(path: Any) -> str | None:
    try:
        return str(path.read_text(encoding="utf-8"))
    except FileNotFoundError:  # a request that found nothing: the answer, not a failure
        return None


def _make_dir(path: Any) -> None:
    if _is_local(path):
        path.mkdir(parents=True, exist_ok=True)


def _sizes(path: Any) -> dict[str, int]:
    _forget_listing(path)
    try:
        children = list(path.iterdir())
    except (FileNotFoundError, NotADirectoryError):  # no object under the prefix (yet)
        return {}
    return {child.name: object_size(child) for child in children}


def marker_batch(marker: str) -> str | None:
    try:
        body = json.loads(marker) if marker.strip() else {}
    except ValueError:
        return None  # a _SUCCESS written by another tool: its presence is all it says
    return body.get("batch_id") if isinstance(body, dict) else None


def object_size(path: Any) -> int:
    """The size in bytes of a file or object, from a local ``stat`` or an object store's info."""
    stat = path.stat()
    size = getattr(stat, "st_size", None)
    if size is None and isinstance(stat, dict):
        size = stat.get("size")
    if size is None:
        raise TypeError(f"{path}: no size in what stat() returned: {stat!r}")
    return int(size)


def _write_text(target: Any, text: str) -> None:
    with target.open("wb") as fh:
        fh.write(text.encode("utf-8"))


def upload(local: Path, target: Any) -> None:
    """Copy one local file to the lake (one attempt: ``Partition.publish`` retries it)."""
    with local.open("rb") as src, target.open("wb") as dst:
        shutil.copyfileobj(src, dst, COPY_CHUNK)


# -- readers ---------------------------------------------------------------------------------


def parse_partition(text: str) -> tuple[str, str]:
    """``"month=2025-10"`` → ``("month", "2025-10")``, with a message a DAG author can act on."""
    key, sep, value = str(text).strip().strip("/").partition("=")
    if not sep or not key or not value or "/" in key or "/" in value:
        raise ValueError(
            f"partition {text!r} is not of the form key=value (e.g. month=2025-10, day=2025-10-31, "
            "snapshot_date=2025-10-31)"
        )
    return key, value


def list_partitions(root: LakePath | LakeRoot, source: str, table: str) -> list[str]:
    """The names (``key=value``, decoded from their path segments) of a table's partitions,
    sorted, through the root's retries (an empty list when the table has none: object stores
    have no empty folders)."""
    lake = LakeRoot.fixed(root)

    def names(path: Any) -> list[str]:
        table_dir = path / path_segment(source) / path_segment(table)
        _forget_listing(table_dir)
        try:
            folders = [child.name.partition("=") for child in table_dir.iterdir()]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(f"{segment_name(key)}={segment_name(value)}" for key, sep, value in folders if sep)

    where = f"{lake.url}/{path_segment(source)}/{path_segment(table)}"
    return list(lake.run(f"list the partitions of {where}", names))


def partition_states(
    root: LakePath | LakeRoot, source: str, partitions: dict[str, str]
) -> dict[str, PartitionState]:
    """The state of one partition per table (``{table: "key=value"}``), in table order."""
    return {
        table: Partition(root, source, table, *parse_partition(partitions[table])).state()
        for table in sorted(partitions)
    }


__all__ = [
    "MANIFEST",
    "SUCCESS",
    "LakePath",
    "LakeRoot",
    "Partition",
    "PartitionState",
    "check_under",
    "list_partitions",
    "marker_batch",
    "parse_partition",
    "partition_states",
    "path_segment",
    "segment_name",
    "table_url",
    "upload",
]
