"""CdcAdvanceOperator: move a source's slot once every ``cdc`` table has committed the run's read."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from tributary.operators._common import CDC_PLAN_TASK, cdc_plan_of, fail_fast, lake_root

log = logging.getLogger(__name__)


class CdcAdvanceOperator(BaseOperator):
    """Advance the source's slot to the run's upper bound, so that the server may recycle the WAL
    before it -- only when the newest committed batch of every ``cdc`` table of the source was
    read up to exactly that bound. Otherwise the slot stays where it is and the task fails: the
    next run reads the same changes again (silver applies them by ``(key, _lsn, _seq)``).

    :param source: the source name
    :param source_conn_id: the source's Airflow connection
    :param tables: the names of the source's ``cdc`` tables
    :param lake_url: the lake root
    :param lake_conn_id: the Airflow connection for the lake's credentials, if any
    """

    template_fields: Sequence[str] = ("source_conn_id", "lake_url")
    ui_color = "#f2e6d9"

    def __init__(
        self,
        *,
        source: str,
        source_conn_id: str,
        tables: list[str],
        lake_url: str,
        lake_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.source_conn_id = source_conn_id
        self.tables = tables
        self.lake_url = lake_url
        self.lake_conn_id = lake_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.changes.batch import behind  # at run time: a DAG file parse imports no engine
        from tributary.changes.postgres import advance
        from tributary.hooks.sources import open_reader

        planned = context["ti"].xcom_pull(task_ids=CDC_PLAN_TASK)
        if isinstance(planned, dict) and planned.get("slot") is None:
            log.info("source %s has no slot to advance: its positions are in the manifests", self.source)
            return {}
        cdc = cdc_plan_of(context)
        late = behind(lake_root(self.lake_url, self.lake_conn_id), self.source, self.tables, cdc.upto_lsn)
        if late:
            raise AirflowFailException(
                f"not advancing slot {cdc.slot!r} to {cdc.upto_lsn}: the newest committed batch of "
                f"{', '.join(late)} does not reach it. The slot stays at {cdc.from_lsn}; the next run "
                "reads those changes again"
            )
        with fail_fast(), open_reader(self.source_conn_id) as reader:
            advance(reader.connection, cdc)
        return cdc.as_xcom()
