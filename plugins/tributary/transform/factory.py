"""Build the dbt DAGs with Cosmos from the dbt manifest.

``dbt_setup`` (triggered by hand) rebuilds the warehouse: clear the model layers, load the seeds,
run the foundation (silver) models, run the remaining models, test, report. ``dbt_transform`` runs
silver and gold, tests them and reports, whenever a source's bronze tables have all been committed
again (the Assets the replication DAGs emit).

Parse time reads the pipeline configs' YAML and the manifest that ``make dbt-manifest`` wrote
(``dbt parse``): Cosmos renders from it (``LoadMode.DBT_MANIFEST``), no ``dbt ls``, no database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, AssetAll, AssetAny, TaskGroup, chain

from tributary.config import PipelineConfig, load_all
from tributary.dag_support import bronze_asset
from tributary.errors import ConfigError
from tributary.hooks.warehouse import POOL, WAREHOUSE_CONN_ID, warehouse_queue
from tributary.transform.callbacks import keep_run_results
from tributary.transform.profile import PrivateProfileConfig, TributaryDuckDBProfileMapping
from tributary.transform.project import (
    DBT_PROFILE_NAME,
    DBT_TARGET_NAME,
    LAYERS,
    Lake,
    dbt_project_dir,
    dbt_vars,
    lakes_of,
    manifest_path,
)
from tributary.transform.report import DbtReportOperator

log = logging.getLogger(__name__)

SETUP_DAG_ID = "dbt_setup"
TRANSFORM_DAG_ID = "dbt_transform"
GOLD_ASSET = Asset(name="warehouse.gold", uri="tributary://warehouse/gold", group="tributary-gold")
"""Updated when a dbt DAG run has built and tested gold: what extract DAGs can be scheduled on."""


class DbtManifestMissingError(ConfigError):
    """The manifest Cosmos renders from has not been built."""


class _Cosmos:
    """The Cosmos configuration both DAGs share."""

    def __init__(self, lakes: list[Lake], conn_id: str) -> None:
        from cosmos import ExecutionConfig, ExecutionMode, InvocationMode, ProjectConfig

        self.project_dir = dbt_project_dir()
        self.manifest = manifest_path(self.project_dir)
        if not self.manifest.is_file():
            raise DbtManifestMissingError(
                f"{self.manifest}: the dbt manifest is missing; build it with `make dbt-manifest` "
                f"(runs `dbt parse` in {self.project_dir}) before Airflow parses the dbt DAGs"
            )
        self.vars = dbt_vars(lakes)
        self.project = ProjectConfig(
            dbt_project_path=self.project_dir,
            manifest_path=self.manifest,
            dbt_vars=self.vars,
            install_dbt_deps=False,
        )
        self.profile = PrivateProfileConfig(
            profile_name=DBT_PROFILE_NAME,
            target_name=DBT_TARGET_NAME,
            profile_mapping=TributaryDuckDBProfileMapping(conn_id, lakes=lakes),
        )
        self.invocation = InvocationMode.DBT_RUNNER
        self.execution = ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=self.invocation)
        # every dbt task: one slot of the DuckDB pool, on the queue of the one worker that has the
        # warehouse file, and its run results kept for the report
        self.operator_args: dict[str, Any] = {
            "pool": POOL,
            "queue": warehouse_queue(),
            "callback": keep_run_results,
            "callback_args": {"warehouse_conn_id": conn_id},
        }
        # one partial-parse cache for every dbt task: only the first parses the whole project
        self.cache_dir = _shared_cache_dir()

    def group(self, group_id: str, *, select: list[str], exclude: list[str] | None = None) -> TaskGroup:
        """A task per dbt node of the selection, rendered from the manifest."""
        from cosmos import DbtTaskGroup, LoadMode, RenderConfig, TestBehavior

        group = DbtTaskGroup(
            group_id=group_id,
            project_config=self.project,
            profile_config=self.profile,
            execution_config=self.execution,
            render_config=RenderConfig(
                load_method=LoadMode.DBT_MANIFEST,
                select=select,
                exclude=exclude or [],
                test_behavior=TestBehavior.NONE,  # tests are a step of their own
                emit_datasets=False,
            ),
            operator_args=self.operator_args,
        )
        for task_id in _task_ids(group):
            task = group.dag.get_task(task_id)
            # Cosmos puts the run's context into callback_args: each task gets a dict of its own
            task.callback_args = dict(self.operator_args["callback_args"])
            if self.cache_dir is not None:
                task.cache_dir = self.cache_dir
        return group

    def _operator_kwargs(self) -> dict[str, Any]:
        return {
            "project_dir": str(self.project_dir),
            "profile_config": self.profile,
            "invocation_mode": self.invocation,
            "install_deps": False,
            "vars": self.vars,
            "emit_datasets": False,
            "cache_dir": self.cache_dir,
            **self.operator_args,
            "callback_args": dict(self.operator_args["callback_args"]),
        }

    def clear(self, layer: str) -> Any:
        from cosmos.operators.local import DbtRunOperationLocalOperator

        return DbtRunOperationLocalOperator(
            task_id=f"clear_{layer}",
            macro_name="clear_layer",
            args={"layer": layer},
            doc_md=f"Drops every model tagged `{layer}` (dbt macro `clear_layer`).",
            **self._operator_kwargs(),
        )

    def test(self, select: list[str] | None = None) -> Any:
        from cosmos.operators.local import DbtTestLocalOperator

        return DbtTestLocalOperator(
            task_id="test",
            select=" ".join(select) if select else None,
            doc_md="`dbt test`: error-level failures fail this task; warn-level ones are reported.",
            **self._operator_kwargs(),
        )


def _shared_cache_dir() -> Path | None:
    """Cosmos's cache folder for Tributary's dbt tasks (``[cosmos] cache_dir``), if caching is on."""
    from cosmos import cache, settings

    return cache._obtain_cache_dir_path("tributary_dbt") if settings.enable_cache else None


def _task_ids(item: Any) -> list[str]:
    """The task ids of a task or (nested) task group, in a stable order."""
    if isinstance(item, TaskGroup):
        return [tid for child in item.children.values() for tid in _task_ids(child)]
    return [item.task_id]


def _default_args() -> dict[str, Any]:
    return {"owner": "tributary", "retries": 0}


def build_setup_dag(lakes: list[Lake], *, conn_id: str = WAREHOUSE_CONN_ID) -> DAG:
    """``dbt_setup``: clear the layers, seed, foundation models, the remaining models, test, report."""
    cosmos = _Cosmos(lakes, conn_id)
    with DAG(
        dag_id=SETUP_DAG_ID,
        schedule=None,
        start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(),
        tags=["tributary", "dbt"],
        doc_md=(
            "Rebuilds the warehouse from the bronze lake, by hand: drops the model tables layer by "
            "layer (gold, then silver, by dbt tag), loads the seeds, runs the foundation (silver) "
            "models, then the remaining models, tests everything and reports per step. Warn-level "
            f"test failures are reported; error-level ones fail the run. Every dbt task takes the "
            f"one slot of pool `{POOL}`; the warehouse is connection `{conn_id}`."
        ),
    ) as dag:
        with TaskGroup("clear", tooltip="drop the model tables, gold first") as clear:
            chain(*(cosmos.clear(layer) for layer in reversed(LAYERS)))
        seed = cosmos.group("seed", select=["resource_type:seed"])
        foundation = cosmos.group("foundation", select=["tag:silver"])
        models = cosmos.group("models", select=["resource_type:model"], exclude=["tag:silver"])
        test = cosmos.test()
        steps = {"clear": clear, "seed": seed, "foundation": foundation, "models": models, "test": test}
        report = DbtReportOperator(
            task_id="report",
            steps={name: _task_ids(item) for name, item in steps.items()},
            manifest_path=str(cosmos.manifest),
            outlets=[GOLD_ASSET],
        )
        chain(clear, seed, foundation, models, test, report)
    return dag


def _schedule(configs: list[PipelineConfig]) -> Any:
    """A run when every table of a source has been committed again (any source)."""
    per_source = [
        AssetAll(*(bronze_asset(c, t.name) for t in sorted(c.tables, key=lambda t: t.name))) for c in configs
    ]
    if not per_source:
        return None
    return per_source[0] if len(per_source) == 1 else AssetAny(*per_source)


def build_transform_dag(
    configs: list[PipelineConfig], lakes: list[Lake], *, conn_id: str = WAREHOUSE_CONN_ID
) -> DAG:
    """``dbt_transform``: silver, gold, test, report, on fresh bronze data."""
    cosmos = _Cosmos(lakes, conn_id)
    with DAG(
        dag_id=TRANSFORM_DAG_ID,
        schedule=_schedule(configs),
        start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args={**_default_args(), "retries": 2, "retry_delay": dt.timedelta(minutes=1)},
        tags=["tributary", "dbt"],
        doc_md=(
            "Runs the silver and gold models, tests them and reports, each time every bronze table "
            "of a source has been committed again (Assets `bronze.<source>.<table>` of the "
            "replication DAGs). The seeds come from `dbt_setup`."
        ),
    ) as dag:
        silver = cosmos.group("silver", select=["tag:silver"])
        gold = cosmos.group("gold", select=["tag:gold"])
        test = cosmos.test(select=["tag:silver", "tag:gold"])
        steps = {"silver": silver, "gold": gold, "test": test}
        report = DbtReportOperator(
            task_id="report",
            steps={name: _task_ids(item) for name, item in steps.items()},
            manifest_path=str(cosmos.manifest),
            outlets=[GOLD_ASSET],
        )
        chain(silver, gold, test, report)
    return dag


def build_dbt_dags(folder: str | os.PathLike[str] | Path | None = None) -> dict[str, DAG]:
    """The dbt DAGs over the lakes of the pipeline configs in ``folder`` (as the replication DAGs).

    A broken config file is left out here: the replication DAG file reports it.
    """
    configs, errors = load_all(folder)
    if errors:
        log.warning(
            "dbt DAGs: %d pipeline config(s) left out, see the replication DAGs' import errors", len(errors)
        )
    valid = [config for _, config in configs]
    lakes = lakes_of(valid)
    return {
        SETUP_DAG_ID: build_setup_dag(lakes),
        TRANSFORM_DAG_ID: build_transform_dag(valid, lakes),
    }
