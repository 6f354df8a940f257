"""End to end through Airflow itself (``dag.test()``) against an S3 lake on moto: the replication
DAG commits the window, and each commit task emits its table's Asset event."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.support.lakes import ObjectLake
from tributary.config import load_config
from tributary.dag_support import bronze_asset
from tributary.factory import build_dag
from tributary.hooks.lake import lake_root
from tributary.lake import MANIFEST, SUCCESS, Partition

pytestmark = pytest.mark.airflow

JANUARY = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def s3_pipeline(
    tmp_path: Path, demo_sqlite: Path, airflow_db: Path, s3_lake: ObjectLake, monkeypatch: pytest.MonkeyPatch
):
    """A pipeline config of the demo SQLite source into the S3 lake, in a pipelines folder of its
    own: ``dag.test()`` syncs the project's DAG files, whose factory then builds this DAG from it,
    so the run uses the DAG (and the Assets) the DAG processor would register."""
    monkeypatch.setenv("AIRFLOW_CONN_E2E_POS", json.dumps({"conn_type": "sqlite", "host": str(demo_sqlite)}))
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(pipelines))
    # A source name of its own: an Asset is active only if no other asset has its name with
    # another URI, and other tests run DAGs that name bronze.pos.* on other lakes.
    source = f"pos_{s3_lake.bucket.replace('-', '_')}"
    config_file = pipelines / f"{source}.yaml"
    config_file.write_text(
        f"source: {{name: {source}, conn_id: e2e_pos, max_connections: 2, retries: 0}}\n"
        f"lake: {{url: '{s3_lake.url}', conn_id: {s3_lake.conn_id}, rows_per_file: 1000}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\n"
        "tables:\n"
        "  - {name: sales, schema: main, mode: window, date_column: sales_date}\n"
        "  - {name: items, mode: full}\n"
    )
    config = load_config(config_file)
    return config, build_dag(config, config_file)


def _asset_events(uri: str) -> list[dict[str, object]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
        )
        return [
            {"dag_id": e.source_dag_id, "task_id": e.source_task_id, "run_id": e.source_run_id} for e in rows
        ]


def test_the_replication_dag_commits_to_s3_and_emits_asset_events(s3_pipeline, s3_lake: ObjectLake) -> None:
    config, dag = s3_pipeline
    run = dag.test(logical_date=JANUARY)
    assert str(run.state) == "success", {ti.task_id: str(ti.state) for ti in run.get_task_instances()}

    root = lake_root(s3_lake.url, s3_lake.conn_id)
    for table, partition in (("sales", "month=2025-01"), ("items", "snapshot_date=2025-01-01")):
        key, value = partition.split("=")
        state = Partition(root, config.source.name, table, key, value).state()
        assert state.ready and state.rows, (table, state)
        names = {k.rsplit("/", 1)[1] for k in s3_lake.objects(f"{config.source.name}/{table}/{partition}")}
        assert {MANIFEST, SUCCESS} <= names

        asset = bronze_asset(config, table)
        assert asset.uri == f"{s3_lake.url}/{config.source.name}/{table}"
        events = _asset_events(asset.uri)
        assert {"dag_id": dag.dag_id, "task_id": f"{table}.commit", "run_id": run.run_id} in events
