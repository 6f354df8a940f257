"""The OpenLineage events of real ``dag.test()`` runs, written by the provider's file transport and
read back: the source table as the input, the committed partition as the output with its schema,
row count, batch id, storage and column lineage, and the name dbt gives the bronze table."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.lineage.conftest import LineageRun, run_script, run_with_lineage
from tributary.lake import MANIFEST, SUCCESS
from tributary.lineage import warehouse_id
from tributary.manifest import Manifest

pytestmark = pytest.mark.airflow

AUDIT = ["_batch_id", "_ingestion_time", "_source_system", "_source_file", "_file_modified_time"]
ODD = "Bestellung ü"  # a table name with a space and a non-ASCII letter
ODD_COLUMN = 'größe "xl"'


def _fields(dataset: dict[str, Any]) -> list[str]:
    return [f["name"] for f in dataset["facets"]["schema"]["fields"]]


def _committed(lake: Path, source: str, table: str) -> Manifest:
    (partition,) = [p for p in (lake / source / table).iterdir() if (p / SUCCESS).exists()]
    return Manifest.from_json((partition / MANIFEST).read_text())


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory: pytest.TempPathFactory, airflow_db: Path) -> tuple[LineageRun, Path, Path]:
    """A SQLite source of two tables (one window, one full with an odd name) into a local lake."""
    folder = tmp_path_factory.mktemp("lineage_sqlite")
    db = folder / "shop.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, amount REAL, sold_at TIMESTAMP NOT NULL)")
        rows = [(i, i * 1.5, f"2025-01-{1 + i % 28:02d} 10:00:00") for i in range(1, 38)]
        rows += [(100 + i, 2.0, "2025-02-03 10:00:00") for i in range(5)]  # outside January
        conn.executemany("INSERT INTO sales VALUES (?, ?, ?)", rows)
        column = ODD_COLUMN.replace('"', '""')
        conn.execute(f'CREATE TABLE "{ODD}" (id INTEGER PRIMARY KEY, "{column}" TEXT)')
        conn.executemany(f'INSERT INTO "{ODD}" VALUES (?, ?)', [(1, "a"), (2, "b'c")])
    lake = folder / "lake"
    config = folder / "pipelines" / "shop.yaml"
    config.parent.mkdir()
    config.write_text(
        "source: {name: shop, conn_id: lineage_shop, max_connections: 1, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\n"
        "tables:\n"
        "  - {name: sales, mode: window, date_column: sold_at}\n"
        f"  - {{name: '{ODD}', mode: full}}\n"
    )
    warehouse = folder / "dw" / "warehouse.duckdb"
    env = {
        "AIRFLOW_CONN_LINEAGE_SHOP": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(warehouse)}),
    }
    run = run_with_lineage(config, "2025-01-01T00:00:00+00:00", folder / "events.jsonl", env)
    return run, db, lake


def test_the_commit_reports_source_table_to_partition_with_its_facets(sqlite_run) -> None:
    run, db, lake = sqlite_run
    assert run.state == "success"
    event = run.completed("shop.sales.commit")
    manifest = _committed(lake, "shop", "sales")

    (source,) = event["inputs"]
    assert (source["namespace"], source["name"]) == (f"sqlite://{db}", "main.sales")
    assert _fields(source) == ["id", "amount", "sold_at"]

    (bronze,) = event["outputs"]
    assert bronze["namespace"] == "file"
    assert bronze["name"] == str(lake / "shop" / "sales" / "month=2025-01")
    assert _fields(bronze) == ["id", "amount", "sold_at", *AUDIT]
    types = {f["name"]: f["type"] for f in bronze["facets"]["schema"]["fields"]}
    assert types["id"] == "int64" and types["_batch_id"] == "string"
    assert bronze["facets"]["version"]["datasetVersion"] == manifest.batch_id
    assert bronze["facets"]["storage"]["fileFormat"] == "parquet"
    stats = bronze["outputFacets"]["outputStatistics"]
    assert stats["rowCount"] == 37  # January's rows of the source, February's left out
    assert stats["rowCount"] == manifest.rows == manifest.source_query_rows
    assert stats["fileCount"] == len(manifest.files) and stats["size"] == sum(f.bytes for f in manifest.files)


def test_each_source_column_maps_to_its_lake_column_and_audit_columns_to_none(sqlite_run) -> None:
    run, db, _ = sqlite_run
    (bronze,) = run.completed("shop.sales.commit")["outputs"]
    lineage = bronze["facets"]["columnLineage"]["fields"]
    assert sorted(lineage) == ["amount", "id", "sold_at"]
    (origin,) = lineage["amount"]["inputFields"]
    assert (origin["namespace"], origin["name"], origin["field"]) == (
        f"sqlite://{db}",
        "main.sales",
        "amount",
    )
    assert origin["transformations"][0]["subtype"] == "IDENTITY"


@pytest.mark.parametrize("task", ["extract", "verify"])
def test_the_extract_and_the_verify_report_the_table_they_read_and_no_output(sqlite_run, task: str) -> None:
    run, db, _ = sqlite_run
    event = run.completed(f"shop.sales.{task}")
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(f"sqlite://{db}", "main.sales")]
    assert event["outputs"] == []


def test_odd_names_reach_the_events_as_the_lake_and_source_spell_them(sqlite_run) -> None:
    run, _, lake = sqlite_run
    commit = run.completed("shop.Bestellung_u.commit")  # the task group's id: Airflow's characters only
    (source,) = commit["inputs"]
    assert source["name"] == f"main.{ODD}"
    assert _fields(source) == ["id", ODD_COLUMN]
    (bronze,) = commit["outputs"]
    assert bronze["name"] == str(lake / "shop" / ODD / "snapshot_date=2025-01-01")
    assert bronze["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert sorted(bronze["facets"]["columnLineage"]["fields"]) == sorted(["id", ODD_COLUMN])


def test_the_partition_names_the_bronze_table_as_dbt_does(sqlite_run, tmp_path: Path) -> None:
    run, _, lake = sqlite_run
    (bronze,) = run.completed("shop.sales.commit")["outputs"]
    (link,) = bronze["facets"]["symlinks"]["identifiers"]
    warehouse = lake.parent / "dw" / "warehouse.duckdb"
    assert (link["namespace"], link["name"], link["type"]) == (
        f"duckdb://{warehouse}",
        "warehouse.shop.sales",
        "TABLE",
    )
    assert (link["namespace"], link["name"]) == _dbt_source_name(warehouse, "shop", "sales")


def _dbt_source_name(warehouse: Path, source: str, table: str) -> tuple[str, str]:
    """The name dbt's OpenLineage processor (openlineage-integration-common, which Cosmos runs
    after each dbt task) gives ``source(source, table)`` of the dbt project with a dbt-duckdb
    profile whose path is ``warehouse``: its own namespace and name functions, over the source node
    as dbt-duckdb fills it in (database: the file's name; schema: the source's name)."""
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from openlineage.common.provider.dbt.processor import Adapter, DbtArtifactProcessor

    processor = DbtArtifactProcessor.__new__(DbtArtifactProcessor)
    processor.adapter_type = Adapter.DUCKDB
    database = DuckDBCredentials.path_derived_database_name(str(warehouse))
    return (
        processor.extract_namespace({"type": "duckdb", "path": str(warehouse)}),
        processor._format_dataset_name(database, source, table),
    )


def test_the_dbt_projects_bronze_sources_are_named_as_tributary_names_them() -> None:
    """dbt/models/bronze declares each bronze table as ``source('<source>', '<table>')`` with no
    schema of its own: dbt-duckdb's source schema is then the source's name, as the symlink says."""
    manifest = json.loads((Path(__file__).resolve().parents[2] / "dbt/target/manifest.json").read_text())
    sources = [s for s in manifest["sources"].values() if s["source_name"] == "pos"]
    assert sources
    for node in sources:
        assert (node["schema"], node["name"]) == (node["source_name"], node["identifier"])
        expected = warehouse_id("pos", node["name"], "/w/warehouse.duckdb").name
        assert expected == f"warehouse.{node['schema']}.{node['name']}"


def test_the_postgres_source_and_the_s3_lake_have_their_namespaces(
    tmp_path: Path, airflow_db: Path, pg_cluster, s3_lake
) -> None:
    database = "lineage_pg"
    pg_cluster.psql(f"DROP DATABASE IF EXISTS {database}")
    pg_cluster.psql(f"CREATE DATABASE {database}")
    pg_cluster.psql(
        "CREATE SCHEMA shop; CREATE TABLE shop.items (item_id int PRIMARY KEY, name text);"
        "INSERT INTO shop.items SELECT g, 'item ' || g FROM generate_series(1, 25) g",
        database=database,
    )
    config = tmp_path / "pipelines" / "pg.yaml"
    config.parent.mkdir()
    config.write_text(
        "source: {name: pgshop, conn_id: lineage_pg, max_connections: 1, retries: 0}\n"
        f"lake: {{url: '{s3_lake.url}', conn_id: {s3_lake.conn_id}}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: items, schema: shop, mode: full}\n"
    )
    env = {"AIRFLOW_CONN_LINEAGE_PG": pg_cluster.connection_json(database=database)}
    run = run_with_lineage(config, "2025-03-04T00:00:00+00:00", tmp_path / "events.jsonl", env)
    assert run.state == "success"
    event = run.completed("pgshop.items.commit")
    (source,) = event["inputs"]
    assert (source["namespace"], source["name"]) == (
        f"postgres://{pg_cluster.host}:{pg_cluster.port}",
        f"{database}.shop.items",
    )
    (bronze,) = event["outputs"]
    assert bronze["namespace"] == f"s3://{s3_lake.bucket}"
    assert bronze["name"] == f"{s3_lake.prefix}/pgshop/items/snapshot_date=2025-03-04"
    assert bronze["outputFacets"]["outputStatistics"]["rowCount"] == 25
    assert f"{s3_lake.prefix}/pgshop/items/snapshot_date=2025-03-04/{SUCCESS}" in s3_lake.keys(s3_lake.prefix)


DBT_SETUP = """
import re, sys
from pathlib import Path
from tests.transform.conftest import build_lake
from tributary.transform.factory import build_dbt_dags

pipelines = build_lake(Path(sys.argv[1]), Path(sys.argv[2]))
keep = "foundation\\\\.stg_pos__items_run"
run = build_dbt_dags(pipelines)["dbt_setup"].test(mark_success_pattern=re.compile(rf"(?!(?:{keep})$).*"))
print("RUN_STATE=" + str(run.state))
"""


def test_dbts_lineage_reads_the_bronze_table_by_the_name_tributarys_symlink_gives(
    tmp_path: Path, demo_sqlite: Path, airflow_db: Path
) -> None:
    """A silver model run by Cosmos (the dbt_setup DAG, one model): the event dbt's processor
    makes has the bronze source as its input, named as the partitions' symlinks name it."""
    warehouse = tmp_path / "warehouse.duckdb"
    env = {
        "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE": json.dumps({"conn_type": "duckdb", "host": str(warehouse)}),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    run = run_script(DBT_SETUP, [str(demo_sqlite), str(tmp_path / "lake")], tmp_path / "events.jsonl", env)
    assert run.state == "success"
    event = run.completed("stg_pos__items_run")
    bronze = warehouse_id("pos", "items", warehouse)
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [(bronze.namespace, bronze.name)]
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
        (bronze.namespace, "warehouse.silver.stg_pos__items")
    ]


def test_a_file_tables_commit_reports_its_landing_folder_and_batch(tmp_path: Path, airflow_db: Path) -> None:
    from tests.files.conftest import ORDERS_CONTRACT, orders_csv

    landing, lake = tmp_path / "landing", tmp_path / "lake"
    (landing / "orders").mkdir(parents=True)
    (landing / "orders" / "1.csv").write_bytes(orders_csv(1, 3))
    (landing / "orders" / "2.csv").write_bytes(orders_csv(4, 4))
    pipelines = tmp_path / "pipelines"
    (pipelines / "schemas").mkdir(parents=True)
    (pipelines / "schemas" / "orders.yaml").write_text(json.dumps(ORDERS_CONTRACT))
    config = pipelines / "files.yaml"
    config.write_text(
        f"source: {{name: drop, type: files, url: '{landing.as_uri()}', max_connections: 1, retries: 0}}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\nschedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: orders, glob: 'orders/*.csv', format: csv, contract: schemas/orders.yaml,"
        " quiet_period: 0s}\n"
    )
    run = run_with_lineage(config, "2025-01-01T00:00:00+00:00", tmp_path / "events.jsonl", {})
    assert run.state == "success"
    (batch,) = [p for p in (lake / "drop" / "orders").iterdir() if (p / SUCCESS).exists()]
    event = run.completed("drop.orders.commit")
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("file", str(landing / "orders"))]
    (bronze,) = event["outputs"]
    assert (bronze["namespace"], bronze["name"]) == ("file", str(batch))
    assert bronze["facets"]["version"]["datasetVersion"] == batch.name.split("=", 1)[1]
    assert bronze["outputFacets"]["outputStatistics"]["rowCount"] == 7
    assert sorted(bronze["facets"]["columnLineage"]["fields"]) == sorted(
        c["name"] for c in ORDERS_CONTRACT["columns"]
    )
    extract = run.completed("drop.orders.extract")
    assert [d["name"] for d in extract["inputs"]] == [str(landing / "orders")] and extract["outputs"] == []
