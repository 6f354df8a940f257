"""CommitFilesOperator: ``_SUCCESS`` for a file table's batch, then its ``on_violation`` policy."""

from __future__ import annotations

from typing import Any

from tributary.operators._common import FileTaskOperator, fail_fast, lake_root


class CommitFilesOperator(FileTaskOperator):
    """Write ``_SUCCESS`` for the verified batch of the run, so readers use it; move the files it
    rejected to the table's quarantine prefix, if it has one. Then, if files were rejected and
    the table's ``on_violation`` is ``fail``, fail naming them (the good files
    stay committed; a failed task emits no Asset event); with ``warn``, log them and succeed.
    Give the task the table's Asset as its outlet (the factory does).

    :param landing_url: the landing location (file://, s3:// or gs://)
    :param landing_conn_id: the Airflow connection with the landing location's credentials
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.files.verify import commit_files

        table = self.file_table
        lake = lake_root(self.lake_url, self.lake_conn_id)
        batch_id = self.batch(context)
        with fail_fast():
            manifest = commit_files(
                table, source=self.source, lake_root=lake, batch_id=batch_id, landing=self.landing()
            )
        self.keep_for_lineage(manifest)
        return summary(manifest, lake)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the source table, and the committed partition with its schema, rows, bytes,
        files, batch id and column lineage (``tributary.lineage``)."""
        return self.table_lineage(output=True)
