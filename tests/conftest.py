"""Test-session set-up: an isolated Airflow home, and fixtures for real components.

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="tributary-test-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, True)

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
for path in (ROOT / "plugins", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# The fixtures every folder shares, defined once for the session: one moto S3 server and one GCS
# emulator for all the tests that need them, and the S3/GCS lakes over them (tests/support).
from tests.support.gcs import gcs_emulator  # noqa: E402, F401
from tests.support.lakes import gcs_lake, object_lake, s3_lake, sqlite_conn  # noqa: E402, F401
from tests.support.pg import PgCluster, remove_cluster, start_cluster  # noqa: E402
from tests.support.s3 import moto_s3  # noqa: E402, F401


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) for ``dag.test()`` runs."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True)
    return _AIRFLOW_HOME


LOGICAL = "wal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\n"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A throwaway PostgreSQL cluster for the whole session, removed afterwards; with
    ``wal_level = logical``, so the change-capture tests share it (tests/changes)."""
    cluster = start_cluster(extra_conf=LOGICAL)
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


@pytest.fixture(scope="session")
def demo_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo point-of-sale database: 3 months from 2025-01-01 at 5% of the demo's size."""
    from scripts.demo_source import generate

    path = tmp_path_factory.mktemp("demo") / "pos.sqlite"
    generate(path, months=3, scale=0.05)
    return path


def _forbidden(what: str):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"parse time must not {what}")

    return refuse


@pytest.fixture
def no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Parse time reads YAML (and the dbt manifest) only: any network, database, DuckDB, Airflow
    connection or Variable access fails the test."""
    import socket
    import sqlite3

    import duckdb
    from airflow.sdk import BaseHook, Variable

    monkeypatch.setattr(socket.socket, "connect", _forbidden("open a network connection"))
    monkeypatch.setattr(socket, "getaddrinfo", _forbidden("resolve a host name"))
    monkeypatch.setattr(sqlite3, "connect", _forbidden("open a SQLite database"))
    monkeypatch.setattr(duckdb, "connect", _forbidden("open DuckDB"))
    monkeypatch.setattr(BaseHook, "get_connection", _forbidden("look up an Airflow connection"))
    monkeypatch.setattr(Variable, "get", _forbidden("read an Airflow variable"))
    yield
