"""The dbt DAGs as Airflow parses them: rendered by Cosmos from the manifest, with YAML and the
manifest as the only reads; the steps in order; every dbt task in the DuckDB pool; the transform
DAG scheduled on the replication DAGs' bronze Assets; serializable for the scheduler."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG, AssetAll

from tributary.config import PIPELINES_DIR_ENV, PROJECT_ROOT, load_config
from tributary.dag_support import bronze_asset
from tributary.hooks.warehouse import POOL, WAREHOUSE_QUEUE_ENV
from tributary.transform.factory import DbtManifestMissingError, build_dbt_dags
from tributary.transform.project import MANIFEST_ENV

log = logging.getLogger(__name__)

DBT_DAG_FILE = PROJECT_ROOT / "dags" / "tributary_dbt.py"
POS_CONFIG = PROJECT_ROOT / "include" / "pipelines" / "pos.yaml"


@pytest.fixture(scope="module")
def dags() -> dict[str, DAG]:
    return build_dbt_dags(POS_CONFIG.parent)


def test_the_factory_reads_yaml_and_the_manifest_only(no_io: None) -> None:
    started = time.perf_counter()
    dags = build_dbt_dags(POS_CONFIG.parent)
    elapsed = time.perf_counter() - started
    log.info("build_dbt_dags: %d tasks in %.2f s", sum(len(d.tasks) for d in dags.values()), elapsed)
    assert sorted(dags) == ["dbt_setup", "dbt_transform"]
    assert elapsed < 10


def test_setup_dag_runs_the_steps_in_order(dags: dict[str, DAG]) -> None:
    dag = dags["dbt_setup"]
    assert dag.timetable.can_be_scheduled is False  # triggered by hand
    groups = dag.task_group.children
    assert list(groups) == ["clear", "seed", "foundation", "models", "test", "report"]
    assert list(groups["clear"].children) == ["clear.clear_gold", "clear.clear_silver"]
    assert sorted(groups["seed"].children) == [
        "seed.currency_rates_seed",
        "seed.location_regions_seed",
        "seed.payment_types_seed",
    ]
    assert sorted(groups["foundation"].children) == sorted(
        f"foundation.stg_pos__{t}_run"
        for t in ("customers", "items", "locations", "payments", "sales", "sales_items")
    )
    assert sorted(groups["models"].children) == [
        "models.customer_lifetime_value_run",
        "models.fct_daily_sales_run",
        "models.fct_item_performance_run",
        "models.fct_sales_run",
    ]
    # inside a step, Cosmos wires the manifest's dependencies
    assert "models.fct_sales_run" in dag.get_task("models.fct_daily_sales_run").upstream_task_ids
    # step after step, the report last whatever happened
    assert dag.get_task("clear.clear_silver").upstream_task_ids == {"clear.clear_gold"}
    assert dag.get_task("test").upstream_task_ids == {
        "models.customer_lifetime_value_run",
        "models.fct_daily_sales_run",
        "models.fct_item_performance_run",
    }
    report = dag.get_task("report")
    assert report.upstream_task_ids == {"test"}
    assert report.trigger_rule == "all_done"
    assert report.steps["foundation"] == list(groups["foundation"].children)


@pytest.mark.parametrize("dag_id", ["dbt_setup", "dbt_transform"])
def test_every_dbt_task_is_in_the_one_slot_pool_and_runs_dbt_in_process(
    dags: dict[str, DAG], dag_id: str
) -> None:
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtLocalBaseOperator

    dbt_tasks = [t for t in dags[dag_id].tasks if isinstance(t, DbtLocalBaseOperator)]
    assert len(dbt_tasks) == len(dags[dag_id].tasks) - 1  # all but the report
    for task in dbt_tasks:
        assert task.pool == POOL, task.task_id
        assert task.queue == "warehouse", task.task_id  # the one worker that has the file
        assert task.invocation_mode is InvocationMode.DBT_RUNNER, task.task_id
        assert task.vars == {"tributary_lakes": {"pos": f"{(PROJECT_ROOT / 'data' / 'lake').as_uri()}"}}
        assert task.profile_config.profile_mapping.conn_id == "tributary_warehouse"


def test_the_warehouse_queue_is_configurable_and_survives_serialization(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv(WAREHOUSE_QUEUE_ENV, "duckdb-host-1")
    dag = build_dbt_dags(POS_CONFIG.parent)["dbt_setup"]
    restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
    queues = {t.task_id: t.queue for t in restored.tasks}
    assert queues.pop("report") == "default"  # reads XCom and the manifest, not the warehouse
    assert set(queues.values()) == {"duckdb-host-1"}, queues


def test_both_dags_are_rendered_from_the_manifest(dags: dict[str, DAG]) -> None:
    from cosmos.constants import LoadMode

    for dag in dags.values():
        groups = [g for g in dag.task_group.children.values() if hasattr(g, "dbt_graph")]
        assert groups
        assert all(g.dbt_graph.load_method is LoadMode.DBT_MANIFEST for g in groups)


def test_transform_dag_is_scheduled_on_the_bronze_assets_of_the_configs(dags: dict[str, DAG]) -> None:
    dag = dags["dbt_transform"]
    config = load_config(POS_CONFIG)
    expected = AssetAll(*(bronze_asset(config, t) for t in sorted(t.name for t in config.tables)))
    assert dag.timetable.asset_condition == expected
    assert list(dag.task_group.children) == ["silver", "gold", "test", "report"]
    assert dag.get_task("test").select == "tag:silver tag:gold"


def test_dbt_dags_survive_serialization(dags: dict[str, DAG]) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    for dag in dags.values():
        restored = DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))
        assert sorted(restored.task_ids) == sorted(dag.task_ids)
        assert restored.get_task("report").trigger_rule == "all_done"


def test_a_missing_manifest_is_one_import_error_that_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MANIFEST_ENV, str(tmp_path / "manifest.json"))
    with pytest.raises(DbtManifestMissingError, match=r"run|make dbt-manifest"):
        build_dbt_dags(POS_CONFIG.parent)

    monkeypatch.setenv(PIPELINES_DIR_ENV, str(POS_CONFIG.parent))
    bag = DagBag(dag_folder=str(DBT_DAG_FILE))
    assert list(bag.import_errors) == [str(DBT_DAG_FILE)]
    assert "make dbt-manifest" in bag.import_errors[str(DBT_DAG_FILE)]


def test_the_dag_file_loads_in_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(POS_CONFIG.parent))
    bag = DagBag(dag_folder=str(DBT_DAG_FILE))
    (stat,) = bag.dagbag_stats
    log.info(
        "DagBag: %s parsed in %.2f s (%d tasks)", stat.file, stat.duration.total_seconds(), stat.task_num
    )
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["dbt_setup", "dbt_transform"]
