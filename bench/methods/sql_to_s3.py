"""Airflow's SqlToS3Operator(file_format="parquet"), its own code, with S3 replaced by a file.

``SqlToS3Operator.execute`` runs as in a task: ``PostgresHook.get_df`` reads the whole result
with ``pandas.read_sql`` over SQLAlchemy + psycopg2, ``_fix_dtypes`` turns object columns into
str, ``DataFrame.to_parquet`` writes into an in-memory ``BytesIO``. Only the upload is replaced:
``S3Hook.load_file_obj`` writes the buffer to ``--out`` (no upload is timed for any method). The
connection comes from ``AIRFLOW_CONN_BENCH_PG``, which the runner sets.
"""

from __future__ import annotations

import shutil
from typing import Any

from _common import Report, parser

args = parser(__doc__).parse_args()

from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: E402
from airflow.providers.amazon.aws.transfers.sql_to_s3 import SqlToS3Operator  # noqa: E402

report = Report()
written: dict[str, Any] = {}


def load_file_obj(self: S3Hook, file_obj: Any, key: str, bucket_name: str | None = None, **_: Any) -> None:
    with open(args.out, "wb") as fh:
        shutil.copyfileobj(file_obj, fh, 8 << 20)
    written["key"] = f"s3://{bucket_name}/{key}"


S3Hook.load_file_obj = load_file_obj  # type: ignore[method-assign]
operator = SqlToS3Operator(
    task_id="sql_to_s3",
    query=args.sql,
    sql_conn_id="bench_pg",
    s3_bucket="bench",
    s3_key="sales.parquet",
    file_format="parquet",
    replace=True,
    aws_conn_id=None,
)
operator.execute(context={})  # type: ignore[arg-type]

import pyarrow.parquet as pq  # noqa: E402  (after the timed work: counting rows only)

report.done(pq.read_metadata(args.out).num_rows, key=written.get("key"))
