"""Fixtures of the dbt tests: a bronze lake replicated from the demo source, and the dbt DAGs over it.

The lake is built with Tributary's own replication functions (extract, verify, commit per table and
month), the same code the replication DAG's tasks run, so it has real manifests and ``_SUCCESS``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.config import load_config
from tributary.lake import SUCCESS
from tributary.readers.sqlite import SqliteReader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.windows import Window

MONTHS = [dt.datetime(2025, m, 1, tzinfo=dt.UTC) for m in (1, 2, 3, 4)]
WINDOW_TABLES = {"sales": "sales_date", "sales_items": "sales_date", "payments": "paid_at"}
FULL_TABLES = ("items", "customers", "locations")


def build_lake(source_db: Path, folder: Path) -> Path:
    """Replicate the demo source's three months into ``folder/lake``; return the pipelines folder."""
    lake = folder / "lake"
    pipelines = folder / "pipelines"
    pipelines.mkdir(parents=True)
    tables = "\n".join(
        [f"  - {{name: {t}, mode: window, date_column: {c}}}" for t, c in WINDOW_TABLES.items()]
        + [f"  - {{name: {t}, mode: full}}" for t in FULL_TABLES]
    )
    (pipelines / "pos.yaml").write_text(
        "source: {name: pos, conn_id: test_pos, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        f"schedule: '@monthly'\nstart_date: 2025-01-01\ntables:\n{tables}\n"
    )
    config = load_config(pipelines / "pos.yaml")
    with sqlite3.connect(source_db) as connection:
        reader = SqliteReader(connection, conn_id="test_pos")
        for start, end in itertools.pairwise(MONTHS):
            place = {
                "source": "pos",
                "schedule": config.schedule,
                "window": Window(start, end),
                "lake_root": lake,
            }
            for table in config.tables:
                manifest = extract_table(reader, table, **place)
                verify_table(reader, table, batch_id=manifest.batch_id, **place)
                commit_table(table, batch_id=manifest.batch_id, **place)
    return pipelines


@dataclass
class DbtEnv:
    """The dbt DAGs over a test lake and warehouse."""

    lake: Path
    warehouse: Path
    dags: dict[str, Any]

    def run(self, dag_id: str, *, only: list[str] | None = None) -> Any:
        """``dag.test()``; with ``only``, every other dbt task is marked success without running."""
        import re

        pattern = None
        if only is not None:
            keep = "|".join(re.escape(task_id) for task_id in [*only, "report"])
            pattern = re.compile(rf"(?!(?:{keep})$).*")  # dag.test() full-matches task ids
        return self.dags[dag_id].test(mark_success_pattern=pattern)

    def query(self, sql: str) -> list[tuple]:
        import duckdb

        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def dbt_env(
    tmp_path_factory: pytest.TempPathFactory, demo_sqlite: Path, airflow_db: Path
) -> Iterator[DbtEnv]:
    from tributary.transform.factory import build_dbt_dags

    folder = tmp_path_factory.mktemp("dbt")
    pipelines = build_lake(demo_sqlite, folder)
    warehouse = folder / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(warehouse)})
        )
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        yield DbtEnv(folder / "lake", warehouse, build_dbt_dags(pipelines))


def write_partition(
    table_dir: Path, partition: str, rows: list[dict[str, Any]], *, batch_id: str, committed: bool = True
) -> Path:
    """A bronze partition written by hand: one Parquet part with the table's schema (taken from a
    committed part) and the audit columns, and ``_SUCCESS`` unless ``committed`` is false."""
    template = next(table_dir.glob("*=*/part-*.parquet"))
    schema = pq.read_schema(template)
    folder = table_dir / partition
    folder.mkdir(parents=True)
    full = [{name: row.get(name) for name in schema.names} | {"_batch_id": batch_id} for row in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=schema), folder / f"part-{batch_id}-00000.parquet")
    if committed:
        (folder / SUCCESS).write_text(json.dumps({"batch_id": batch_id, "rows": len(rows), "files": 1}))
    return folder
