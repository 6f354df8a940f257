"""ExtractTableOperator: a table's window into Parquet parts, and the manifest."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tributary.config import Mode, TableConfig
from tributary.operators._common import SourceTaskOperator, cdc_plan_of, fail_fast, skip_unless_chosen

if TYPE_CHECKING:
    from tributary.batches import RunInfo


class ExtractTableOperator(SourceTaskOperator):
    """Extract one table for the run's window into its lake partition, without committing it.

    Removes the partition's ``_SUCCESS`` first, streams the rows into Parquet parts with the
    audit columns, replaces the partition's files and writes ``_manifest.json``. A watermark
    table reads the rows changed since its committed high watermark into a new ``batch=``
    partition. The DAG's params choose a subset of tables (``tables``) and a full reload of
    watermark tables (``full_refresh``); a table left out is skipped. A ``cdc`` table writes the
    changes in the bounds its source's ``cdc_plan`` task fixed (``tributary.changes.batch``).
    Its parameters are those of :class:`~tributary.operators._common.TableTaskOperator` (source,
    lake, compression and rows per file).
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.replication import extract_table

        place = self.place(context)
        table = self.table_config
        skip_unless_chosen(self, context, table.name)
        run = self.run_info(context)
        if table.mode is Mode.cdc:
            return self._changes(context, table, place["lake_root"], run)
        with fail_fast(), self.reader() as reader:
            manifest = extract_table(
                reader,
                table,
                run=run,
                compression=self.compression,
                rows_per_file=self.rows_per_file,
                **place,
            )
        self.keep_for_lineage(manifest)
        return summary(manifest, place["lake_root"])

    def _changes(self, context: Any, table: TableConfig, lake_root: Any, run: RunInfo) -> dict[str, Any]:
        """A ``cdc`` table's batch: PostgreSQL's changes in the bounds ``cdc_plan`` fixed, or SQL
        Server's since the table's last committed position."""
        from tributary.batches import summary
        from tributary.changes.batch import extract_changes, extract_mssql_changes, require_change_log
        from tributary.readers.mssql import MsSqlReader

        options = {"source": self.source, "lake_root": lake_root, "run": run}
        options.update(compression=self.compression, rows_per_file=self.rows_per_file)
        with fail_fast(), self.reader() as reader:
            require_change_log(reader, self.source, table.name)
            if isinstance(reader, MsSqlReader):
                manifest = extract_mssql_changes(reader, table, **options)
            else:
                manifest = extract_changes(reader, table, cdc_plan_of(context), **options)
        self.keep_for_lineage(manifest)
        return summary(manifest, lake_root)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source table the batch was read from; the commit reports the partition
        (``tributary.lineage``)."""
        return self.table_lineage(output=False)
