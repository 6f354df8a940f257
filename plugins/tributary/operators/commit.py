"""CommitPartitionOperator: write ``_SUCCESS`` and announce the table's fresh data as an Asset."""

from __future__ import annotations

from typing import Any

from tributary.config import Mode
from tributary.operators._common import TableTaskOperator, fail_fast


class CommitPartitionOperator(TableTaskOperator):
    """Mark the run's partition complete by writing ``_SUCCESS`` last.

    Refuses when the manifest is not the one this run extracted and verified. Give the task the
    table's Asset as its outlet (the factory does) so DAGs can be scheduled on fresh bronze data.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.replication import commit_table

        place = self.place(context)
        table = self.table_config
        if table.mode is Mode.cdc:
            from tributary.changes.batch import commit_changes

            with fail_fast():
                manifest = commit_changes(
                    table, source=self.source, lake_root=place["lake_root"], batch_id=self.batch(context)
                )
            self.keep_for_lineage(manifest)
            return summary(manifest, place["lake_root"])
        with fail_fast():
            manifest = commit_table(table, batch_id=self.extracted_batch(context), **place)
        self.keep_for_lineage(manifest)
        return summary(manifest, place["lake_root"])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source table, and the committed partition with its schema, rows, bytes,
        files, batch id and column lineage (``tributary.lineage``)."""
        return self.table_lineage(output=True)
