"""Opening the DuckDB warehouse for extracts: read-only for the extract tasks, read-write for the
history, waiting a while when another process holds the file.

A DuckDB file is held by one process that writes, or by any number of processes that only read.
The extract tasks open it read-only, so they run in parallel with each other; while a dbt task
builds models (or a person has the file open in a SQL IDE) they cannot open it at all, and the
other way round. An extract that meets the lock waits in place, logging who holds the file, and
then fails with :class:`WarehouseLockedError` (not permanent: Airflow's retries try again later).
The summary task writes the history in one short transaction and takes the one slot of the pool
the dbt tasks share, so it never meets them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from tributary.errors import TributaryError
from tributary.transform.locks import LockHolder, WarehouseLockedError, find_lock_conflict
from tributary.transform.project import POOL

log = logging.getLogger(__name__)

DEFAULT_LOCK_WAIT_SECONDS = 60.0


class WarehouseMissingError(TributaryError):
    """The warehouse file an extract reads does not exist."""

    permanent = True


def locked_message(holder: LockHolder, *, reading: bool, waited: float) -> str:
    """Who holds the warehouse, and what to do, from an extract's point of view."""
    who = f"PID {holder.pid} ({holder.program}" + (f", user {holder.user}" if holder.user else "") + ")"
    command = holder.command_line()
    running = f"\n  its command line: {command}" if command else ""
    if reading:
        why = (
            "An extract reads the warehouse read-only, and DuckDB lets no process read a file "
            "while another one writes it. When the holder is an Airflow worker running dbt "
            "(dbt_setup, dbt_transform), the extract's retries run it again after dbt is done; "
            "trigger the extracts after the dbt run instead to avoid the wait. Otherwise the holder "
            "is another program with the file open (a SQL IDE, a notebook, a duckdb shell): close "
            "it, then clear this task."
        )
    else:
        why = (
            f"The history is written in one short transaction, in the one-slot pool '{POOL}' the "
            "dbt tasks share, so the holder is another program with the file open (a SQL IDE, a "
            "notebook, a duckdb shell) or an extract of another run still reading: close it, then "
            "clear this task."
        )
    return (
        f"the DuckDB warehouse {holder.path} is locked by another process: {who}, still after "
        f"{waited:.0f}s of waiting.{running}\n  {why}"
    )


def connect(path: Path, *, read_only: bool, lock_wait: float = DEFAULT_LOCK_WAIT_SECONDS) -> Any:
    """A DuckDB connection to the warehouse file; waits up to ``lock_wait`` seconds for a lock
    another process holds, polling with a growing pause, and logs each wait with the holder."""
    import duckdb

    if read_only and not path.is_file():
        raise WarehouseMissingError(
            f"the DuckDB warehouse {path} does not exist: build it with the dbt_setup DAG (or "
            "`make demo`), or point the warehouse connection's host at the right file"
        )
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pause = 1.0
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            holder = find_lock_conflict(str(exc))
            if holder is None:
                raise
            waited = time.monotonic() - started
            if waited >= lock_wait:
                raise WarehouseLockedError(locked_message(holder, reading=read_only, waited=waited)) from exc
            pause = min(pause, max(lock_wait - waited, 0.1))
            log.warning(
                "the warehouse %s is locked by PID %s (%s); waiting %.0fs more (%.0fs of %.0fs so far)",
                path,
                holder.pid,
                holder.program,
                pause,
                waited,
                lock_wait,
            )
            time.sleep(pause)
            pause = min(pause * 2, 15.0)
