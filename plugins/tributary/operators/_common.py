"""What the replication operators share: building a reader and a lake root, the run's window."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow.sdk import BaseHook, BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException, AirflowSkipException
from airflow.sdk.log import mask_secret

from tributary.batches import RunInfo
from tributary.config import FileTableConfig, Schedule, TableConfig
from tributary.dialects import dialect_for_conn_type
from tributary.errors import ConfigError, TributaryError
from tributary.failures import (
    CONNECT,
    ConnectionUndefined,
    DatabaseMissing,
    NotAReplica,
    Target,
    classified,
    failure,
)
from tributary.failures.replica import sqlite_uri_read_only
from tributary.files.landing import Landing
from tributary.lake_io import LakeRoot
from tributary.readers import reader_for
from tributary.readers.base import SourceReader
from tributary.windows import Window, check_in_range, window_containing

log = logging.getLogger(__name__)


def lake_root(url: str, conn_id: str | None) -> LakeRoot:
    """The lake root for the core: opened on first use, and re-opened from the connection (fresh
    credentials) before each in-place retry of a request (``tributary.storage``)."""
    from tributary.storage import lake_root as storage_lake_root

    return storage_lake_root(url, conn_id)


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


def _libpq_params(conn: Any) -> dict[str, Any]:
    """What DuckDB's scanner connects with: the connection's fields, and every libpq setting of
    its extra (sslmode, sslrootcert, sslcert, sslkey, sslpassword, ...). The extra's keys win, as
    in the provider's hook, which hands the whole extra to psycopg: both paths connect alike."""
    from tributary.readers.postgres import LIBPQ_KEYWORDS

    extra = conn.extra_dejson if conn.extra else {}
    return {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema or extra.get("database"),
        **{key: value for key, value in extra.items() if key in LIBPQ_KEYWORDS},
    }


@contextlib.contextmanager
def open_reader(
    conn_id: str, *, require_read_replica: bool = False, application_intent: str | None = None
) -> Iterator[SourceReader]:
    """A source reader whose DB-API connection comes from the provider's hook when first used,
    and is closed afterwards.

    A source driver's error raised while the reader is in use -- connecting, the catalog, counts,
    batches -- comes out as its class of ``tributary.failures``: a message that names the
    connection and says what to do, ``permanent`` or not, the driver's error as its cause.

    :param conn_id: the source's Airflow connection (sqlite, postgres or mssql)
    :param require_read_replica: before anything else is read, the source must show that the
        connection reads a read-only replica; ``NotAReplica`` (permanent) otherwise
    :param application_intent: ``ReadOnly`` opens SQL Server sessions with read intent, which an
        availability group listener routes to a readable secondary (pymssql's ``read_only``,
        FreeTDS's read-only intent); ``ReadWrite`` clears a ``read_only`` of the connection's extra
    """
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise failure(ConnectionUndefined, Target(conn_id)) from exc
    dialect = dialect_for_conn_type(conn.conn_type)
    target = Target.of(conn, dialect.name)
    for secret in target.secrets:  # the Task SDK masks the password; the extra's values too
        mask_secret(secret)
    with classified(target):
        source = _source_session(conn_id, conn, target, application_intent)
        reader = reader_for(dialect, conn_id=conn_id, connect=source.connect, **source.options)
        try:
            if require_read_replica:
                _require_read_replica(reader, target, sqlite_read_only=source.read_only)
            yield reader
        finally:
            reader.release()


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


@dataclass(frozen=True)
class _SourceSession:
    """How a reader opens its connection: ``connect`` (errors classified as connect errors),
    the reader's options, and whether the connection opens its source read-only (SQLite)."""

    connect: Callable[[], Any]
    options: dict[str, Any]
    read_only: bool = False


def _source_session(
    conn_id: str, conn: Any, target: Target, application_intent: str | None
) -> _SourceSession:
    options: dict[str, Any] = {}
    read_only = False
    if application_intent == "ReadOnly" and target.dialect != "mssql":
        raise ConfigError(
            f"source.application_intent: ReadOnly asks SQL Server for read-intent routing, and "
            f"connection {conn_id!r} is a {target.dialect} connection; remove application_intent "
            "from the pipeline config (a PostgreSQL source reads a standby when its Host is one)"
        )
    if target.dialect == "sqlite":
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        sqlite_hook = SqliteHook(sqlite_conn_id=conn_id)
        uri = sqlite_hook.get_uri().replace("sqlite:///", "file:", 1)  # what get_conn opens
        read_only = sqlite_uri_read_only(uri)

        def get_conn() -> Any:
            _require_sqlite_file(uri, target)
            return sqlite_hook.get_conn()

    elif target.dialect == "postgres":
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        get_conn = PostgresHook(postgres_conn_id=conn_id).get_conn
        options["libpq"] = _libpq_params(conn)
    else:
        from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

        mssql_hook = MsSqlHook(mssql_conn_id=conn_id)
        extra = mssql_read_intent(conn.extra_dejson if conn.extra else {}, application_intent)
        if extra is not None:  # the hook hands its connection's extra to pymssql.connect
            mssql_hook.connection.extra = json.dumps(extra)
        get_conn = mssql_hook.get_conn

    def connect() -> Any:
        with classified(target, phase=CONNECT):
            return get_conn()

    return _SourceSession(connect, options, read_only)


_INTENT_KEYS = {"applicationintent", "application_intent"}


def mssql_read_intent(extra: dict[str, Any], application_intent: str | None) -> dict[str, Any] | None:
    """The extra to give pymssql for ``application_intent`` (``None``: leave it as it is).

    pymssql takes the intent as ``read_only=True``; an ODBC-style ``ApplicationIntent`` key in
    the extra is translated (pymssql.connect would refuse it), the config's setting wins, and a
    ``"read_only": "false"`` string -- true to Python -- is read as the false it means.
    """
    intent = application_intent
    for key in [k for k in extra if k.lower() in _INTENT_KEYS]:
        intent = intent or str(extra[key])
    wanted: bool | None = None
    if intent is not None:
        wanted = intent.replace("_", "").lower() == "readonly"
    elif isinstance(extra.get("read_only"), str):
        wanted = extra["read_only"].strip().lower() in ("1", "true", "yes", "on")
    if wanted is None and not any(k.lower() in _INTENT_KEYS for k in extra):
        return None
    cleaned = {k: v for k, v in extra.items() if k.lower() not in _INTENT_KEYS and k != "read_only"}
    return {**cleaned, "read_only": bool(wanted)} if wanted is not None else cleaned


def _require_sqlite_file(uri: str, target: Target) -> None:
    """SQLite creates a missing file: a mistyped path would read as an empty database."""
    parts = urlsplit(uri)
    path = unquote(parts.path)
    if "mode=memory" in parts.query or path in ("", ":memory:") or Path(path).exists():
        return
    raise failure(DatabaseMissing, target, advice="sqlite_missing_file")


def _require_read_replica(reader: SourceReader, target: Target, *, sqlite_read_only: bool) -> None:
    from tributary.failures.replica import check_replica

    check = check_replica(reader, sqlite_read_only_uri=sqlite_read_only)
    if not check.is_replica:
        raise failure(NotAReplica, target, found=check.evidence)
    log.info("Connection %r reads a read-only replica: %s", target.conn_id, check.evidence)


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

    template_fields = ("lake_url",)
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
