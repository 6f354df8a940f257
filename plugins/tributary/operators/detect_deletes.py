"""DetectDeletesOperator: tombstones for the keys a table's source no longer has."""

from __future__ import annotations

from typing import Any

from tributary.operators._common import SourceTaskOperator, fail_fast, skip_unless_chosen


class DetectDeletesOperator(SourceTaskOperator):
    """Compare the table's primary keys in the source with the keys current in the lake, and
    commit a tombstone for each key the source lost to a ``deletes=<batch_id>`` partition.

    Runs after the table's commit, for tables with ``deletes: detect_by_keys``. Reads every key of
    the source table (an index-only read) and the key columns of every committed part of the
    table. Fails without writing anything when the deleted keys are more than the table's
    ``max_delete_fraction`` of the lake's keys. Its parameters are those of
    :class:`~tributary.operators._common.SourceTaskOperator`; it returns the tombstone partition's
    summary with ``deleted_keys`` and ``lake_keys`` (``partition`` None when no key was deleted).
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.changes.deletes import detect_deletes

        place = self.place(context)
        table = self.table_config
        skip_unless_chosen(self, context, table.name)
        with fail_fast(), self.reader() as reader:
            manifest = detect_deletes(
                reader, table, source=self.source, lake_root=place["lake_root"], run=self.run_info(context)
            )
        if manifest is None:
            return {
                "table": table.name,
                "partition": None,
                "path": None,
                "deleted_keys": 0,
                "lake_keys": None,
            }
        self.keep_for_lineage(manifest)
        return {
            **summary(manifest, place["lake_root"]),
            "deleted_keys": manifest.deleted_keys,
            "lake_keys": manifest.lake_keys,
        }

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source table whose keys were read and the tombstone partition, if
        any key was deleted (``tributary.lineage``)."""
        return self.table_lineage(output=True)
