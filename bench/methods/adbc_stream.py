"""ADBC's PostgreSQL driver (libpq, binary COPY in C++): ``fetch_record_batch()`` into a
ParquetWriter, batch by batch.

The driver returns ``numeric`` as an ``arrow.opaque`` extension over its text; ``--numeric-as P,S``
casts those columns to ``decimal128(P,S)`` batch by batch (the driver does not report the declared
precision and scale, so the caller must know them).
"""

from __future__ import annotations

from _common import Report, dsn, parser

p = parser(__doc__)
p.add_argument("--numeric-as", default="", help="P,S")
args = p.parse_args()

import adbc_driver_postgresql.dbapi as adbc  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

report = Report()


def numeric_columns(schema: pa.Schema) -> list[int]:
    return [
        i
        for i, f in enumerate(schema)
        if isinstance(f.type, pa.BaseExtensionType) and getattr(f.type, "type_name", "") == "numeric"
    ]


rows = 0
with adbc.connect(dsn()) as conn, conn.cursor() as cursor:
    cursor.execute(args.sql)
    batches = cursor.fetch_record_batch()
    schema, fix = batches.schema, numeric_columns(batches.schema) if args.numeric_as else []
    if fix:
        precision, scale = (int(x) for x in args.numeric_as.split(","))
        decimal = pa.decimal128(precision, scale)
        for i in fix:
            schema = schema.set(i, pa.field(schema[i].name, decimal, schema[i].nullable))
    with pq.ParquetWriter(args.out, schema, compression="snappy") as writer:
        for batch in batches:
            if fix:
                columns = list(batch.columns)
                for i in fix:
                    columns[i] = columns[i].storage.cast(decimal)
                batch = pa.RecordBatch.from_arrays(columns, schema=schema)
            writer.write_batch(batch)
            rows += batch.num_rows
report.done(rows)
