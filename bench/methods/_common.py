"""What the method scripts share: their arguments, the connection, and the line they report.

Every method is a script of its own, run by ``bench/run.py`` as a child process under GNU time,
so that its wall time and peak RSS are measured from outside, interpreter start and imports
included. The script times its own work too (after its imports) and prints one JSON line last:
``{"rows": ..., "work_s": ..., "rss_imports_kib": ...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

STARTED = time.perf_counter()


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--sql", required=True, help="the query every method runs (the scenario's)")
    p.add_argument("--out", required=True, help="output .parquet file, or folder (Tributary's lake)")
    p.add_argument("--batch-size", type=int, default=100_000)
    return p


def libpq() -> dict[str, Any]:
    """The source database from libpq's PG* variables, which the runner sets."""
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": int(os.environ["PGPORT"]),
        "user": os.environ.get("PGUSER", "postgres"),
        "dbname": os.environ.get("PGDATABASE", "postgres"),
    }


def dsn() -> str:
    p = libpq()
    return f"postgresql://{p['user']}@{p['host']}:{p['port']}/{p['dbname']}"


def peak_rss_kib() -> int:
    """This process's peak RSS (``VmHWM``). Not ``getrusage``: Linux carries ``ru_maxrss`` over
    ``exec``, so it would start at the RSS of the process that forked this one."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Report:
    """Times the work (after the imports) and prints the JSON line the runner reads."""

    def __init__(self) -> None:
        self.rss_imports_kib = peak_rss_kib()
        self.imports_s = time.perf_counter() - STARTED
        self.started = time.perf_counter()

    def done(self, rows: int, **extra: Any) -> None:
        record = {
            "rows": rows,
            "work_s": round(time.perf_counter() - self.started, 3),
            "imports_s": round(self.imports_s, 3),
            "rss_imports_kib": self.rss_imports_kib,
            **extra,
        }
        print(json.dumps(record, default=str), flush=True)


def eprint(*args: Any) -> None:
    print(*args, file=sys.stderr, flush=True)
