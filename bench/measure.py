"""Measuring one child process from outside: wall time, peak RSS and CPU, PostgreSQL sessions.

The child runs under GNU ``time -v`` (else ``bench/rusage.py``) in a session of its own; a
thread counts its sessions in ``pg_stat_activity`` meanwhile, another samples the load average
for the whole run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from catalog import HERE, PY

RUNNER = "tributary-bench"  # application_name of the runner's own sessions, not counted


@dataclass
class RunResult:
    wall_s: float
    rss_kib: int
    cpu_s: float
    rc: int
    sessions: int
    report: dict[str, Any] | None


class SessionMonitor:
    """The most PostgreSQL client sessions open at once while a child runs (the runner's own
    sessions excluded), polled every 20 ms."""

    QUERY = (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND pid <> pg_backend_pid() AND application_name <> %s"
    )

    def __init__(self, params: dict[str, Any]) -> None:
        self.connection = psycopg2.connect(**params, application_name=RUNNER)
        self.connection.autocommit = True
        self.most = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        with self.connection.cursor() as cursor:
            while not self._stop.is_set():
                cursor.execute(self.QUERY, (RUNNER,))
                self.most = max(self.most, cursor.fetchone()[0])
                self._stop.wait(0.02)

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until the sessions of the previous child are gone: a backend outlives its client's
        exit by a few milliseconds, and would be counted against the next child."""
        deadline = time.monotonic() + timeout
        with self.connection.cursor() as cursor:
            while time.monotonic() < deadline:
                cursor.execute(self.QUERY, (RUNNER,))
                if cursor.fetchone()[0] == 0:
                    return
                time.sleep(0.01)

    def __enter__(self) -> SessionMonitor:
        self.wait_idle()
        self.most = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def close(self) -> None:
        self.connection.close()


class LoadMonitor:
    """The 1-minute load average, sampled every 5 s for the whole run."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), os.getloadavg()[0]))
            self._stop.wait(5)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        loads = [s[1] for s in self.samples] or [os.getloadavg()[0]]
        return {
            "min": min(loads),
            "median": statistics.median(loads),
            "max": max(loads),
            "samples": len(loads),
        }


GNU_TIME = "/usr/bin/time"
_running: list[subprocess.Popen[str]] = []  # the child being measured, for the interrupt handler


def interrupted(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM: end the child's whole process group (it runs in a session of its own,
    so the signal did not reach it), then unwind, which removes the throwaway cluster."""
    for child in _running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    raise KeyboardInterrupt


def _gnu_time(path: Path) -> tuple[int, float, int]:
    """Peak RSS (KiB), user+sys CPU (s) and exit status from ``time -v``'s report."""
    text = path.read_text()

    def field(label: str) -> str:
        found = re.search(rf"^\s*{re.escape(label)}: (.+)$", text, re.M)
        if not found:
            raise ValueError(f"{path}: no {label!r} in GNU time's report")
        return found.group(1).strip()

    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return int(field("Maximum resident set size (kbytes)")), cpu, int(field("Exit status"))


def run_child(
    argv: list[str], env: dict[str, str], log: Path, monitor: SessionMonitor, timeout: float
) -> RunResult:
    """Run ``argv``: wall time, and the child's peak RSS and CPU from its rusage.

    The rusage comes through a small parent of the child, GNU ``time -v`` (else
    ``bench/rusage.py``): Linux keeps a process's peak RSS across ``exec``, so a child forked
    straight from this runner would report the runner's own RSS as its floor.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    usage_file = log.with_suffix(".rusage")
    usage_file.unlink(missing_ok=True)
    if os.access(GNU_TIME, os.X_OK):
        wrapped = [GNU_TIME, "-v", "-o", str(usage_file), *argv]
    else:
        wrapped = [PY, "-I", "-S", str(HERE / "rusage.py"), str(usage_file), *argv]
    with log.open("w") as err, monitor:
        started = time.perf_counter()
        child = subprocess.Popen(
            wrapped, env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True
        )
        _running.append(child)
        try:
            stdout, _ = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            stdout, _ = child.communicate()
        finally:
            _running.remove(child)
        wall = time.perf_counter() - started
    try:
        if wrapped[0] == GNU_TIME:
            rss_kib, cpu, rc = _gnu_time(usage_file)
        else:
            usage = json.loads(usage_file.read_text())
            rss_kib, cpu, rc = usage["maxrss_kib"], usage["cpu_s"], usage["rc"]
    except (OSError, ValueError):
        rss_kib, cpu, rc = 0, 0.0, child.returncode or -1
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return RunResult(
        wall_s=wall,
        rss_kib=rss_kib,
        cpu_s=cpu,
        rc=rc,
        sessions=monitor.most,
        report=json.loads(lines[-1]) if lines else None,
    )
