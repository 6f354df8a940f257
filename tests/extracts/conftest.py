"""Fixtures of the extract tests: a DuckDB warehouse the tests build, a PostgreSQL source in the
throwaway cluster, their Airflow connections, and a folder of extract definitions."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.pg import PgCluster

WAREHOUSE_ROWS = 3_000
DAYS = 10  # business dates 2025-03-01 .. 2025-03-10, 300 rows each
PG_DATABASE = "extract_source"


def build_warehouse(path: Path) -> Path:
    """A small warehouse: gold.sales with decimals, unicode, NULLs, empty text, text that needs
    quoting; a view; a table macro."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA gold")
        con.execute(
            f"""
            CREATE TABLE gold.sales AS
            SELECT i AS sale_id,
                   DATE '2025-03-01' + CAST(i % {DAYS} AS INTEGER) AS business_date,
                   TIMESTAMP '2025-03-01 08:00:00' + INTERVAL (i % {DAYS}) DAY
                       + INTERVAL (i) SECOND AS sold_at,
                   CAST(i * 1.25 + 0.05 AS DECIMAL(12, 2)) AS amount,
                   CAST(CASE WHEN i = 1 THEN 0.0000001 ELSE i / 1000.0 END AS DECIMAL(10, 8)) AS rate,
                   CASE WHEN i % 7 = 0 THEN NULL
                        WHEN i % 7 = 1 THEN 'Zoë Ødegaard 王 ' || i
                        WHEN i % 7 = 2 THEN 'says "hi", then' || chr(10) || 'leaves'
                        WHEN i % 7 = 3 THEN ''
                        ELSE 'customer ' || i END AS customer,
                   i % 2 = 0 AS is_even
            FROM range({WAREHOUSE_ROWS}) AS t(i)
            ORDER BY i
            """
        )
        con.execute(
            "CREATE VIEW gold.sales_by_day AS SELECT business_date, count(*) AS receipts, "
            "sum(amount) AS amount FROM gold.sales GROUP BY business_date"
        )
        con.execute(
            "CREATE MACRO gold.sales_over(threshold) AS TABLE "
            "SELECT sale_id, amount, customer FROM gold.sales WHERE amount > threshold"
        )
    return path


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb")


@pytest.fixture
def warehouse(warehouse_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test warehouse as connection tributary_warehouse (lock wait of 1 s)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE",
        json.dumps({"conn_type": "duckdb", "host": str(warehouse_file), "extra": {"lock_wait_seconds": 1}}),
    )
    return warehouse_file


@pytest.fixture(scope="module")
def pg_source(pg_cluster: PgCluster) -> PgCluster:
    """Database extract_source: orders (numeric, unicode, NULLs), a view, a set-returning function."""
    if PG_DATABASE not in pg_cluster.psql("SELECT datname FROM pg_database").split():
        pg_cluster.psql(f"CREATE DATABASE {PG_DATABASE}")
    pg_cluster.psql(
        """
        DROP TABLE IF EXISTS orders CASCADE;
        CREATE TABLE orders (id integer PRIMARY KEY, placed_on date NOT NULL, placed_at timestamptz,
                             amount numeric(12, 2), note text);
        INSERT INTO orders
        SELECT i, DATE '2025-03-01' + (i % 10), TIMESTAMPTZ '2025-03-01 10:00:00+00' + i * INTERVAL '1 hour',
               CASE WHEN i % 5 = 0 THEN NULL ELSE i * 10.01 END,
               CASE WHEN i % 4 = 0 THEN NULL ELSE 'Señor Müller ' || i END
        FROM generate_series(1, 500) AS s(i);
        CREATE VIEW big_orders AS SELECT id, amount, note FROM orders WHERE amount > 2500;
        CREATE FUNCTION orders_since(since date) RETURNS TABLE (id integer, amount numeric, note text)
            LANGUAGE sql STABLE AS $$ SELECT id, amount, note FROM orders WHERE placed_on >= since $$;
        """,
        database=PG_DATABASE,
    )
    return pg_cluster


@pytest.fixture
def pg_conn(pg_source: PgCluster, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_EXTRACT_PG", pg_source.connection_json(PG_DATABASE))
    return "extract_pg"


@pytest.fixture
def definitions(tmp_path: Path) -> Callable[..., Path]:
    """Write an extracts file (and query files) into a fresh folder; return the folder."""
    folder = tmp_path / "extracts"

    def write(yaml_text: str, queries: dict[str, str] | None = None, name: str = "extracts.yaml") -> Path:
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(textwrap.dedent(yaml_text))
        for file, sql in (queries or {}).items():
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            (folder / file).write_text(textwrap.dedent(sql))
        return folder

    return write


def day(d: int) -> dt.datetime:
    return dt.datetime(2025, 3, d, tzinfo=dt.UTC)
