"""``tributary discover`` on real catalogs: the demo SQLite source and a PostgreSQL database. The
YAML it prints is a config ``tributary validate`` accepts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.support.pg import PgCluster
from tributary.cli import main
from tributary.config import load_config

PG_DATABASE = "discover_source"


def _discover(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> dict:
    assert main(["discover", *argv]) == 0
    text = capsys.readouterr().out
    (tmp_path / "draft.yaml").write_text(text)
    load_config(tmp_path / "draft.yaml")  # a valid config as it is
    assert main(["validate", str(tmp_path)]) == 0
    capsys.readouterr()
    return {"text": text, "tables": {t["name"]: t for t in yaml.safe_load(text)["tables"]}}


@pytest.fixture
def sqlite_conn(demo_sqlite: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_DEMO_POS", json.dumps({"conn_type": "sqlite", "host": str(demo_sqlite)}))
    return "demo_pos"


def test_sqlite_small_tables_are_full_with_their_keys_and_counts(
    sqlite_conn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _discover(capsys, tmp_path, "--conn-id", sqlite_conn)
    assert sorted(found["tables"]) == ["customers", "items", "locations", "payments", "sales", "sales_items"]
    assert {t["mode"] for t in found["tables"].values()} == {"full"}
    assert found["tables"]["sales"]["primary_key"] == ["id"]
    assert "  # locations: full, small table (~12 rows): read whole each run\n" in found["text"]


def test_sqlite_an_indexed_date_column_suggests_window(
    sqlite_conn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _discover(capsys, tmp_path, "--conn-id", sqlite_conn, "--tables", "sa*", "--small-rows", "0")
    assert found["tables"] == {
        "sales": {"name": "sales", "mode": "window", "date_column": "sales_date", "primary_key": ["id"]},
        "sales_items": {
            "name": "sales_items",
            "mode": "window",
            "date_column": "sales_date",
            "primary_key": ["sales_item_id"],
        },
    }


def test_no_matching_table_is_an_error(sqlite_conn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discover", "--conn-id", sqlite_conn, "--tables", "nope*"]) == 1
    assert "no table of schema 'main' (connection 'demo_pos') matches 'nope*'" in capsys.readouterr().err


@pytest.fixture
def pg_conn(pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    if PG_DATABASE not in pg_cluster.psql("SELECT datname FROM pg_database").split():
        pg_cluster.psql(f"CREATE DATABASE {PG_DATABASE}")
    pg_cluster.psql(
        """
        DROP SCHEMA IF EXISTS shop CASCADE;
        CREATE SCHEMA shop;
        CREATE TABLE shop.orders (id integer, line integer, placed_on date NOT NULL, amount numeric(12, 2),
                                  PRIMARY KEY (line, id));
        CREATE INDEX ON shop.orders (placed_on);
        CREATE TABLE shop.customers (customer_id bigint PRIMARY KEY, name text,
                                     updated_at timestamptz NOT NULL, geo point);
        CREATE TABLE shop.notes (body text);
        INSERT INTO shop.orders
            SELECT i, 1, DATE '2025-01-01' + i % 30, i FROM generate_series(1, 300) AS s(i);
        INSERT INTO shop.customers SELECT i, 'c' || i, now(), NULL FROM generate_series(1, 40) AS s(i);
        ANALYZE shop.orders;
        """,
        database=PG_DATABASE,
    )
    monkeypatch.setenv("AIRFLOW_CONN_DISCOVER_PG", pg_cluster.connection_json(PG_DATABASE))
    return "discover_pg"


def test_postgres_modes_keys_estimates_and_unmappable_columns(
    pg_conn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = _discover(capsys, tmp_path, "--conn-id", pg_conn, "--schema", "shop", "--small-rows", "10")
    tables, text = found["tables"], found["text"]
    assert tables["orders"] == {
        "name": "orders",
        "schema": "shop",
        "mode": "window",
        "date_column": "placed_on",
        "primary_key": ["line", "id"],  # the key's order, not the table's
    }
    assert tables["customers"]["mode"] == "watermark"
    assert tables["customers"]["watermark_column"] == "updated_at"
    assert tables["customers"]["columns"] == ["customer_id", "name", "updated_at"]
    assert "    # cannot map yet: geo (point)\n" in text
    assert "(~300 rows)" in text  # the planner's estimate after ANALYZE
    assert "(~40 rows)" in text  # never analyzed: counted
    assert tables["notes"]["mode"] == "full" and "primary_key" not in tables["notes"]
    assert "# no primary key in the catalog" in text


def test_a_dialect_without_catalog_templates_is_refused() -> None:
    from tributary.discovery import discover
    from tributary.errors import CatalogError
    from tributary.readers.mssql import MsSqlReader

    with pytest.raises(
        CatalogError, match=r"discover reads the catalogs of sqlite and postgres, not yet mssql's"
    ):
        discover(MsSqlReader(object(), conn_id="erp"))
