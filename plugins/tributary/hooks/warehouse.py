"""The DuckDB warehouse: its Airflow connection, its file, its pool, and its one-writer lock.

The connection (default ``tributary_warehouse``) has conn type ``duckdb`` and the ``.duckdb`` file as
its host; its extra may set ``lock_wait_seconds``, how long an extract waits for the file.

A DuckDB file has one writing process, or any number of processes that only read. Tributary's dbt
tasks share a one-slot pool, so they never lock each other out; the extract tasks open the file
read-only, so they run in parallel with each other. While a dbt task builds models (or a person has
the file open in a SQL IDE, a notebook, a ``duckdb`` shell) an extract cannot open it at all, and
the other way round. DuckDB's "Conflicting lock is held" names the holder's program and PID:
:func:`find_lock_conflict` reads them, and the messages say who holds the file and what to do.
:func:`connect` waits in place for a lock, logging who holds the file, and then fails with
:class:`WarehouseLockedError` (not permanent: Airflow's retries try again later).

No Airflow at import: the DAG factories and the extract config read the constants at parse time.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tributary.config import PROJECT_ROOT
from tributary.errors import ConfigError, TributaryError

log = logging.getLogger(__name__)

WAREHOUSE_CONN_ID = "tributary_warehouse"
"""The Airflow connection of the warehouse: conn type ``duckdb``, host = the ``.duckdb`` file."""
DEFAULT_WAREHOUSE = Path("data") / "warehouse.duckdb"
"""The warehouse file when the connection names none (relative to the project root)."""
POOL = "dbt_duckdb"
"""DuckDB has one writer: every dbt task takes the one slot of this pool."""
DEFAULT_LOCK_WAIT_SECONDS = 60.0
"""How long an extract waits for the warehouse's lock, unless the connection's extra says."""
WAREHOUSE_QUEUE_ENV = "TRIBUTARY_WAREHOUSE_QUEUE"
"""The environment variable that names the warehouse's queue (read where DAGs are parsed)."""
DEFAULT_WAREHOUSE_QUEUE = "warehouse"


def warehouse_queue() -> str:
    """The Airflow queue of every task that opens the warehouse file (the dbt tasks, the extracts
    that read it, the extract history): ``$TRIBUTARY_WAREHOUSE_QUEUE``, default ``warehouse``.

    The file lives on one machine, so under the CeleryExecutor exactly one worker serves this
    queue (``airflow celery worker --queues default,warehouse``). The LocalExecutor ignores queues.
    """
    return os.environ.get(WAREHOUSE_QUEUE_ENV, "").strip() or DEFAULT_WAREHOUSE_QUEUE


def warehouse_path(host: str | None) -> Path:
    """The ``.duckdb`` file of a connection host: relative paths are taken from the project root
    (dbt runs in a temporary copy of the project, so its working directory says nothing)."""
    path = Path(host).expanduser() if host else DEFAULT_WAREHOUSE
    return path if path.is_absolute() else (PROJECT_ROOT / path)


def warehouse_settings(conn_id: str) -> tuple[Path, float]:
    """The warehouse file and how long to wait for its lock, from its Airflow connection."""
    conn = _connection(conn_id)
    extra = conn.extra_dejson if conn.extra else {}
    return warehouse_path(conn.host), float(extra.get("lock_wait_seconds", DEFAULT_LOCK_WAIT_SECONDS))


def warehouse_file(conn_id: str) -> Path:
    """The warehouse file of the Airflow connection ``conn_id``."""
    return warehouse_path(_connection(conn_id).host)


def _connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigError(
            f"the warehouse connection {conn_id!r} is not defined: create it with `airflow connections "
            f"add {conn_id} --conn-type duckdb --conn-host data/warehouse.duckdb` (or the environment "
            f"variable AIRFLOW_CONN_{conn_id.upper()})"
        ) from exc


# --- the lock ---------------------------------------------------------------------------------

_LOCK = re.compile(
    r'Could not set lock on file "(?P<path>[^"]+)": Conflicting lock is held in (?P<program>.+?) '
    r"\(PID (?P<pid>\d+)\)(?: by user (?P<user>[^.\s]+))?"
)


class WarehouseLockedError(TributaryError):
    """Another process holds the DuckDB warehouse file. Not permanent: a retry finds it free once
    that process lets go."""


@dataclass(frozen=True)
class LockHolder:
    """The process DuckDB says holds the lock on a database file."""

    path: str
    program: str
    pid: int
    user: str | None = None

    def command_line(self) -> str | None:
        """The holder's command line, when it runs on this machine (Linux ``/proc``)."""
        try:
            raw = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return None
        text = raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()
        return text or None


def find_lock_conflict(text: str) -> LockHolder | None:
    """The lock holder named in an error text, or ``None`` if the text is not a lock conflict."""
    match = _LOCK.search(text or "")
    if match is None:
        return None
    return LockHolder(match["path"], match["program"], int(match["pid"]), match["user"])


def lock_message(holder: LockHolder) -> str:
    """What to tell the user: which process holds which file, and what to do about it."""
    who = f"PID {holder.pid} ({holder.program}" + (f", user {holder.user}" if holder.user else "") + ")"
    command = holder.command_line()
    running = f"\n  its command line: {command}" if command else ""
    return (
        f"the DuckDB warehouse {holder.path} is locked by another process: {who}.{running}\n"
        "  A DuckDB file has one writer at a time. Tributary's dbt tasks share the one-slot pool "
        f"'{POOL}', so they never lock each other out: the holder is another program with the file "
        "open, typically a SQL IDE (DBeaver, DataGrip), a notebook or a duckdb shell.\n"
        f"  What to do: close that program's connection to the file (or end the process: kill {holder.pid}), "
        "then clear the failed task to run it again. To query the warehouse while Airflow writes to it, "
        "open a copy of the file."
    )


def raise_if_locked(*texts: str | None) -> None:
    """Raise ``WarehouseLockedError`` with the readable message if any text is a lock conflict."""
    for text in texts:
        holder = find_lock_conflict(text or "")
        if holder is not None:
            raise WarehouseLockedError(lock_message(holder))


# --- opening the file -------------------------------------------------------------------------


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
