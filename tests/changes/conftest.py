"""A PostgreSQL cluster with ``wal_level = logical`` for the change-capture tests, one per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.pg import PgCluster, remove_cluster, start_cluster

LOGICAL = "wal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\n"


@pytest.fixture(scope="session")
def logical_pg() -> Iterator[PgCluster]:
    cluster = start_cluster(extra_conf=LOGICAL)
    try:
        yield cluster
    finally:
        remove_cluster(cluster)


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
