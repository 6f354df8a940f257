"""The dbt part of `make demo`: build silver and gold from the bronze lake through the dbt_setup DAG
(`dag.test()`, as `airflow dags test dbt_setup` would), print its report and a few rows of gold.

`scripts/demo.py` calls `run()` after replication, with the Makefile's AIRFLOW_* settings.
"""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WAREHOUSE = ROOT / "data" / "warehouse.duckdb"

GOLD_QUERY = """
select business_date, location_name, region, payment_type_label as payment_type, currency_code as currency,
       receipts, gross_amount, gross_amount_eur
from gold.fct_daily_sales
where business_date = (select max(business_date) from gold.fct_daily_sales)
order by gross_amount_eur desc nulls last, location_name, payment_type
limit 8
"""

TOP_CUSTOMERS = """
select customer_id, first_name || ' ' || last_name as customer, loyalty_tier, receipts, lifetime_value_eur
from gold.customer_lifetime_value
order by lifetime_value_eur desc, customer_id
limit 5
"""


def _print_rows(con, title: str, sql: str) -> None:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    widths = [max(len(n), *(len(_cell(r[i])) for r in rows)) for i, n in enumerate(names)]
    print(f"\n== {title}")
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)))
    for row in rows:
        print("  ".join(_cell(v).ljust(w) for v, w in zip(row, widths, strict=True)))


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}"
    return str(value)


def print_gold(warehouse: Path) -> None:
    """A few rows of two gold tables, read-only."""
    import duckdb

    from tributary.hooks.warehouse import find_lock_conflict, lock_message

    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.IOException as exc:
        holder = find_lock_conflict(str(exc))
        raise SystemExit(lock_message(holder) if holder else str(exc)) from exc
    try:
        _print_rows(con, f"gold.fct_daily_sales, the last day ({warehouse})", GOLD_QUERY)
        _print_rows(con, "gold.customer_lifetime_value, the top customers", TOP_CUSTOMERS)
    finally:
        con.close()


def run() -> int:
    """Build silver and gold with dbt_setup, print the report and some gold; 0 on success."""
    os.environ.setdefault(
        "AIRFLOW_CONN_TRIBUTARY_WAREHOUSE", json.dumps({"conn_type": "duckdb", "host": str(WAREHOUSE)})
    )
    os.environ.setdefault("DBT_QUIET", "true")  # the report below says what dbt did, per step
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool

    from tributary.hooks.warehouse import POOL
    from tributary.transform.factory import SETUP_DAG_ID
    from tributary.transform.runs import run_report

    Pool.create_or_update_pool(POOL, 1, "Tributary: dbt on DuckDB has one writer", include_deferred=False)
    bag = DagBag(dag_folder=str(ROOT / "dags" / "tributary_dbt.py"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"import error in {path}:\n{error}", file=sys.stderr)
        return 1
    dag = bag.get_dag(SETUP_DAG_ID)
    print(f"== {SETUP_DAG_ID}: clear, seed, silver, gold, test into {WAREHOUSE} (dag.test)", flush=True)
    started = time.perf_counter()
    run = dag.test()
    state = str(getattr(run, "state", "unknown"))
    print(f"   run {run.run_id}: {state} in {time.perf_counter() - started:.0f} s\n", flush=True)
    print(run_report(SETUP_DAG_ID, run.run_id) or "(no report: the report task did not run)")
    if "success" not in state:
        return 1
    print_gold(WAREHOUSE)
    return 0


if __name__ == "__main__":
    sys.exit(run())
