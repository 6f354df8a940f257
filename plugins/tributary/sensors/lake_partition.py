"""LakePartitionSensor: wait until a partition of the lake is committed and complete.

``_SUCCESS`` alone is not enough: the sensor also reads the partition's manifest and passes only
when every file it lists is present with its size (and ``_SUCCESS`` names the manifest's batch).
It returns, per table, the committed batch and its parts (``files``): the files a downstream task
reads, never a glob of the partition folder (a stray part, or a re-run's, would be read with them).

A ``_SUCCESS`` whose manifest lists a missing file, or one of another size, keeps the sensor
waiting, with a warning that names the files, until its timeout: the commit protocol never leaves
a partition in that state, so it means someone or something is changing the partition under the
protocol (a manual copy, a lifecycle rule, a re-run of the window in progress), and a re-run of
the window repairs it. Set ``fail_on_incomplete=True`` to fail at once instead.

Works for file://, s3:// and gs:// lakes, in poke mode and deferrable (``deferrable=True``, or the
``[operators] default_deferrable`` setting), where the waiting happens in the triggerer
(``LakePartitionTrigger``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from tributary.errors import TributaryError
from tributary.lake import parse_partition
from tributary.triggers.lake_partition import LakePartitionTrigger, check, describe, incomplete, report

if TYPE_CHECKING:
    from tributary.config import PipelineConfig

# The core's logger (stdlib logging reaches the task log): what a poke found.
log = logging.getLogger(__name__)

# The partition a replication run writes, as templates of the waiting DAG's run (see
# ``tributary.windows.partition_for``): ``{start}`` is a Jinja expression of a datetime.
_PARTITION_TEMPLATES = {
    ("window", "@monthly"): "month={{{{ {start}.strftime('%Y-%m') }}}}",
    ("window", "@daily"): "day={{{{ {start}.strftime('%Y-%m-%d') }}}}",
    ("full", "@monthly"): "snapshot_date={{{{ {start}.strftime('%Y-%m-%d') }}}}",
    ("full", "@daily"): "snapshot_date={{{{ {start}.strftime('%Y-%m-%d') }}}}",
}


class LakePartitionSensor(BaseSensorOperator):
    """Wait for ``_SUCCESS`` of one partition of one or more tables, and a complete manifest.

    Give either ``table`` (or ``tables``) with one ``partition``, or ``partitions`` mapping each
    table to its partition. Every partition argument is templated, e.g.
    ``partition="month={{ data_interval_start.strftime('%Y-%m') }}"``.

    :param lake_url: the lake root: file:///abs/path, s3://bucket/prefix or gs://bucket/prefix
    :param source: the source name (``source.name`` of the pipeline config)
    :param table: the table to wait for
    :param tables: several tables to wait for, all in the same ``partition``
    :param partition: the Hive partition, ``key=value`` (``month=2025-10``, ``day=2025-10-31``,
        ``snapshot_date=2025-10-31``)
    :param partitions: ``{table: "key=value"}``, for tables whose partitions differ
    :param lake_conn_id: the Airflow connection of the lake (``aws`` or
        ``google_cloud_platform``); none for a local lake or the default credentials
    :param fail_on_incomplete: fail instead of waiting when ``_SUCCESS`` is there but the
        manifest lists a missing file or one of another size (default: wait, with a warning)
    :param deferrable: wait in the triggerer instead of holding a worker slot (default: Airflow's
        ``[operators] default_deferrable`` at run time)
    """

    template_fields: Sequence[str] = (
        "lake_url",
        "lake_conn_id",
        "source",
        "table",
        "tables",
        "partition",
        "partitions",
    )
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        lake_url: str,
        source: str,
        table: str | None = None,
        tables: Sequence[str] | None = None,
        partition: str | None = None,
        partitions: Mapping[str, str] | None = None,
        lake_conn_id: str | None = None,
        fail_on_incomplete: bool = False,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        named = [table] if table else list(tables or [])
        if partitions is not None and (named or partition):
            raise ValueError("give either partitions={table: partition}, or table/tables with partition")
        if partitions is None and (not named or not partition):
            raise ValueError("give a table (or tables) and the partition to wait for, or partitions")
        self.lake_url = lake_url
        self.lake_conn_id = lake_conn_id
        self.source = source
        self.table = table
        self.tables = list(tables) if tables is not None else None
        self.partition = partition
        self.partitions = dict(partitions) if partitions is not None else None
        self.fail_on_incomplete = fail_on_incomplete
        self.deferrable = deferrable
        self._bucket_checked = False

    @classmethod
    def for_pipeline(
        cls,
        config: PipelineConfig,
        *,
        tables: Sequence[str] | None = None,
        start: str = "data_interval_start",
        **kwargs: Any,
    ) -> LakePartitionSensor:
        """A sensor for the partitions a replication run of ``config`` commits for the window
        starting at ``start`` (a Jinja expression of the waiting DAG's run), for every table of
        the config (but watermark tables, whose partitions are named by batch) or those named."""
        every = sorted(config.tables, key=lambda t: t.name)

        def template(table: Any) -> str | None:
            # watermark and file tables land in a new batch=<id> partition per run
            mode = getattr(table, "mode", None)
            return _PARTITION_TEMPLATES.get((mode.value, config.schedule.value)) if mode else None

        if tables is None:
            chosen = [t for t in every if template(t)]
            if not chosen:
                raise ValueError(
                    f"every table of source {config.source.name!r} is one of the watermark or file tables: "
                    "each run writes a new batch=<id> partition, which a sensor cannot name ahead; "
                    "schedule on their Assets instead"
                )
        else:
            unknown = sorted(set(tables) - {t.name for t in every})
            if unknown:
                raise ValueError(f"tables {unknown} are not in the pipeline of source {config.source.name!r}")
            chosen = [t for t in every if t.name in set(tables)]
            unnamed = [t.name for t in chosen if not template(t)]
            if unnamed:
                raise ValueError(
                    f"tables {unnamed} are watermark or file tables: each run writes a new batch=<id> "
                    "partition, which a sensor cannot name ahead; schedule on their Assets instead"
                )
        return cls(
            lake_url=config.lake.resolved_url(),
            lake_conn_id=config.lake.conn_id,
            source=config.source.name,
            partitions={t.name: str(template(t)).format(start=start) for t in chosen},
            **kwargs,
        )

    def targets(self) -> dict[str, str]:
        """``{table: "key=value"}`` after templating, checked."""
        if self.partitions is not None:
            found = {str(t): str(p) for t, p in self.partitions.items()}
        else:
            names = [self.table] if self.table else list(self.tables or [])
            found = {str(t): str(self.partition) for t in names}
        for table, partition in found.items():
            try:
                parse_partition(partition)
            except ValueError as exc:
                raise AirflowFailException(f"table {table!r}: {exc}") from exc
        return found

    def poke(self, context: Any) -> PokeReturnValue | bool:
        try:
            states = check(
                self.lake_url,
                self.lake_conn_id,
                self.source,
                self.targets(),
                bucket=not self._bucket_checked,
            )
        except TributaryError as exc:
            if exc.permanent:
                raise AirflowFailException(str(exc)) from exc
            log.warning("The lake did not answer this poke; waiting: %s", exc)
            return False
        self._bucket_checked = True
        if all(s.ready for s in states.values()):
            self.log.info("Committed and complete: %s", ", ".join(s.path for s in states.values()))
            return PokeReturnValue(is_done=True, xcom_value=describe(states))
        broken = incomplete(states)
        if broken and self.fail_on_incomplete:
            raise AirflowFailException(
                "committed partition(s) with an incomplete manifest: " + " | ".join(broken)
            )
        report(states, log)
        return False

    def should_defer(self) -> bool:
        """``deferrable``, or else Airflow's ``[operators] default_deferrable`` as it is when the
        task runs (not when the DAG file was parsed)."""
        if self.deferrable is not None:
            return self.deferrable
        return conf.getboolean("operators", "default_deferrable", fallback=False)

    def execute(self, context: Any) -> Any:
        if not self.should_defer():
            return super().execute(context)
        done = self.poke(context)
        if isinstance(done, PokeReturnValue) and done.is_done:
            return done.xcom_value
        self.defer(
            trigger=LakePartitionTrigger(
                lake_url=self.lake_url,
                lake_conn_id=self.lake_conn_id,
                source=self.source,
                partitions=self.targets(),
                poke_interval=float(self.poke_interval),
                fail_on_incomplete=self.fail_on_incomplete,
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=float(self.timeout)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: pass on success, fail on its error."""
        if event.get("status") == "success":
            self.log.info("Committed and complete: %s", ", ".join(sorted(event.get("partitions", {}))))
            return event.get("partitions")
        message = event.get("message", "the trigger failed")
        if event.get("permanent"):
            raise AirflowFailException(message)
        raise AirflowException(message)
