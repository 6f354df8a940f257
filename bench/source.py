"""The source: a throwaway PostgreSQL cluster (or a running server), the table ``sales``, and
the environment every child runs in (libpq's PG* variables, Airflow's connection)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
from catalog import HERE, METHODS, PY, ROOT, SCENARIOS, floor_argv
from measure import RUNNER

from tests.support.pg import PgCluster, remove_cluster, start_cluster

PG_CONF = """
shared_buffers = 1GB
max_connections = 50
max_wal_size = 4GB
maintenance_work_mem = 512MB
"""


@dataclass
class Source:
    params: dict[str, Any]
    cluster: PgCluster | None = None
    env: dict[str, str] = field(default_factory=dict)

    def connect(self) -> Any:
        return psycopg2.connect(**self.params, application_name=RUNNER)

    def scalar(self, sql: str) -> Any:
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(sql)
            value = cursor.fetchone()[0]
        connection.close()
        return value

    def rows(self) -> int:
        try:
            return int(self.scalar("SELECT count(*) FROM sales"))
        except psycopg2.Error:
            return -1

    def load(self, rows: int) -> float:
        """(Re)generate ``sales`` with ``rows`` rows unless it has them; seconds taken."""
        if self.rows() == rows:
            return 0.0
        print(f"generating sales: {rows:,} rows ...", flush=True)
        started = time.perf_counter()
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-v",
                f"rows={rows}",
                "-f",
                str(HERE / "gen_sales.sql"),
            ],
            env=self.env,
            check=True,
            capture_output=True,
        )
        took = time.perf_counter() - started
        print(f"  generated in {took:.0f} s", flush=True)
        return took

    def warm(self) -> None:
        """Read the table once, so that every run reads it from the page cache."""
        subprocess.run(floor_argv(SCENARIOS["full"], Path("/dev/null")), env=self.env, check=True)

    def close(self, *, keep: bool) -> None:
        """Remove the throwaway cluster, unless it is to be kept (or there is none)."""
        if self.cluster is not None and not keep:
            remove_cluster(self.cluster)
        elif self.cluster is not None:
            print(f"cluster kept: 127.0.0.1:{self.cluster.port} {self.cluster.datadir}", flush=True)


def open_source(pg_port: int | None, work: Path, pycache: Path) -> Source:
    """The server on 127.0.0.1:``pg_port`` (user postgres), else a throwaway cluster."""
    cluster = None
    if pg_port:
        params = {"host": "127.0.0.1", "port": pg_port, "user": "postgres", "dbname": "postgres"}
    else:
        cluster = start_cluster(extra_conf=PG_CONF)  # in the temp dir: the server user can reach it
        params = {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": "postgres"}
        print(f"postgres on 127.0.0.1:{cluster.port} ({cluster.datadir})", flush=True)
    return Source(params, cluster, child_env(work, params, pycache))


def child_env(work: Path, params: dict[str, Any], pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("PG")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "plugins"), str(ROOT), str(METHODS)]),
        # compiled bytecode of the venv, kept out of the venv and the repository: without it,
        # every child would compile its imports from source (a deployed image has its .pyc)
        PYTHONPYCACHEPREFIX=str(pycache),
        PGHOST=str(params["host"]),
        PGPORT=str(params["port"]),
        PGUSER=str(params["user"]),
        PGDATABASE=str(params["dbname"]),
        AIRFLOW_HOME=str(work / "airflow_home"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{work / 'airflow_home' / 'airflow.db'}",
        AIRFLOW_CONN_BENCH_PG=json.dumps(
            {
                "conn_type": "postgres",
                "host": params["host"],
                "port": params["port"],
                "login": params["user"],
                "schema": params["dbname"],
            }
        ),
    )
    env["PATH"] = os.path.dirname(PY) + os.pathsep + env.get("PATH", "")
    return env
