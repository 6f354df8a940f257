"""VerifyFilesOperator: a file table's batch has the rows read from its files, and passes its
QA checks."""

from __future__ import annotations

from typing import Any

from tributary.config import Schedule
from tributary.dag_support import run_window
from tributary.operators._common import FileTaskOperator, fail_fast, lake_root


class VerifyFilesOperator(FileTaskOperator):
    """Check the batch the run's extract wrote: every part in the lake with its size, the rows
    in the parts' Parquet footers equal to the manifest's and to the rows read from the accepted
    files, then the table's QA checks (``freshness`` against the end of the run's window). A
    failure fails the task, so the batch is never committed."""

    def execute(self, context: Any) -> dict[str, Any]:
        from tributary.batches import summary  # at run time: a DAG file parse imports no engine
        from tributary.files.verify import verify_files

        table = self.file_table
        lake = lake_root(self.lake_url, self.lake_conn_id)
        batch_id = self.batch(context)
        with fail_fast():
            manifest = verify_files(
                table,
                source=self.source,
                lake_root=lake,
                batch_id=batch_id,
                reference_time=run_window(context, Schedule(self.schedule)).end,
            )
        return summary(manifest, lake)
