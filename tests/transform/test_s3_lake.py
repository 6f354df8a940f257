"""dbt reads an s3:// lake: DuckDB's httpfs extension from its PyPI package, the credentials from the
lake's Airflow ``aws`` connection (moto's S3 over HTTP here), committed partitions only, and of
them the parts their ``_SUCCESS`` names only."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.s3 import MotoS3
from tributary.transform.profile import TributaryDuckDBProfileMapping
from tributary.transform.project import DBT_PROJECT_DIR, Lake

pytest.importorskip("duckdb_extension_httpfs", reason="duckdb-extension-httpfs is not installed")

LOCATIONS = pa.schema(
    [
        ("location_id", pa.int64()),
        ("name", pa.string()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("opened_on", pa.date32()),
        ("is_active", pa.bool_()),
        ("_batch_id", pa.string()),
        ("_ingestion_time", pa.timestamp("us", tz="UTC")),
        ("_source_system", pa.string()),
        ("_source_file", pa.string()),
        ("_file_modified_time", pa.timestamp("us", tz="UTC")),
    ]
)


def _parquet(rows: int, batch: str) -> bytes:
    now = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    table = pa.Table.from_pylist(
        [
            {
                "location_id": i,
                "name": f"shop {i}",
                "country": "DE",
                "is_active": True,
                "_batch_id": batch,
                "_ingestion_time": now,
                "_source_system": "pos",
            }
            for i in range(1, rows + 1)
        ],
        schema=LOCATIONS,
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def test_silver_from_an_s3_lake(moto_s3: MotoS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dbt.cli.main import dbtRunner

    s3 = moto_s3.client()
    moto_s3.create_bucket("dbt-lake")
    committed = "bronze/pos/locations/snapshot_date=2025-01-01"
    s3.put_object(Bucket="dbt-lake", Key=f"{committed}/part-a-00000.parquet", Body=_parquet(3, "a"))
    success = {"batch_id": "a", "rows": 3, "files": 1, "parts": ["part-a-00000.parquet"]}
    s3.put_object(Bucket="dbt-lake", Key=f"{committed}/_SUCCESS", Body=json.dumps(success).encode())
    # a part of another batch beside the committed one: not named by _SUCCESS, not read
    s3.put_object(Bucket="dbt-lake", Key=f"{committed}/part-z-00000.parquet", Body=_parquet(4, "z"))
    # newer, but its run has not committed it: not the latest snapshot yet
    pending = "bronze/pos/locations/snapshot_date=2025-02-01"
    s3.put_object(Bucket="dbt-lake", Key=f"{pending}/part-b-00000.parquet", Body=_parquet(5, "b"))

    monkeypatch.setenv("AIRFLOW_CONN_LAKE_AWS", moto_s3.connection_json())
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(warehouse)})
    )
    mapping = TributaryDuckDBProfileMapping(lakes=[Lake("pos", "s3://dbt-lake/bronze", "lake_aws")])
    profile = mapping.get_profile_file_contents("tributary", "warehouse")
    env = mapping.env_vars
    assert "httpfs" in profile and "tributary.transform.duckdb_plugin" in profile
    assert "tributary-test-secret" not in profile, "secrets reach dbt as environment variables only"
    assert "tributary-test-secret" in env.values()

    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    (tmp_path / "profiles.yml").write_text(profile)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    result = dbtRunner().invoke(
        [
            "run",
            "--select",
            "stg_pos__locations",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(tmp_path),
            "--vars",
            json.dumps({"tributary_lakes": {"pos": "s3://dbt-lake/bronze"}}),
        ]
    )
    assert result.success, result.exception or [r.message for r in result.result]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(
            "select count(*), min(snapshot_date), min(_batch_id) from silver.stg_pos__locations"
        ).fetchone()
    assert rows == (3, dt.date(2025, 1, 1), "a")
