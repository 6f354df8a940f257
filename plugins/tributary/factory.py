"""Build one replication DAG per pipeline config file: a task group per table per run.

Parse time reads the YAML files and nothing else. A broken config file becomes an import error
that names the file, line, key and fix, while the DAGs of the other files are still built.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, Param, TaskGroup, chain

from tributary.config import FilesPipelineConfig, FileTableConfig, Mode, PipelineConfig, load_all
from tributary.errors import ConfigError
from tributary.lake import table_url
from tributary.operators import (
    CommitFilesOperator,
    CommitPartitionOperator,
    ExtractFilesOperator,
    ExtractTableOperator,
    VerifyFilesOperator,
    VerifyPartitionOperator,
)
from tributary.timetable import CRON, WindowTimetable

log = logging.getLogger(__name__)


def bronze_asset(config: PipelineConfig, table_name: str) -> Asset:
    """The Asset the commit of a table updates: named ``bronze.<source>.<table>`` (the names as
    they are), with the URL of the table's folder as its URI (ASCII: see ``table_url``)."""
    return Asset(
        name=f"bronze.{config.source.name}.{table_name}",
        uri=table_url(config.lake.resolved_url(), config.source.name, table_name),
        group="tributary-bronze",
    )


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
            "baseline of the whole table. Window and full tables always rewrite their window. "
            "File tables load every file that matches their glob again.",
        ),
    }


def build_dag(config: PipelineConfig, path: Path) -> DAG:
    """The replication DAG of one pipeline config."""
    default_args: dict[str, Any] = {
        "owner": "tributary",
        "retries": config.source.retries,
        "retry_delay": dt.timedelta(seconds=config.source.retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(hours=1),
    }
    start = dt.datetime.combine(config.start_date, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(config.end_date, dt.time(), tzinfo=dt.UTC) if config.end_date else None
    lake = {"lake_url": config.lake.resolved_url(), "lake_conn_id": config.lake.conn_id}
    # every task that opens a source session takes a slot of the source's pool
    reading = (
        {
            "source_conn_id": config.source.conn_id,
            "require_read_replica": config.source.require_read_replica,
            "application_intent": config.source.application_intent,
            "pool": config.pool,
        }
        if not isinstance(config, FilesPipelineConfig)
        else {}
    )
    with DAG(
        dag_id=config.dag_id,
        # the pipeline's dates live in the timetable, not on the DAG: see tributary.timetable
        schedule=WindowTimetable(CRON[config.schedule.value], timezone="UTC", start=start, end=end),
        catchup=False,
        max_active_runs=config.max_active_runs,
        default_args=default_args,
        tags=sorted({"tributary", f"source:{config.source.name}", *config.tags}),
        doc_md=_doc(config, path),
        params=_params(config),
    ) as dag:
        for table in sorted(config.tables, key=lambda t: t.name):
            common = {
                "source": config.source.name,
                "table": table.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                "schedule": config.schedule.value,
                "first_date": config.start_date.isoformat(),
                "last_date": config.end_date.isoformat() if config.end_date else None,
                **lake,
            }
            if isinstance(table, FileTableConfig):
                with TaskGroup(group_id=table.group_id, tooltip=f"{table.name} ({table.format.value} files)"):
                    chain(*_file_tasks(config, table, common))
                continue
            with TaskGroup(group_id=table.group_id, tooltip=f"{table.name} ({table.mode.value})"):
                extract = ExtractTableOperator(
                    task_id="extract",
                    # an extract over several source sessions holds a pool slot for each
                    pool_slots=table.sessions,
                    compression=config.lake.compression.value,
                    rows_per_file=config.lake.rows_per_file,
                    **reading,
                    # the state of a watermark table moves one run at a time
                    max_active_tis_per_dag=1 if table.mode is Mode.watermark else None,
                    **common,
                )
                verify = VerifyPartitionOperator(task_id="verify", **reading, **common)
                commit = CommitPartitionOperator(
                    task_id="commit",
                    outlets=[bronze_asset(config, table.name)],
                    retries=0,
                    **common,
                )
                chain(extract, verify, commit)
    return dag


class ConfigErrorDag(DAG):
    """Stands in for the DAG of a broken config file: Airflow's validation of it raises the
    config error, which Airflow records as an import error of the DAG file, while the other
    DAGs of the same file are still loaded."""

    def validate(self) -> None:
        raise ConfigError(self.description or "invalid pipeline config")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage-collector passes while the DAGs are built: a 200-table DAG creates thousands
    of objects that refer to each other (DAG, groups, tasks), and each pass would scan the
    growing heap again; about a fifth of the build time. The collector runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def build_dags(folder: str | os.PathLike[str] | None = None) -> dict[str, DAG]:
    """Every DAG of the pipeline configs in ``folder`` (default: ``$TRIBUTARY_PIPELINES_DIR``
    or ``include/pipelines``), keyed by DAG id; broken files become one import error."""
    with _collector_paused():
        return _build_dags(folder)


def _build_dags(folder: str | os.PathLike[str] | None) -> dict[str, DAG]:
    configs, errors = load_all(folder)
    dags: dict[str, DAG] = {}
    for path, config in configs:
        try:
            dags[config.dag_id] = build_dag(config, path)
        except Exception as exc:  # one config must not take the other DAGs of this file down
            log.exception("Cannot build the DAG of %s", path)
            errors.append(ConfigError(f"{path}: its DAG cannot be built: {type(exc).__name__}: {exc}"))
    if errors:
        message = "\n\n".join(str(e) for e in errors)
        log.error("%s", message)
        dags["tributary_config_errors"] = ConfigErrorDag(
            dag_id="tributary_config_errors",
            schedule=None,
            description=message,
            tags=["tributary", "config-error"],
        )
    return dags
