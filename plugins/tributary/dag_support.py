"""What the DAG factories of every feature share (Airflow glue, not core): the bronze Asset of a
table, the stand-in DAG that reports broken config files as an import error, and the loop that
builds a file's DAGs so that one broken config does not take the others down.

The replication factory (``tributary.factory``), the extracts DAG (``tributary.extracts.dag``)
and the dbt DAGs (``tributary.transform.factory``) import these from here, not from each other.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Callable, Iterable, Iterator

from airflow.sdk import DAG, Asset

from tributary.config import PipelineConfig
from tributary.errors import ConfigError
from tributary.lake import table_url

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
