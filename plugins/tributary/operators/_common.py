"""What the replication operators share: their base classes, the run's window, and the reader and
lake root they get from ``tributary.hooks``."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from tributary.batches import RunInfo
from tributary.config import FileTableConfig, Schedule, TableConfig
from tributary.errors import TributaryError
from tributary.files.landing import Landing
from tributary.hooks.sources import open_reader
from tributary.lake_io import LakeRoot
from tributary.readers.base import SourceReader
from tributary.windows import Window, check_in_range, window_containing

log = logging.getLogger(__name__)


def lake_root(url: str, conn_id: str | None) -> LakeRoot:
    """The lake root for the core: opened on first use, and re-opened from the connection (fresh
    credentials) before each in-place retry of a request (``tributary.hooks.lake``)."""
    from tributary.hooks.lake import lake_root as hooks_lake_root

    return hooks_lake_root(url, conn_id)


def run_window(context: Any, schedule: Schedule) -> Window:
    """The window this run replicates: the one that contains its logical date.

    Airflow's data interval is not trusted alone: ``airflow dags trigger -l D`` asks the timetable
    for the manual interval of the moment it is run, not of D, and a REST call may pass any
    interval. A data interval that differs from the logical date's window is logged and ignored.
    """
    logical = context.get("logical_date")
    if logical is None:
        raise AirflowFailException(
            "this run has no logical date, so no window to replicate; trigger it with one "
            f"(e.g. `airflow dags trigger {context['dag'].dag_id} -l 2025-10-01`, or a logical date "
            "in the UI's trigger form)"
        )
    window = window_containing(logical, schedule)
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if (start, end) != (window.start, window.end):
        log.warning(
            "Airflow gave this run the data interval %s -> %s, which is not the window of its "
            "logical date %s (`airflow dags trigger -l` asks for the interval of the time it is "
            "run); Tributary replicates the window of the logical date: %s -> %s",
            start,
            end,
            logical,
            window.start,
            window.end,
        )
    return window


def run_clock(dag_run: Any) -> dt.datetime | None:
    """The wall clock at which the run began, the same for all its tries: a watermark run reads
    up to it (minus the table's safety lag), whoever started the run.

    The later of the run's ``start_date`` and ``run_after``: the scheduler starts a run (its
    ``start_date``) at or after its ``run_after``, but ``airflow dags test`` gives its run the
    logical date as ``start_date`` and the time it was started as ``run_after``.
    """
    moments = [m for m in (getattr(dag_run, "start_date", None), getattr(dag_run, "run_after", None)) if m]
    return max(moments) if moments else None


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
        params = context.get("params") or {}
        return RunInfo(
            dag_id=self.dag_id,
            run_id=context["run_id"],
            run_start=run_clock(context.get("dag_run")),
            full_refresh=bool(params.get("full_refresh")),
        )

    def extracted_batch(self, context: Any) -> str | None:
        """The batch id the extract task of this table group wrote in this run."""
        task_id = self.task_id.rsplit(".", 1)[0] + ".extract" if "." in self.task_id else "extract"
        pushed = context["ti"].xcom_pull(task_ids=task_id)
        return pushed.get("batch_id") if isinstance(pushed, dict) else None


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
        if not self.landing_url:
            raise AirflowFailException(f"{self.task_id}: no landing_url, the file source's location")
        return Landing(lake_root(self.landing_url, self.landing_conn_id), self.landing_url)

    @property
    def file_table(self) -> FileTableConfig:
        return FileTableConfig.model_validate(self.table)

    def batch(self, context: Any) -> str:
        batch_id = self.extracted_batch(context)
        if not batch_id:
            raise AirflowFailException(
                f"no batch id from this run's extract task of table {self.table.get('name')}; run "
                "the extract first (clear the task group, not the verify or commit task alone)"
            )
        return batch_id


class SourceTaskOperator(TableTaskOperator):
    """Base of the per-table operators that read the source (extract and verify): they need
    ``source_conn_id`` (see ``TableTaskOperator``)."""

    template_fields = (*TableTaskOperator.template_fields, "source_conn_id")

    def reader(self) -> contextlib.AbstractContextManager[SourceReader]:
        """The source reader, classified errors, and the replica guard when asked for."""
        if not self.source_conn_id:
            raise AirflowFailException(f"{self.task_id}: no source_conn_id, the source's Airflow connection")
        return open_reader(
            self.source_conn_id,
            require_read_replica=self.require_read_replica,
            application_intent=self.application_intent,
        )
