"""One Airflow with the CeleryExecutor for the scale-out test: ``scripts/local_celery.py`` as
`make airflow AIRFLOW_ARGS="--executor celery"` starts it (Redis, PostgreSQL metadata database,
two Celery workers with their own folders and TMPDIRs; the first one serves the warehouse's
queue and has the DuckDB file), over a PostgreSQL source of 12 small tables and a moto S3 lake.

This Airflow is its own (the ``real_airflow`` fixture of tests/airflow stays the LocalExecutor),
and lives as long as the test module: the rest of the suite does not share the CPU with it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.local_airflow import Settings
from scripts.local_celery import default_workers, running_celery
from tests.support.pg import PgCluster
from tests.support.s3 import MotoS3
from tests.support.stack import Airflow
from tributary.cli.commands import pool_slots
from tributary.config import PIPELINES_DIR_ENV, load_all

SOURCE = "cel"
DATABASE = "celery_src"
TABLES = [f"t{i:02d}" for i in range(1, 13)]
MONTHS = ["2025-01", "2025-02", "2025-03"]
MAX_CONNECTIONS = 3  # the source pool's cap, below the tasks' parallelism
PARALLELISM = 8  # [core] parallelism; the two workers run 4 tasks each at most
BUCKET = "celery-lake"


def _pipeline() -> str:
    tables = "".join(
        f"  - {{name: {t}, mode: window, date_column: sold_on, primary_key: [id]}}\n" for t in TABLES
    )
    return (
        f"source: {{name: {SOURCE}, conn_id: cel_pg, max_connections: {MAX_CONNECTIONS}, retries: 0}}\n"
        f"lake: {{url: 's3://{BUCKET}/bronze', conn_id: lake_s3}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\nend_date: 2025-04-01\nmax_active_runs: 3\n"
        f"tables:\n{tables}"
    )


def _create_source(pg: PgCluster) -> dict[tuple[str, str], int]:
    """12 tables of a few dozen rows a month each (a different count per table and month), with
    values a driver must not mangle; returns the rows per (table, month)."""
    pg.psql(f"DROP DATABASE IF EXISTS {DATABASE}")
    pg.psql(f"CREATE DATABASE {DATABASE}")
    statements = []
    for n, table in enumerate(TABLES, start=1):
        statements.append(
            f"CREATE TABLE {table} (id int PRIMARY KEY, sold_on date NOT NULL, amount numeric(12, 2), "
            f"note text);"
            f"INSERT INTO {table} SELECT g, DATE '2025-01-01' + (g * 7 + {n}) % 90, g * 1.25, "
            f"CASE WHEN g % 3 = 0 THEN 'O''Brien \"€\" ' || g END FROM generate_series(1, {40 + 5 * n}) g;"
        )
    pg.psql("".join(statements), database=DATABASE)
    counts = pg.psql(
        " UNION ALL ".join(
            f"SELECT '{t}', to_char(sold_on, 'YYYY-MM'), count(*) FROM {t} GROUP BY 2" for t in TABLES
        ),
        database=DATABASE,
    )
    rows = {}
    for line in counts.splitlines():
        table, month, count = line.split("|")
        rows[(table, month)] = int(count)
    return rows


class SessionSampler(threading.Thread):
    """Samples the source database's sessions in ``pg_stat_activity`` every 20 ms (a task's
    session lasts a fraction of a second), from a session of its own on another database."""

    def __init__(self, pg: PgCluster, database: str) -> None:
        super().__init__(daemon=True)
        self.pg, self.database = pg, database
        self.most = 0
        self.samples = 0
        self.sessions: set[tuple[int, str]] = set()  # (pid, backend_start) of every session seen
        self.stopped = threading.Event()

    def run(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.pg.dsn)
        conn.autocommit = True  # a statement per transaction: pg_stat_activity is fresh each time
        try:
            with conn.cursor() as cur:
                while not self.stopped.wait(0.02):
                    cur.execute(
                        "SELECT pid, backend_start::text FROM pg_stat_activity WHERE datname = %s",
                        (self.database,),
                    )
                    seen = cur.fetchall()
                    self.most = max(self.most, len(seen))
                    self.sessions.update(seen)
                    self.samples += 1
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        if self.is_alive():
            self.join(10)


@dataclass
class CeleryStack:
    """The running Celery Airflow (``airflow``: the tests' API and CLI helpers), its workers'
    folders, the source's rows per (table, month), and the S3 lake."""

    airflow: Airflow
    workers: dict[str, Path]
    queues: dict[str, tuple[str, ...]]
    rows: dict[tuple[str, str], int]
    moto: MotoS3
    warehouse: Path
    sampler: SessionSampler


@pytest.fixture(scope="module")
def celery_stack(pg_cluster: PgCluster, moto_s3: MotoS3) -> Iterator[CeleryStack]:
    rows = _create_source(pg_cluster)
    moto_s3.create_bucket(BUCKET)
    # the metadata database's server runs as OS user postgres (when the tests run as root), which
    # must reach the home: not under pytest's private temporary folder
    home = Path(tempfile.mkdtemp(prefix="tributary-celery-home-"))
    home.chmod(0o755)
    pipelines = home / "pipelines"
    pipelines.mkdir()
    (pipelines / f"{SOURCE}.yaml").write_text(_pipeline())
    configs, errors = load_all(pipelines)
    assert errors == []
    workers = default_workers(2, concurrency=PARALLELISM // 2)
    folders = {w.name: home / "workers" / w.name for w in workers}
    # the DuckDB file lives on the machine of the worker that serves the warehouse's queue
    warehouse = folders["worker-1"] / "warehouse.duckdb"
    env = {
        PIPELINES_DIR_ENV: str(pipelines),
        "AIRFLOW_CONN_CEL_PG": pg_cluster.connection_json(DATABASE),
        "AIRFLOW_CONN_LAKE_S3": moto_s3.connection_json(),
        "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE": f'{{"conn_type": "duckdb", "host": "{warehouse}"}}',
    }
    settings = Settings(pools=pool_slots([c for _, c in configs]))
    sampler = SessionSampler(pg_cluster, DATABASE)
    try:
        # the DAG files are parsed once: re-parsing the dbt DAGs every 30 s would take CPU from
        # the tasks on a small machine
        config = {"dag_processor.min_file_process_interval": "3600"}
        with running_celery(
            home, workers=workers, parallelism=PARALLELISM, settings=settings, env=env, config=config
        ) as stack:
            airflow = Airflow(None, home, stack.url, stack.password, {}, Path(), pipelines)  # type: ignore[arg-type]
            sampler.start()
            yield CeleryStack(
                airflow, folders, {w.name: w.queues for w in workers}, rows, moto_s3, warehouse, sampler
            )
    finally:
        sampler.stop()
        if not os.environ.get("TRIBUTARY_TEST_KEEP_HOME"):  # set it to read the logs afterwards
            shutil.rmtree(home, ignore_errors=True)
