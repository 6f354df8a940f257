"""What the replication operators share: building a reader and a lake root, the run's window."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from airflow.sdk import BaseHook, BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from tributary.config import Schedule, TableConfig
from tributary.dialects import dialect_for_conn_type
from tributary.errors import TributaryError
from tributary.readers import reader_for
from tributary.readers.base import SourceReader
from tributary.windows import Window


def lake_root(url: str, conn_id: str | None) -> ObjectStoragePath:
    return ObjectStoragePath(url, conn_id=conn_id) if conn_id else ObjectStoragePath(url)


def run_window(context: Any) -> Window:
    start, end = context["data_interval_start"], context["data_interval_end"]
    if start is None or end is None or start >= end:
        raise AirflowFailException(
            "this run has no data interval; replication DAGs use a window timetable, trigger them "
            "with a logical date (e.g. `airflow dags trigger replicate_pos -l 2025-10-01`)"
        )
    return Window(start, end)


def _libpq_params(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson
    return {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema or extra.get("database"),
        "sslmode": extra.get("sslmode"),
    }


@contextlib.contextmanager
def open_reader(conn_id: str) -> Iterator[SourceReader]:
    """A source reader over a connection from the provider's hook, closed afterwards."""
    conn = BaseHook.get_connection(conn_id)
    dialect = dialect_for_conn_type(conn.conn_type)
    options: dict[str, Any] = {}
    if dialect.name == "sqlite":
        from airflow.providers.sqlite.hooks.sqlite import SqliteHook

        connection = SqliteHook(sqlite_conn_id=conn_id).get_conn()
    elif dialect.name == "postgres":
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        connection = PostgresHook(postgres_conn_id=conn_id).get_conn()
        options["libpq"] = _libpq_params(conn)
    else:
        from airflow.providers.microsoft.mssql.hooks.mssql import MsSqlHook

        connection = MsSqlHook(mssql_conn_id=conn_id).get_conn()
    try:
        yield reader_for(dialect, connection, conn_id=conn_id, **options)
    finally:
        connection.close()


@contextlib.contextmanager
def fail_fast() -> Iterator[None]:
    """Permanent errors fail the task without retries; transient ones keep Airflow's retries."""
    try:
        yield
    except TributaryError as exc:
        if exc.permanent:
            raise AirflowFailException(str(exc)) from exc
        raise


class TableTaskOperator(BaseOperator):
    """Base of the per-table operators: one table of one source, in one lake.

    :param source: the source name (``source.name`` of the pipeline config)
    :param table: the table's config, as a mapping of the pipeline config's keys
    :param schedule: ``@monthly`` or ``@daily``: the window a run covers
    :param lake_url: the lake root (file://, s3:// or gs://)
    :param lake_conn_id: the Airflow connection for the lake's credentials, if any
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.table = table
        self.schedule = schedule
        self.lake_url = lake_url
        self.lake_conn_id = lake_conn_id

    @property
    def table_config(self) -> TableConfig:
        return TableConfig.model_validate(self.table)

    def place(self, context: Any) -> dict[str, Any]:
        """The keyword arguments that locate this task's partition."""
        return {
            "source": self.source,
            "schedule": Schedule(self.schedule),
            "window": run_window(context),
            "lake_root": lake_root(self.lake_url, self.lake_conn_id),
        }

    def extracted_batch(self, context: Any) -> str | None:
        """The batch id the extract task of this table group wrote in this run."""
        task_id = self.task_id.rsplit(".", 1)[0] + ".extract" if "." in self.task_id else "extract"
        pushed = context["ti"].xcom_pull(task_ids=task_id)
        return pushed.get("batch_id") if isinstance(pushed, dict) else None
