"""The dataset names of ``tributary.lineage``, by OpenLineage's naming conventions, without Airflow."""

from __future__ import annotations

import pytest

from tributary.lineage import DatasetId, landing_id, location_id, table_id, warehouse_id


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://lake/bronze", DatasetId("s3://lake", "bronze/pos/sales/month=2025-01")),
        ("s3://lake", DatasetId("s3://lake", "pos/sales/month=2025-01")),
        ("gs://lake/a/b/", DatasetId("gs://lake", "a/b/pos/sales/month=2025-01")),
        ("file:///srv/my%20lake", DatasetId("file", "/srv/my lake/pos/sales/month=2025-01")),
    ],
)
def test_a_partition_is_named_by_its_bucket_and_key_or_its_absolute_path(
    url: str, expected: DatasetId
) -> None:
    assert location_id(url, "pos", "sales", "month=2025-01") == expected


def test_a_file_table_reads_the_folder_its_glob_starts_in() -> None:
    assert landing_id("s3://landing/in", "orders/2025-*/*.csv") == DatasetId("s3://landing", "in/orders")
    assert landing_id("file:///data/landing", "*.csv") == DatasetId("file", "/data/landing")


@pytest.mark.parametrize(
    ("conn_type", "port", "schema", "expected"),
    [
        ("postgres", None, None, DatasetId("postgres://db.example:5432", "shop.public.orders")),
        ("postgres", 6432, "sales", DatasetId("postgres://db.example:6432", "shop.sales.orders")),
        ("mssql", None, None, DatasetId("mssql://db.example:1433", "shop.dbo.orders")),
    ],
)
def test_a_server_table_is_host_port_and_database_schema_table(
    conn_type: str, port: int | None, schema: str | None, expected: DatasetId
) -> None:
    got = table_id(conn_type, host="db.example", port=port, database="shop", schema=schema, table="orders")
    assert got == expected


def test_a_sqlite_table_is_its_file_and_main() -> None:
    got = table_id(
        "sqlite", host="/data/pos.sqlite?mode=ro", port=None, database=None, schema=None, table="A b"
    )
    assert got == DatasetId("sqlite:///data/pos.sqlite", "main.A b")


def test_dbt_names_the_bronze_table_after_the_warehouse_files_first_name() -> None:
    assert warehouse_id("pos", "sales", "/w/my.dw.duckdb") == DatasetId(
        "duckdb:///w/my.dw.duckdb", "my.pos.sales"
    )
