"""VerifyPartitionOperator: the source's row count for the window must equal the manifest's."""

from __future__ import annotations

from typing import Any

from tributary.config import Mode
from tributary.operators._common import SourceTaskOperator, fail_fast


class VerifyPartitionOperator(SourceTaskOperator):
    """Count the run's window in the source and compare it with the partition's manifest.

    A mismatch fails the task with both numbers; so does a manifest whose files are not all in
    the lake with their sizes. The count is recorded in the manifest. The source parameters are
    those of :class:`~tributary.operators._common.SourceTaskOperator`.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.replication import verify_table

        place = self.place(context)
        table = self.table_config
        if table.mode is Mode.cdc:  # the files against the manifest: a log has no count to compare
            from tributary.changes.batch import verify_changes

            with fail_fast():
                manifest = verify_changes(
                    table, source=self.source, lake_root=place["lake_root"], batch_id=self.batch(context)
                )
            return summary(manifest, place["lake_root"])
        with fail_fast(), self.reader() as reader:
            manifest = verify_table(reader, table, batch_id=self.extracted_batch(context), **place)
        self.keep_for_lineage(manifest)
        return summary(manifest, place["lake_root"])

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source table whose rows were counted (``tributary.lineage``)."""
        return self.table_lineage(output=False)
