"""`make demo`: generate the demo point-of-sale database, replicate every month through Airflow,
print what landed in the lake.

After the first month, a few customers are erased in the source (the right to be forgotten): the
customers table is replicated with `deletes: detect_by_keys`, so the next run finds their keys gone
and writes tombstones, and silver (tributary_current) no longer holds them.

Runs with the project's virtual environment and the Makefile's AIRFLOW_* settings: a local
metadata database under .airflow/, the DAGs of dags/, the demo source at data/pos.sqlite and the
lake at data/lake.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SOURCE_DB = DATA / "pos.sqlite"
CONFIG = ROOT / "include" / "pipelines" / "pos.yaml"


def months(start: dt.date, end: dt.date) -> list[dt.date]:
    out, day = [], start.replace(day=1)
    while day < end:
        out.append(day)
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return out


def demo_months() -> tuple[Any, list[dt.date]]:
    """The demo pipeline config and its monthly windows (start_date to before end_date)."""
    from tributary.config import load_config

    config = load_config(CONFIG)
    return config, months(config.start_date, config.end_date or dt.date.today().replace(day=1))


def prepare_airflow(pool: str, slots: int) -> None:
    """The local metadata database and the source pool (what airflow_settings.yaml declares)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    print("== preparing the Airflow metadata database (airflow db migrate)", flush=True)
    subprocess.run([airflow, "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        [airflow, "pools", "set", pool, str(slots), "Tributary: sessions on the demo source"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


ERASED_CUSTOMERS = 3


def erase_customers(database: Path, count: int = ERASED_CUSTOMERS) -> list[tuple[int, str]]:
    """Delete the ``count`` first customers who never bought anything (sales keep their customer)."""
    import sqlite3

    with sqlite3.connect(database) as connection:
        erased = connection.execute(
            "SELECT customer_id, first_name || ' ' || last_name FROM customers"
            " WHERE customer_id NOT IN (SELECT customer_id FROM sales WHERE customer_id IS NOT NULL)"
            " ORDER BY customer_id LIMIT ?",
            (count,),
        ).fetchall()
        connection.executemany("DELETE FROM customers WHERE customer_id = ?", [(key,) for key, _ in erased])
    connection.close()
    return erased


def replicate(dag: Any, windows: list[dt.date]) -> tuple[list[dt.date], list[tuple[int, str]]]:
    """Run the replication DAG once per window, erasing a few customers after the first; the
    windows that failed and the customers erased."""
    failed, erased = [], []
    for index, month in enumerate(windows):
        if index == 1:
            erased = erase_customers(SOURCE_DB)
            names = ", ".join(f"{key} ({name})" for key, name in erased)
            print(f"== erasing {len(erased)} customers in the source: {names}", flush=True)
        logical = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC)
        print(f"== {dag.dag_id}: replicating the window of {month:%Y-%m} (dag.test)", flush=True)
        run = dag.test(logical_date=logical)
        state = str(getattr(run, "state", "unknown"))
        print(f"   run {getattr(run, 'run_id', '?')}: {state}", flush=True)
        if "success" not in state:
            failed.append(month)
    return failed, erased


def print_erased(erased: list[tuple[int, str]], warehouse: Path) -> None:
    """Where the erased customers are now: their tombstones in bronze, and silver without them."""
    import duckdb

    keys = [key for key, _ in erased]
    parts = sorted(str(p) for p in (DATA / "lake" / "pos" / "customers").glob("deletes=*/part-*.parquet"))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tombstones = (
            con.execute(
                "select count(distinct customer_id) from read_parquet(?)"
                " where customer_id in (select unnest(?))",
                [parts, keys],
            ).fetchone()[0]
            if parts
            else 0
        )
        kept = con.execute(
            "select count(*) from silver.stg_pos__customers where customer_id in (select unnest(?))", [keys]
        ).fetchone()[0]
    print(f"\n== the {len(keys)} customers erased in the source after the first month")
    print(f"   tombstones in bronze (pos/customers/deletes=*): {tombstones} of {len(keys)}")
    print(f"   still in silver.stg_pos__customers:             {kept} of {len(keys)}")


def main() -> int:
    os.environ.setdefault("TRIBUTARY_PIPELINES_DIR", str(CONFIG.parent))
    os.environ["AIRFLOW_CONN_POS_DB"] = json.dumps({"conn_type": "sqlite", "host": str(SOURCE_DB)})
    # the demo shows Tributary's own progress (rows, rows/s, parity); Airflow's chatter stays out
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "tributary=INFO")
    logging.basicConfig(level=logging.WARNING)

    from scripts.demo_source import generate

    config, windows = demo_months()

    DATA.mkdir(exist_ok=True)
    print(f"== generating the demo source {SOURCE_DB} ({len(windows)} months)", flush=True)
    counts = generate(SOURCE_DB, start=config.start_date, months=len(windows))
    for table, n in counts.items():
        print(f"   {table:<12} {n:>9,} rows")

    prepare_airflow(config.pool, config.source.max_connections)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"import error in {path}:\n{error}", file=sys.stderr)
        return 1
    failed, erased = replicate(bag.get_dag(config.dag_id), windows)

    from scripts.lake_summary import print_summary

    ok = print_summary(config)
    if failed or not ok:
        print(f"FAILED windows: {[m.isoformat() for m in failed]}", file=sys.stderr)
        return 1

    from scripts.demo_dbt import WAREHOUSE
    from scripts.demo_dbt import run as build_warehouse

    if build_warehouse() != 0:
        return 1
    print_erased(erased, WAREHOUSE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
