"""Which landing files a run loads: the new and changed ones, by the state of the committed runs.

The state of a file table is the ``landing_state`` of its newest committed manifest: every file
loaded so far that was still in the landing zone then, with its size and version (the ETag on
S3, the MD5 on GCS, the modification time on a local disk). A listed file is **unchanged** when
the state has its path with the same size and version; it is skipped. Anything else is new or
changed and is loaded. A failed run commits nothing, so its files are still new to the next run;
a rejected file is never in the state, so it is read again until it is fixed, removed or moved
to the quarantine. A new or changed file modified within the table's quiet period may still be
being written: it is not loaded, not put in the state, and a later run loads it (``settled``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from tributary.manifest import LandingFile, LoadedFile, Manifest


def unchanged(file: LandingFile, known: LandingFile | None) -> bool:
    return known is not None and known.size == file.size and known.version == file.version


def plan_files(
    listed: Iterable[LandingFile], state: Manifest | None
) -> tuple[list[LandingFile], list[LandingFile]]:
    """``(to load, unchanged)`` of the files listed now, against the committed state."""
    known = {f.path: f for f in state.landing_state} if state is not None else {}
    todo: list[LandingFile] = []
    same: list[LandingFile] = []
    for file in listed:
        (same if unchanged(file, known.get(file.path)) else todo).append(file)
    return todo, same


def settled(
    files: Iterable[LandingFile], quiet_period: dt.timedelta, now: dt.datetime
) -> tuple[list[LandingFile], list[LandingFile]]:
    """``(settled, waiting)``: a file modified less than ``quiet_period`` before ``now`` may still
    be being written (a local or mounted landing zone shows a file as it grows), so it waits for
    a later run; the other files, and those whose store gives no modified time, are settled. On
    S3 and GCS an object appears whole, so the wait costs one run's delay and guards a producer
    that rewrites its file in several uploads."""
    ready: list[LandingFile] = []
    waiting: list[LandingFile] = []
    for file in files:
        young = file.modified is not None and now - file.modified < quiet_period
        (waiting if young else ready).append(file)
    return ready, waiting


def next_state(same: Iterable[LandingFile], loaded: Iterable[LoadedFile]) -> list[LandingFile]:
    """The state a run leaves: the unchanged files and the ones it loaded (files gone from the
    landing zone drop out, so the state stays the size of the landing zone)."""
    entries = {f.path: LandingFile(**f.model_dump(include=set(LandingFile.model_fields))) for f in same}
    for file in loaded:
        entries[file.path] = LandingFile(**file.model_dump(include=set(LandingFile.model_fields)))
    return [entries[path] for path in sorted(entries)]
