"""The change-capture tests' PostgreSQL: the session's cluster, which runs with ``wal_level =
logical`` (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pg import PgCluster


@pytest.fixture(scope="session")
def logical_pg(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    yield pg_cluster


def run_script(cluster: PgCluster, sql: str, database: str) -> None:
    """Run a script as psql runs a file: each statement in its own transaction (a slot cannot be
    created in a transaction that wrote)."""
    import subprocess

    subprocess.run(
        [
            *("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.host, "-p", str(cluster.port)),
            *("-U", cluster.user, "-d", database, "-f", "-"),
        ],
        input=sql,
        text=True,
        check=True,
        capture_output=True,
    )
