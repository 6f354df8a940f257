"""CdcPlanOperator: fix a source's change-capture bounds for the run, after checking its setup."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from tributary.operators._common import fail_fast

log = logging.getLogger(__name__)


class CdcPlanOperator(BaseOperator):
    """Check a PostgreSQL source's change capture (``wal_level``, slot, publication, replica
    identities: failing with the SQL to run), warn when the slot holds back too much WAL, and fix
    the run's bounds: from the slot's confirmed position up to the server's flushed position. The
    bounds go to XCom for each ``cdc`` table's extract and for ``cdc_advance``.

    A source without a slot pushes ``{"slot": None, "dialect": ...}``: on SQL Server each ``cdc``
    table plans from its own last committed position (``tributary.changes.mssql``) and
    ``cdc_advance`` has nothing to move; SQLite has no log, and each ``cdc`` table's extract fails
    saying so.

    :param source: the source name
    :param source_conn_id: the source's Airflow connection
    :param slot: the source's logical replication slot
    :param publication: the source's publication
    :param tables: the ``cdc`` tables, as ``[schema or None, name, key column, ...]`` (the
        table's ``primary_key``: a delete in the log must carry it)
    :param warn_retained_wal_mb: warn when the slot holds back more WAL than this
    """

    template_fields: Sequence[str] = ("source_conn_id",)
    ui_color = "#f2e6d9"

    def __init__(
        self,
        *,
        source: str,
        source_conn_id: str,
        slot: str,
        publication: str,
        tables: list[list[str | None]],
        warn_retained_wal_mb: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.source_conn_id = source_conn_id
        self.slot = slot
        self.publication = publication
        self.tables = tables
        self.warn_retained_wal_mb = warn_retained_wal_mb

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.changes.postgres import plan  # at run time: a DAG file parse imports no engine
        from tributary.hooks.sources import open_reader

        with fail_fast(), open_reader(self.source_conn_id) as reader:
            if reader.dialect.name != "postgres":
                # SQL Server plans per table, from each table's last committed position; SQLite
                # has no log, and its cdc tables' extracts fail saying so
                log.info("source %s has no slot to plan: its cdc tables plan on their own", self.source)
                return {"slot": None, "dialect": reader.dialect.name}
            default = reader.dialect.default_schema or "public"
            keys = {
                (schema or default, str(name)): [str(k) for k in key] for schema, name, *key in self.tables
            }
            cdc = plan(
                reader.connection,
                slot=self.slot,
                publication=self.publication,
                tables=list(keys),
                keys=keys,
                warn_retained_wal_mb=self.warn_retained_wal_mb,
            )
        return cdc.as_xcom()
