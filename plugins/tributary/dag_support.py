"""What the DAGs of every feature share (Airflow glue, not core). At parse time: the bronze
Asset of a table, the stand-in DAG that reports broken config files as an import error, and the
loop that builds a file's DAGs so that one broken config does not take the others down. At run
time: the window a run covers (from its logical date) and the wall clock it started at.

The replication factory (``tributary.factory``), the extracts DAG (``tributary.extracts.dag``)
and the dbt DAGs (``tributary.transform.factory``) import these from here, not from each other.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from airflow.sdk import DAG, Asset
from airflow.sdk.exceptions import AirflowFailException

from tributary.config import PipelineConfig, Schedule
from tributary.errors import ConfigError
from tributary.lake import table_url
from tributary.windows import Window, window_containing

log = logging.getLogger(__name__)

ERROR_TAGS = ["tributary", "config-error"]


def bronze_asset(config: PipelineConfig, table_name: str) -> Asset:
    """The Asset the commit of a table updates: named ``bronze.<source>.<table>`` (the names as
    they are), with the URL of the table's folder as its URI (ASCII: see ``table_url``)."""
    return Asset(
        name=f"bronze.{config.source.name}.{table_name}",
        uri=table_url(config.lake.resolved_url(), config.source.name, table_name),
        group="tributary-bronze",
    )


class ConfigErrorDag(DAG):
    """Stands in for the DAG of a broken config file: Airflow's validation of it raises the
    config error, which Airflow records as an import error of the DAG file, while the other
    DAGs of the same file are still loaded."""

    def validate(self) -> None:
        raise ConfigError(self.description or "invalid pipeline config")


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
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


def collect_dags(
    builders: Iterable[tuple[str, Callable[[], DAG]]], errors: list[ConfigError], *, errors_dag_id: str
) -> dict[str, DAG]:
    """The DAGs of ``builders`` (what each builds, as the error names it; how), keyed by DAG id.

    A builder that raises becomes one more config error instead of an import error that would
    hide every DAG of the file. When there are errors (the loader's and these), a
    ``ConfigErrorDag`` named ``errors_dag_id`` reports them all as the file's import error.
    """
    dags: dict[str, DAG] = {}
    for what, build in builders:
        try:
            dag = build()
        except Exception as exc:  # one config must not take the other DAGs of this file down
            log.exception("Cannot build %s", what)
            errors.append(ConfigError(f"{what} cannot be built: {type(exc).__name__}: {exc}"))
            continue
        dags[dag.dag_id] = dag
    if errors:
        message = "\n\n".join(str(e) for e in errors)
        log.error("%s", message)
        dags[errors_dag_id] = ConfigErrorDag(
            dag_id=errors_dag_id, schedule=None, description=message, tags=list(ERROR_TAGS)
        )
    return dags


def run_window(context: Any, schedule: Schedule, *, logical_date_required: bool = True) -> Window:
    """The window this run replicates: the one that contains its logical date.

    Airflow's data interval is not trusted alone: ``airflow dags trigger -l D`` asks the timetable
    for the manual interval of the moment it is run, not of D, and a REST call may pass any
    interval. A data interval that differs from the logical date's window is logged and ignored.

    A run without a logical date fails, unless ``logical_date_required`` is false (the extracts
    DAG): then it covers the window of the moment it was triggered (its ``run_after``).
    """
    logical = context.get("logical_date")
    if logical is None and not logical_date_required:
        moment = getattr(context.get("dag_run"), "run_after", None) or dt.datetime.now(dt.UTC)
        return window_containing(moment, schedule)
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
