"""What the replication operators share: their base classes, the run's window, and the reader and
lake root they get from ``tributary.hooks``."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tributary.config import FileTableConfig, Mode, Schedule, TableConfig
from tributary.dag_support import run_clock, run_window
from tributary.errors import TributaryError
from tributary.windows import check_in_range

# What the tasks run is imported when they run (``execute``): the factory imports these modules
# to build the DAGs, and every task process parses its DAG file first, so an engine imported
# here would load in every task of every kind (and in the DAG processor).
if TYPE_CHECKING:
    from tributary.batches import RunInfo
    from tributary.changes.postgres import CdcPlan
    from tributary.files.landing import Landing
    from tributary.lake_io import LakeRoot
    from tributary.lineage import DatasetId
    from tributary.manifest import Manifest
    from tributary.readers.base import SourceReader

log = logging.getLogger(__name__)

# what keep_for_lineage keeps: the source, the partition and dbt's name of the bronze table
LineageIds = tuple["DatasetId | None", "DatasetId", "DatasetId"]


def lake_root(url: str, conn_id: str | None) -> LakeRoot:
    """The lake root for the core: opened on first use, and re-opened from the connection (fresh
    credentials) before each in-place retry of a request (``tributary.hooks.lake``)."""
    from tributary.hooks.lake import lake_root as hooks_lake_root

    return hooks_lake_root(url, conn_id)


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Permanent errors fail the task without retries; transient ones keep Airflow's retries.

    A permanent ``TributaryError`` -- a config error, a refused login, a missing table, a primary
    where a replica is required (``tributary.failures``) -- becomes ``AirflowFailException`` with
    the same message, raised from it. A transient one (an unreachable server, a timeout, a
    deadlock, a cut connection) is raised as it is: Airflow retries the task with the DAG's
    exponential backoff (``source.retries``, ``source.retry_delay_seconds``).
    """
    try:
        yield
    except TributaryError as exc:
        if exc.permanent:
            raise AirflowFailException(str(exc)) from exc
        raise


class TableTaskOperator(BaseOperator):
    """Base of the per-table operators: one table of one source, in one lake.

    The one ``__init__`` of every per-table operator but the file extract: Airflow wraps the
    ``__init__`` of each class of an operator's hierarchy and deep-copies the DAG's params at
    each level, so a chain of them made a 200-table DAG parse twice as slowly.

    :param source: the source name (``source.name`` of the pipeline config)
    :param table: the table's config, as a mapping of the pipeline config's keys
    :param schedule: ``@monthly`` or ``@daily``: the window a run covers
    :param lake_url: the lake root (file://, s3:// or gs://)
    :param lake_conn_id: the Airflow connection for the lake's credentials, if any
    :param source_conn_id: the tasks that read the source (``SourceTaskOperator``): the Airflow
        connection of the source database (sqlite, postgres, mssql)
    :param require_read_replica: refuse to read unless the connection reaches a read-only replica
    :param application_intent: SQL Server only: ``ReadOnly`` opens sessions with read intent, so an
        availability-group listener routes them to a readable secondary
    :param compression: the extracts: Parquet compression, snappy, zstd, gzip or none
    :param rows_per_file: the extracts: rows per Parquet part file
    :param first_date: the pipeline's ``start_date`` (ISO date): a run whose window starts
        earlier is refused with a message (the DAG carries no dates, see ``tributary.timetable``)
    :param last_date: the pipeline's ``end_date`` (ISO date), if any: a run whose window starts
        on or after it is refused with a message
    """

    template_fields: Sequence[str] = ("lake_url",)
    ui_color = "#d9ecf2"
    # the batch execute() wrote or committed, and its datasets: what the task reports to OpenLineage
    written: Manifest | None = None
    lineage_ids: LineageIds | None = None

    def __init__(
        self,
        *,
        source: str,
        table: dict[str, Any],
        schedule: str,
        lake_url: str,
        lake_conn_id: str | None = None,
        source_conn_id: str | None = None,
        require_read_replica: bool = False,
        application_intent: str | None = None,
        compression: str = "snappy",
        rows_per_file: int = 1_000_000,
        first_date: str | None = None,
        last_date: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.table = table
        self.schedule = schedule
        self.lake_url = lake_url
        self.lake_conn_id = lake_conn_id
        self.source_conn_id = source_conn_id
        self.require_read_replica = require_read_replica
        self.application_intent = application_intent
        self.compression = compression
        self.rows_per_file = rows_per_file
        self.first_date = first_date
        self.last_date = last_date

    @property
    def table_config(self) -> TableConfig:
        return TableConfig.model_validate(self.table)

    def place(self, context: Any) -> dict[str, Any]:
        """The keyword arguments that locate this task's partition."""
        schedule = Schedule(self.schedule)
        window = run_window(context, schedule)
        with fail_fast():
            check_in_range(
                window,
                dt.date.fromisoformat(self.first_date) if self.first_date else None,
                dt.date.fromisoformat(self.last_date) if self.last_date else None,
                self.dag_id,
            )
        return {
            "source": self.source,
            "schedule": schedule,
            "window": window,
            "lake_root": lake_root(self.lake_url, self.lake_conn_id),
        }

    def run_info(self, context: Any) -> RunInfo:
        """The run an extract writes for: ids, start, and the ``full_refresh`` param."""
        from tributary.batches import RunInfo

        params = context.get("params") or {}
        return RunInfo(
            dag_id=self.dag_id,
            run_id=context["run_id"],
            run_start=run_clock(context.get("dag_run")),
            full_refresh=bool(params.get("full_refresh")),
        )

    def batch(self, context: Any) -> str:
        """The batch id this run's extract wrote (a ``batch=`` table), or a permanent failure."""
        batch_id = self.extracted_batch(context)
        if not batch_id:
            raise AirflowFailException(
                f"no batch id from this run's extract task of table {self.table.get('name')}; run "
                "the extract first (clear the task group, not the verify or commit task alone)"
            )
        return batch_id

    def keep_for_lineage(self, manifest: Manifest | None) -> None:
        """Keep the batch the task wrote or committed for OpenLineage, and, when a transport is
        configured, the names of the datasets it read and wrote. Those need Airflow connections:
        they are looked up here, in the task, not in the process the provider forks to emit the
        events, where a lookup through the task's supervisor can hang until it is killed."""
        from tributary import lineage

        self.written = manifest
        if manifest is not None and lineage.enabled():
            try:
                self.lineage_ids = self.lineage_datasets(manifest)
            except Exception:  # lineage never fails a task that has done its work
                log.warning("OpenLineage: cannot name the datasets of %s", self.task_id, exc_info=True)

    def lineage_datasets(self, manifest: Manifest) -> LineageIds:
        """The source table (if the task has its connection), the partition, and the bronze table
        as dbt names it (``tributary.lineage``)."""
        from tributary import lineage

        table = self.table_config
        source = None
        if self.source_conn_id:
            source = lineage.source_table_id(self.source_conn_id, table.name, table.schema_)
        return (
            source,
            lineage.partition_id(self.lake_url, manifest),
            lineage.bronze_symlink(self.source, table.name),
        )

    def table_lineage(self, *, output: bool) -> Any:
        """OpenLineage: the source as the input and, with ``output``, the partition of the batch as
        the output; nothing when the task wrote no batch."""
        from tributary import lineage
        from tributary.batches import DELETES_PARTITION
        from tributary.changes.shape import CHANGE_VERSION, COMMIT_TIME, LSN, OP, SEQ

        manifest = self.written
        if manifest is None or self.lineage_ids is None:
            return lineage.batch_lineage(None, source=None)
        source, target, symlink = self.lineage_ids
        changes = self.table.get("mode") == Mode.cdc.value or manifest.partition.startswith(
            f"{DELETES_PARTITION}="
        )
        return lineage.batch_lineage(
            manifest,
            source=source,
            target=target if output else None,
            symlink=symlink if output else None,
            # the columns a change batch or a tombstone partition adds: no source column is their origin
            lake_made=(OP, LSN, SEQ, CHANGE_VERSION, COMMIT_TIME) if changes else (),
        )

    def extracted_batch(self, context: Any) -> str | None:
        """The batch id the extract task of this table group wrote in this run."""
        task_id = self.task_id.rsplit(".", 1)[0] + ".extract" if "." in self.task_id else "extract"
        pushed = context["ti"].xcom_pull(task_ids=task_id)
        return pushed.get("batch_id") if isinstance(pushed, dict) else None


CDC_PLAN_TASK = "cdc_plan"
CDC_ADVANCE_TASK = "cdc_advance"


def cdc_plan_of(context: Any) -> CdcPlan:
    """The bounds the source's ``cdc_plan`` task fixed for this run."""
    from tributary.changes.postgres import CdcPlan

    pushed = context["ti"].xcom_pull(task_ids=CDC_PLAN_TASK)
    if not isinstance(pushed, dict) or pushed.get("slot") is None:
        raise AirflowFailException(
            f"no change positions from this run's {CDC_PLAN_TASK} task; clear the whole run, not a "
            "table's extract alone"
        )
    return CdcPlan.from_xcom(pushed)


def skip_unless_chosen(task: BaseOperator, context: Any, table: str) -> None:
    """Apply the DAG's ``tables`` param: fail the run if it names a table the DAG does not have,
    skip this task if the param leaves its table out."""
    chosen = (context.get("params") or {}).get("tables") or []
    known = {
        t.table["name"]
        for t in task.dag.tasks
        if isinstance(t, TableTaskOperator) and t.task_id.endswith("extract")
    }
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise AirflowFailException(
            f"the `tables` param names {unknown}, which are not tables of {task.dag_id}; "
            f"its tables are {sorted(known)}"
        )
    if chosen and table not in chosen:
        raise AirflowSkipException(f"table {table} is not in this run's `tables` param {chosen}")


class FileTaskOperator(TableTaskOperator):
    """Base of the operators of a file table: the table is a ``FileTableConfig``, and its
    partition is the ``batch=<id>`` the run's extract task wrote.

    :param landing_url: the extract and the commit (which moves rejected files to the
        quarantine): the landing location (file://, s3:// or gs://)
    :param landing_conn_id: the Airflow connection with the landing location's credentials
    """

    template_fields = (*TableTaskOperator.template_fields, "landing_url")

    def __init__(
        self, *, landing_url: str | None = None, landing_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.landing_url = landing_url
        self.landing_conn_id = landing_conn_id

    def landing(self) -> Landing:
        """The landing location, through the lake's retries (``tributary.files.landing``)."""
        from tributary.files.landing import Landing

        if not self.landing_url:
            raise AirflowFailException(f"{self.task_id}: no landing_url, the file source's location")
        return Landing(lake_root(self.landing_url, self.landing_conn_id), self.landing_url)

    @property
    def file_table(self) -> FileTableConfig:
        return FileTableConfig.model_validate(self.table)

    def lineage_datasets(self, manifest: Manifest) -> LineageIds:
        """The landing folder of the table's glob, the partition, and the bronze table as dbt names
        it (``tributary.lineage``)."""
        from tributary import lineage

        table = self.file_table
        source = lineage.landing_id(self.landing_url, table.glob) if self.landing_url else None
        return (
            source,
            lineage.partition_id(self.lake_url, manifest),
            lineage.bronze_symlink(self.source, table.name),
        )


class SourceTaskOperator(TableTaskOperator):
    """Base of the per-table operators that read the source (extract and verify): they need
    ``source_conn_id`` (see ``TableTaskOperator``)."""

    template_fields = (*TableTaskOperator.template_fields, "source_conn_id")

    def reader(self) -> contextlib.AbstractContextManager[SourceReader]:
        """The source reader, classified errors, and the replica guard when asked for."""
        from tributary.hooks.sources import open_reader

        if not self.source_conn_id:
            raise AirflowFailException(f"{self.task_id}: no source_conn_id, the source's Airflow connection")
        return open_reader(
            self.source_conn_id,
            require_read_replica=self.require_read_replica,
            application_intent=self.application_intent,
        )
