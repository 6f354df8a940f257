"""ExtractFilesOperator: a file table's new and changed landing files into a batch partition."""

from __future__ import annotations

from typing import Any

from tributary.operators._common import FileTaskOperator, fail_fast, lake_root, skip_unless_chosen


class ExtractFilesOperator(FileTaskOperator):
    """Load the files of one table of a file source that are new or changed since the table's
    last committed batch into a new ``batch=<id>`` partition, without committing it.

    Files that break the table's contract are not loaded: they are listed in the manifest and
    the log (the commit moves them to the table's quarantine prefix, if it has one). The DAG's
    ``tables`` param chooses tables; ``full_refresh`` ignores the committed state and loads every
    file that matches the glob again.

    :param landing_url: the landing location (file://, s3:// or gs://)
    :param landing_conn_id: the Airflow connection with the landing location's credentials
    :param compression: Parquet compression: snappy, zstd, gzip or none
    :param rows_per_file: rows per Parquet part file
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.files.extract import extract_files

        table = self.file_table
        skip_unless_chosen(self, context, table.name)
        run = self.run_info(context)
        lake = lake_root(self.lake_url, self.lake_conn_id)
        landing = self.landing()
        with fail_fast():
            manifest = extract_files(
                table,
                source=self.source,
                landing=landing,
                lake_root=lake,
                run=run,
                compression=self.compression,
                rows_per_file=self.rows_per_file,
            )
        self.keep_for_lineage(manifest)
        return {
            **summary(manifest, lake),
            "files_loaded": len(manifest.source_files),
            "files_rejected": len(manifest.rejected_files),
            "files_unchanged": manifest.unchanged_files,
        }

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the landing folder the batch was read from; the commit reports the
        partition (``tributary.lineage``)."""
        return self.table_lineage(output=False)
