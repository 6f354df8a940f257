"""ConnectorX ``read_sql(return_type="arrow_stream", batch_size=...)`` into a pyarrow ParquetWriter.

Bounded memory (a RecordBatchReader); ConnectorX reads PostgreSQL with binary COPY in Rust.
"""

from __future__ import annotations

from _common import Report, dsn, parser

args = parser(__doc__).parse_args()

import connectorx as cx  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

report = Report()
batches = cx.read_sql(dsn(), args.sql, return_type="arrow_stream", batch_size=args.batch_size)
rows = 0
with pq.ParquetWriter(args.out, batches.schema, compression="snappy") as writer:
    for batch in batches:
        writer.write_batch(batch)
        rows += batch.num_rows
report.done(rows)
