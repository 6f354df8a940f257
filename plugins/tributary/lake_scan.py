"""A local lake's table read fast, for the Lake view's overview of thousands of partitions: one
``os.scandir`` of the table's folder, then each partition's ``_SUCCESS`` and ``_manifest.json``
opened by plain string paths, and of the manifest only what the overview shows parsed (with
``json``; the whole manifest is validated by pydantic when a page shows more of it). The same
states as :func:`tributary.lake_status.partition_status` without ``check_files``; a partition
this cannot summarize (a manifest that is not what Tributary writes) is left to that function.
A table read again reads only the partitions whose two files' times or sizes have changed.
An object store's lake is not read here: it goes through the lake hook. No Airflow here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from typing import Any

from tributary.lake import MANIFEST, SUCCESS, marker_batch, path_segment, segment_name
from tributary.lake_status import (
    INCOMPLETE,
    NO_MANIFEST,
    ManifestBrief,
    PartitionStatus,
    commit_state,
)


def partition_names(table_dir: str) -> list[str]:
    """The partitions (``key=value``, decoded) in the local folder ``table_dir``, sorted, as
    :func:`tributary.lake.list_partitions` names them (none when the folder is not there)."""
    try:
        with os.scandir(table_dir) as entries:
            folders = [entry.name.partition("=") for entry in entries]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(f"{segment_name(key)}={segment_name(value)}" for key, sep, value in folders if sep)


# the modification time (ns) and size of a partition's _SUCCESS and manifest (-1, -1: not there)
Stamp = tuple[int, int, int, int]


def scan_partitions(
    table_dir: str, names: list[str], known: Mapping[str, tuple[Stamp, PartitionStatus]] | None = None
) -> list[tuple[Stamp, PartitionStatus | None]]:
    """The partitions ``names`` (``key=value``, decoded) of the local table folder ``table_dir``,
    in order, each with its :data:`Stamp`; ``None`` for one whose manifest this cannot summarize
    (read it the usual way). A partition of ``known`` (by name, from an earlier scan) whose two
    files have the same stamp is not read again: its status is the one known."""
    found: list[tuple[Stamp, PartitionStatus | None]] = []
    for name in names:
        key, _, value = name.partition("=")
        folder = f"{path_segment(key)}={path_segment(value)}"
        path = f"{table_dir}{os.sep}{folder}{os.sep}"
        stamp = _stat(path + SUCCESS) + _stat(
            path + MANIFEST
        )  # before the read: a change after is seen next time
        if known and (seen := known.get(name)) is not None and seen[0] == stamp:
            found.append(seen)
            continue
        try:
            found.append((stamp, _status(folder, _read(path + SUCCESS), _read(path + MANIFEST))))
        except (KeyError, TypeError, ValueError, AttributeError):
            found.append((stamp, None))
    return found


def _stat(path: str) -> tuple[int, int]:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return -1, -1
    return info.st_mtime_ns, info.st_size


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read()
    except FileNotFoundError:
        return None


def _status(name: str, marker: bytes | None, text: bytes | None) -> PartitionStatus:
    if text is None:
        problems = [f"{SUCCESS} without {MANIFEST}"] if marker is not None else []
        return PartitionStatus(name, INCOMPLETE if marker is not None else NO_MANIFEST, problems=problems)
    body = json.loads(text)
    batch = _text(body["batch_id"])
    problems = []
    if marker is not None and (committed := marker_batch(marker.decode("utf-8"))) and committed != batch:
        problems.append(f"{SUCCESS} is of batch {committed}, the manifest of batch {batch}")
    rows, verified = _int(body["rows"]), _time(body.get("verified_at"))
    failed = [f"{_text(c['check'])}: {_text(c['detail'])}" for c in body.get("checks", []) if not c["passed"]]
    if problems:
        state = INCOMPLETE
    else:
        source_rows = body.get("source_query_rows")
        mode = _text(body["mode"])
        state, problems = commit_state(marker is not None, failed, mode, rows, source_rows, verified)
    brief = ManifestBrief(
        text=text,
        bytes=sum(_int(f["bytes"]) for f in body["files"]),
        dag_id=body.get("dag_id"),
        window_start=_time(body.get("window_start")),
    )
    return PartitionStatus(
        partition=name,
        state=state,
        rows=rows,
        batch_id=batch,
        run_id=body.get("run_id"),
        verified_at=verified,
        position=_position(body),
        problems=problems,
        brief=brief,
    )


def _position(body: dict[str, Any]) -> str | None:
    if (high := _time(body.get("high_watermark"))) is not None:
        return high.isoformat()
    return body.get("change_position_to")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not a string: {value!r}")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _time(value: Any) -> dt.datetime | None:
    """A time as the manifest writes it (ISO 8601, UTC); a naive one is refused (pydantic's)."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(_text(value))
    if moment.tzinfo is None:
        raise ValueError(f"a time without its zone: {value!r}")
    return moment


__all__ = ["Stamp", "partition_names", "scan_partitions"]
