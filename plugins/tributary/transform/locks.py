"""DuckDB's "Conflicting lock is held" made into a message that says who holds the file and what to do.

A DuckDB file has one writing process. Tributary's own dbt tasks never meet the lock, as they share
a one-slot pool; when one still does, another program has the warehouse open (a SQL IDE, a
notebook, a ``duckdb`` shell). DuckDB's error names that process's program and PID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tributary.errors import TributaryError
from tributary.transform.project import POOL

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
