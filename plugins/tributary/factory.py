"""Build one replication DAG per pipeline config file: a task group per table per run.

Parse time reads the YAML files and nothing else. A broken config file becomes an import error
that names the file, line, key and fix, while the DAGs of the other files are still built.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import partial
from pathlib import Path
from typing import Any, cast

from airflow.sdk import DAG, Param, TaskGroup, chain

from tributary.config import (
    Deletes,
    FilesPipelineConfig,
    FileTableConfig,
    Mode,
    PipelineConfig,
    TableConfig,
    load_all,
)
from tributary.dag_support import bronze_asset, collect_dags, collector_paused
from tributary.operators import (
    CdcAdvanceOperator,
    CdcPlanOperator,
    CommitFilesOperator,
    CommitPartitionOperator,
    DetectDeletesOperator,
    ExtractFilesOperator,
    ExtractTableOperator,
    VerifyFilesOperator,
    VerifyPartitionOperator,
)
from tributary.timetable import CRON, WindowTimetable

ERRORS_DAG_ID = "tributary_config_errors"


def _doc(config: PipelineConfig, path: Path) -> str:
    if isinstance(config, FilesPipelineConfig):
        return _files_doc(config, path)
    tables = "\n".join(f"- `{t.name}` ({t.mode.value})" for t in config.tables)
    return (
        f"Replicates source `{config.source.name}` (connection `{config.source.conn_id}`) into "
        f"`{config.lake.resolved_url()}`, one {config.schedule.value.lstrip('@')} window per run.\n\n"
        f"Config: `{path}`. Pool `{config.pool}` caps source sessions at "
        f"{config.source.max_connections}.\n\n{tables}\n"
    )


def _files_doc(config: FilesPipelineConfig, path: Path) -> str:
    tables = "\n".join(
        f"- `{t.name}`: `{t.glob}` ({t.format.value}, on_violation {t.on_violation.value})"
        for t in config.tables
    )
    return (
        f"Loads the new and changed files of `{config.source.resolved_url()}` (source "
        f"`{config.source.name}`) into `{config.lake.resolved_url()}`, a `batch=` partition per table "
        f"and run.\n\nConfig: `{path}`. Pool `{config.pool}` caps the files read at once at "
        f"{config.source.max_connections}.\n\n{tables}\n"
    )


def _file_tasks(config: FilesPipelineConfig, table: FileTableConfig, common: dict[str, Any]) -> list[Any]:
    """extract >> verify >> commit of a file table; the extract, which reads the landing zone,
    takes a slot of the source's pool."""
    landing = {"landing_url": config.source.resolved_url(), "landing_conn_id": config.source.conn_id}
    extract = ExtractFilesOperator(
        task_id="extract",
        **landing,
        compression=config.lake.compression.value,
        rows_per_file=config.lake.rows_per_file,
        pool=config.pool,
        # the state (the files committed so far) moves one run at a time
        max_active_tis_per_dag=1,
        **common,
    )
    verify = VerifyFilesOperator(task_id="verify", **common)
    commit = CommitFilesOperator(
        task_id="commit", outlets=[bronze_asset(config, table.name)], retries=0, **landing, **common
    )
    return [extract, verify, commit]


def _params(config: PipelineConfig) -> dict[str, Param]:
    """The trigger form of a replication DAG: which tables, and a full reload of watermarks."""
    names = ", ".join(sorted(t.name for t in config.tables))
    # No `enum` of the names: Airflow deep-copies the DAG's params into every operator (once per
    # class of its hierarchy), and a 200-name enum tripled the parse time of a big config. The
    # extract task fails a run that names a table the source does not have.
    return {
        "tables": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Tables",
            description=f"Replicate only these tables (empty: every table of the source): {names}.",
        ),
        "full_refresh": Param(
            False,
            type="boolean",
            title="Full refresh",
            description="Watermark tables ignore their committed state once and write a fresh "
            "baseline of the whole table; cdc tables write a new snapshot (replacing what the lake "
            "held) before their changes. Window and full tables always rewrite their window. "
            "File tables load every file that matches their glob again.",
        ),
    }


def _default_args(config: PipelineConfig) -> dict[str, Any]:
    return {
        "owner": "tributary",
        "retries": config.source.retries,
        "retry_delay": dt.timedelta(seconds=config.source.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(hours=1),
    }


def _timetable(config: PipelineConfig) -> WindowTimetable:
    """The pipeline's windows; its dates live in the timetable, not on the DAG (see
    ``tributary.timetable``)."""
    start = dt.datetime.combine(config.start_date, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(config.end_date, dt.time(), tzinfo=dt.UTC) if config.end_date else None
    return WindowTimetable(CRON[config.schedule.value], timezone="UTC", start=start, end=end)


def _table_tasks(config: PipelineConfig, table: TableConfig, common: dict[str, Any]) -> list[Any]:
    """extract >> verify >> commit of a database table, then detect_deletes for a table with
    ``deletes: detect_by_keys``; every task that opens a source session takes a slot of the
    source's pool."""
    reading: dict[str, Any] = {
        "source_conn_id": config.source.conn_id,
        "require_read_replica": config.source.require_read_replica,
        "application_intent": config.source.application_intent,
        "pool": config.pool,
    }
    extract = ExtractTableOperator(
        task_id="extract",
        # an extract over several source sessions holds a pool slot for each
        pool_slots=table.sessions,
        compression=config.lake.compression.value,
        rows_per_file=config.lake.rows_per_file,
        **reading,
        # the state of a watermark table moves one run at a time
        max_active_tis_per_dag=1 if table.mode in (Mode.watermark, Mode.cdc) else None,
        **common,
    )
    verify = VerifyPartitionOperator(task_id="verify", **reading, **common)
    # the table's Asset is announced by the group's last task, once bronze has all of the run
    asset = [bronze_asset(config, table.name)]
    detects = table.deletes is Deletes.detect_by_keys
    # the commit reports lineage from the source table (it opens no session on it)
    commit = CommitPartitionOperator(
        task_id="commit",
        outlets=[] if detects else asset,
        retries=0,
        source_conn_id=config.source.conn_id,
        **common,
    )
    if not detects:
        return [extract, verify, commit]
    # one run at a time: two detections side by side would tombstone the same keys twice
    detect = DetectDeletesOperator(task_id="detect_deletes", outlets=asset, max_active_tis_per_dag=1,
                                   **reading, **common)  # fmt: skip
    return [extract, verify, commit, detect]


def _cdc_tasks(config: PipelineConfig, groups: dict[str, TaskGroup]) -> None:
    """A source with ``cdc`` tables: ``cdc_plan`` before their extracts (checks the setup, fixes
    the run's bounds), ``cdc_advance`` after all their commits (moves the slot)."""
    tables = sorted(
        (t for t in config.tables if isinstance(t, TableConfig) and t.mode is Mode.cdc), key=lambda t: t.name
    )
    if not tables:
        return
    source = config.source
    reading = {"source": source.name, "source_conn_id": source.conn_id, "pool": config.pool}
    cdc_plan = CdcPlanOperator(
        task_id="cdc_plan",
        slot=source.slot_name,
        publication=source.publication_name,
        tables=[[t.schema_, t.name, *t.primary_key] for t in tables],
        warn_retained_wal_mb=source.cdc.warn_retained_wal_mb if source.cdc else 1024,
        max_active_tis_per_dag=1,
        **reading,
    )
    cdc_advance = CdcAdvanceOperator(
        task_id="cdc_advance",
        tables=[t.name for t in tables],
        lake_url=config.lake.resolved_url(),
        lake_conn_id=config.lake.conn_id,
        trigger_rule="all_success",
        retries=0,
        **reading,
    )
    for table in tables:
        group = groups[table.group_id]
        cdc_plan >> group.children[f"{group.group_id}.extract"]
        group.children[f"{group.group_id}.commit"] >> cdc_advance


def build_dag(config: PipelineConfig, path: Path) -> DAG:
    """The replication DAG of one pipeline config."""
    with DAG(
        dag_id=config.dag_id,
        schedule=_timetable(config),
        catchup=False,
        max_active_runs=config.max_active_runs,
        default_args=_default_args(config),
        tags=sorted({"tributary", f"source:{config.source.name}", *config.tags}),
        doc_md=_doc(config, path),
        params=_params(config),
    ) as dag:
        groups: dict[str, TaskGroup] = {}
        for table in sorted(config.tables, key=lambda t: t.name):
            common = {
                "source": config.source.name,
                "table": table.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                "schedule": config.schedule.value,
                "first_date": config.start_date.isoformat(),
                "last_date": config.end_date.isoformat() if config.end_date else None,
                "lake_url": config.lake.resolved_url(),
                "lake_conn_id": config.lake.conn_id,
            }
            if isinstance(table, FileTableConfig):
                with TaskGroup(group_id=table.group_id, tooltip=f"{table.name} ({table.format.value} files)"):
                    chain(*_file_tasks(cast(FilesPipelineConfig, config), table, common))
            else:
                tooltip = f"{table.name} ({table.mode.value})"
                with TaskGroup(group_id=table.group_id, tooltip=tooltip) as group:
                    chain(*_table_tasks(config, table, common))
                groups[table.group_id] = group
        _cdc_tasks(config, groups)
    return dag


def build_dags(folder: str | os.PathLike[str] | None = None) -> dict[str, DAG]:
    """Every DAG of the pipeline configs in ``folder`` (default: ``$TRIBUTARY_PIPELINES_DIR``
    or ``include/pipelines``), keyed by DAG id; broken files become one import error."""
    with collector_paused():
        configs, errors = load_all(folder)
        builders = [(f"{path}: its DAG", partial(build_dag, config, path)) for path, config in configs]
        return collect_dags(builders, errors, errors_dag_id=ERRORS_DAG_ID)
