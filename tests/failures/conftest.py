"""Real PostgreSQL clusters for the error tests: one that asks for passwords, and a primary with a
streaming standby made by ``pg_basebackup -R``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pg import OS_USER, PgCluster, free_port, remove_cluster, start_cluster

# the password of the role "app"; no test output, log or message may contain it
APP_PASSWORD = "Tr1butary-s3cret-Pw"


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", OS_USER, "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class AuthCluster:
    """A cluster whose TCP logins need a password (scram-sha-256), except the superuser's."""

    cluster: PgCluster

    def conn(self, *, user: str = "app", password: str | None = APP_PASSWORD, database: str = "shop") -> str:
        """An Airflow connection (JSON) for the env var ``AIRFLOW_CONN_<ID>``."""
        return json.dumps(
            {
                "conn_type": "postgres",
                "host": self.cluster.host,
                "port": self.cluster.port,
                "login": user,
                "password": password,
                "schema": database,
            }
        )


@pytest.fixture(scope="session")
def auth_cluster() -> Iterator[AuthCluster]:
    cluster = start_cluster(extra_conf="password_encryption = 'scram-sha-256'\n")
    try:
        # the superuser keeps trust for the tests' own psql; everyone else gives a password
        (cluster.datadir / "pg_hba.conf").write_text(
            "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        cluster.psql("SELECT pg_reload_conf()")
        cluster.psql(
            f"CREATE ROLE app LOGIN PASSWORD '{APP_PASSWORD}'; "
            f"CREATE ROLE writer LOGIN PASSWORD '{APP_PASSWORD}'; "
            f"CREATE ROLE stranger LOGIN PASSWORD '{APP_PASSWORD}'"
        )
        cluster.psql("CREATE DATABASE shop")
        cluster.psql(
            "CREATE TABLE sales (id int PRIMARY KEY, sold_at timestamp NOT NULL, amount numeric(10,2));"
            "INSERT INTO sales SELECT g, timestamp '2025-01-01' + g * interval '1 hour', g "
            "FROM generate_series(1, 500) g;"
            "GRANT SELECT ON sales TO app;"
            # writer may add rows but not read them: SELECT revoked, the catalog still lists it
            "GRANT INSERT ON sales TO writer;",
            database="shop",
        )
        yield AuthCluster(cluster)
    finally:
        remove_cluster(cluster)


@dataclass
class ReplicaPair:
    primary: PgCluster
    standby: PgCluster


def _wait_for(check, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except subprocess.CalledProcessError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the standby did not catch up")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def replica_pair() -> Iterator[ReplicaPair]:
    """A throwaway primary and a hot standby streaming from it (``pg_basebackup -R``)."""
    if shutil.which("pg_basebackup") is None:
        pytest.skip("pg_basebackup is not on PATH")
    primary = start_cluster(extra_conf="wal_level = replica\nmax_wal_senders = 4\n")
    root = Path(tempfile.mkdtemp(prefix="tributary-pg-standby-"))
    datadir = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, OS_USER)
    standby = PgCluster(datadir=datadir, port=free_port())
    try:
        primary.psql(
            "CREATE TABLE sales (id int PRIMARY KEY, sold_at timestamp NOT NULL, amount numeric(10,2));"
            "INSERT INTO sales SELECT g, timestamp '2025-01-01' + g * interval '1 hour', g "
            "FROM generate_series(1, 300) g;"
        )
        # initdb's pg_hba.conf trusts replication connections from 127.0.0.1
        subprocess.run(
            _as_pg(
                [
                    *["pg_basebackup", "-h", primary.host, "-p", str(primary.port), "-U", "postgres"],
                    *["-D", str(datadir), "-R", "-X", "stream", "-c", "fast"],
                ]
            ),
            check=True,
            capture_output=True,
        )
        with open(datadir / "postgresql.conf", "a") as fh:
            fh.write(f"\nport = {standby.port}\nhot_standby = on\n")
        standby.start()
        _wait_for(lambda: standby.psql("SELECT count(*) FROM sales") == "300")
        yield ReplicaPair(primary, standby)
    finally:
        remove_cluster(standby)
        remove_cluster(primary)
