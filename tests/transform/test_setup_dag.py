"""The dbt DAGs run for real: dbt-duckdb through Cosmos inside ``dag.test()``, over a bronze lake
replicated from the demo source. The setup DAG from scratch and again; the latest batch of a key
wins in silver; a partition without ``_SUCCESS`` is not read; warn- and error-level test failures;
a warehouse locked by another process."""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.transform.conftest import DbtEnv, write_partition
from tributary.lake import MANIFEST, SUCCESS
from tributary.manifest import Manifest
from tributary.transform.runs import run_report, run_results

log = logging.getLogger(__name__)

pytestmark = pytest.mark.airflow

SOURCE_TABLES = ("sales", "sales_items", "payments", "items", "customers", "locations")
GOLD = ("gold.fct_sales", "gold.fct_daily_sales", "gold.customer_lifetime_value", "gold.fct_item_performance")
WARN_TEST = "relationships_stg_pos__sales_payment_type__payment_type__ref_payment_types_"
ERROR_TEST = "relationships_stg_pos__sales_location_id__location_id__ref_stg_pos__locations_"
SALES_ONLY = ["foundation.stg_pos__sales_run", "test"]


def _counts(env: DbtEnv) -> dict[str, int]:
    tables = [f"silver.stg_pos__{t}" for t in SOURCE_TABLES] + list(GOLD)
    return {table: env.query(f"select count(*) from {table}")[0][0] for table in tables}


def _fingerprint(env: DbtEnv) -> tuple:
    return (
        env.query("select sum(gross_amount), sum(receipts), sum(gross_amount_eur) from gold.fct_daily_sales")[
            0
        ]
        + env.query("select sum(lifetime_value_eur) from gold.customer_lifetime_value")[0]
    )


@pytest.fixture(scope="module")
def first_setup(dbt_env: DbtEnv):
    run = dbt_env.run("dbt_setup")
    return run, _counts(dbt_env), _fingerprint(dbt_env)


def test_setup_builds_silver_and_gold_from_scratch(dbt_env: DbtEnv, first_setup, demo_sqlite: Path) -> None:
    run, counts, _ = first_setup
    report = run_report("dbt_setup", run.run_id)
    log.info("%s", report)
    assert run.state == "success"
    with sqlite3.connect(demo_sqlite) as source:
        for table in SOURCE_TABLES:
            (expected,) = source.execute(f'select count(*) from "{table}"').fetchone()
            assert counts[f"silver.stg_pos__{table}"] == expected, table
    assert counts["gold.fct_sales"] == counts["silver.stg_pos__sales"]
    assert all(counts[table] > 0 for table in GOLD)

    for step in ("clear", "seed", "foundation", "models", "test"):
        assert f"\n{step:<14} success " in report, step
    assert "test failures, severity error (fail the run): none" in report
    assert "test failures, severity warn (the run goes on): none" in report
    # rows per node: dbt-duckdb gives none, the task counts what it built
    (node,) = run_results("dbt_setup", run.run_id, "foundation.stg_pos__sales_run")["nodes"]
    assert node["status"] == "success" and node["rows"] == counts["silver.stg_pos__sales"]
    seeds = run_results("dbt_setup", run.run_id, "seed.payment_types_seed")["nodes"]
    assert seeds[0]["rows"] == 5


def test_setup_again_rebuilds_the_same_warehouse(dbt_env: DbtEnv, first_setup) -> None:
    _, counts, fingerprint = first_setup
    run = dbt_env.run("dbt_setup")
    assert run.state == "success", run_report("dbt_setup", run.run_id)
    assert _counts(dbt_env) == counts
    assert _fingerprint(dbt_env) == fingerprint


def test_transform_dag_runs_silver_gold_and_their_tests(dbt_env: DbtEnv, first_setup) -> None:
    _, counts, fingerprint = first_setup
    run = dbt_env.run("dbt_transform")
    report = run_report("dbt_transform", run.run_id)
    log.info("%s", report)
    assert run.state == "success"
    for step in ("silver", "gold", "test"):
        assert f"\n{step:<14} success " in report, step
    assert _counts(dbt_env) == counts
    assert _fingerprint(dbt_env) == fingerprint


# --- bronze that changed: duplicate batches, an uncommitted partition, a warn-level finding ---------


def _sale(env: DbtEnv, sale_id: int) -> dict:
    part = next((env.lake / "pos" / "sales").glob("month=2025-01/part-*.parquet"))
    with duckdb.connect() as con:
        cursor = con.execute(f"select * from read_parquet('{part}') where id = ?", [sale_id])
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


LATER = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def changed_sales(dbt_env: DbtEnv, first_setup):
    sales = dbt_env.lake / "pos" / "sales"
    sale = _sale(dbt_env, 1)
    # the newer batch sits in the partition that sorts first: the ingestion time decides, not the path
    write_partition(
        sales,
        "month=2099-01",
        [
            sale
            | {
                "total_amount": Decimal("2.00"),
                "remark": "newer",
                "_ingestion_time": LATER + dt.timedelta(hours=1),
            }
        ],
        batch_id="20990101T010000Znewer000",
    )
    write_partition(
        sales,
        "month=2099-02",
        [sale | {"total_amount": Decimal("1.00"), "remark": "older", "_ingestion_time": LATER}],
        batch_id="20990101T000000Zolder000",
    )
    write_partition(
        sales,
        "month=2099-03",
        [sale | {"id": 9_000_001, "_ingestion_time": LATER}],
        batch_id="20990301T000000Zcrashed0",
        committed=False,
    )
    write_partition(
        sales,
        "month=2099-04",
        [sale | {"id": 9_000_002, "payment_type": "CRYPTO", "_ingestion_time": LATER}],
        batch_id="20990401T000000Zcrypto00",
    )
    return dbt_env.run("dbt_setup", only=SALES_ONLY)


def test_the_latest_batch_of_a_key_wins(dbt_env: DbtEnv, changed_sales) -> None:
    rows = dbt_env.query(
        "select total_amount, remark, _batch_id from silver.stg_pos__sales where sale_id = 1"
    )
    assert rows == [(Decimal("2.00"), "newer", "20990101T010000Znewer000")]


def test_a_partition_without_success_is_not_read(dbt_env: DbtEnv, changed_sales) -> None:
    assert dbt_env.query("select count(*) from silver.stg_pos__sales where sale_id = 9000001") == [(0,)]
    assert dbt_env.query("select payment_type from silver.stg_pos__sales where sale_id = 9000002") == [
        ("CRYPTO",)
    ]


def test_a_warn_level_failure_is_reported_and_the_run_succeeds(dbt_env: DbtEnv, changed_sales) -> None:
    report = run_report("dbt_setup", changed_sales.run_id)
    log.info("%s", report)
    assert changed_sales.state == "success"
    assert "test failures, severity error (fail the run): none" in report
    warned = report.split("test failures, severity warn (the run goes on):", 1)[1]
    assert f"  - {WARN_TEST} on stg_pos__sales.payment_type: 1 failing row(s)" in warned
    assert "seeds/payment_types.csv" in warned  # the test's description says what to do


def test_an_error_level_failure_fails_the_run_naming_the_test(dbt_env: DbtEnv, changed_sales) -> None:
    sales = dbt_env.lake / "pos" / "sales"
    orphan = write_partition(
        sales,
        "month=2099-05",
        [_sale(dbt_env, 1) | {"id": 9_000_003, "location_id": 999, "_ingestion_time": LATER}],
        batch_id="20990501T000000Zorphan00",
    )
    try:
        run = dbt_env.run("dbt_setup", only=SALES_ONLY)
    finally:
        shutil.rmtree(orphan)
    report = run_report("dbt_setup", run.run_id)
    log.info("%s", report)
    assert run.state == "failed"
    errors, warnings = report.split("test failures, severity error (fail the run): 1", 1)[1].split(
        "test failures, severity warn (the run goes on):"
    )
    assert f"  - {ERROR_TEST} on stg_pos__sales.location_id: 1 failing row(s)" in errors
    assert WARN_TEST in warnings
    assert "\ntest           failed " in report


def test_a_lock_held_by_another_process_names_it(dbt_env: DbtEnv, first_setup) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(300)",
            str(dbt_env.warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        run = dbt_env.run("dbt_setup", only=["clear.clear_gold"])
    finally:
        holder.kill()
        holder.wait()
    report = run_report("dbt_setup", run.run_id)
    log.info("%s", report)
    assert run.state == "failed"
    error = run_results("dbt_setup", run.run_id, "clear.clear_gold")["error"]
    assert f"the DuckDB warehouse {dbt_env.warehouse} is locked by another process: PID {holder.pid}" in error
    assert f"kill {holder.pid}" in error and "clear the failed task" in error
    assert f"PID {holder.pid}" in report


def test_dbt_reads_the_parts_success_names_not_a_stray_beside_them(dbt_env: DbtEnv, first_setup) -> None:
    """A part of another batch in a committed partition (a re-run's, or a hand's) is not read:
    bronze is the parts ``_SUCCESS`` names, so silver holds each committed manifest's rows."""
    sales = dbt_env.lake / "pos" / "sales"
    committed = sales / "month=2025-01"
    marker = json.loads((committed / SUCCESS).read_text())
    assert marker["parts"], "_SUCCESS names the committed batch's parts"
    first = pq.read_table(committed / marker["parts"][0])
    stray_batch = "20990101T000000Zstray000"
    shifted = first.set_column(first.schema.get_field_index("id"), "id", pc.add(first["id"], 10_000_000))
    shifted = shifted.set_column(
        shifted.schema.get_field_index("_batch_id"), "_batch_id", pa.array([stray_batch] * shifted.num_rows)
    )
    stray = committed / f"part-{stray_batch}-00000.parquet"
    pq.write_table(shifted, stray)
    try:
        run = dbt_env.run("dbt_setup", only=SALES_ONLY)
    finally:
        stray.unlink()
    assert run.state == "success", run_report("dbt_setup", run.run_id)
    manifests = {
        m.batch_id: m.rows
        for m in (Manifest.from_json(p.read_text()) for p in sales.glob(f"month=*/{MANIFEST}"))
    }
    assert dbt_env.query(
        f"select count(*) from silver.stg_pos__sales where _batch_id = '{stray_batch}' or sale_id >= 10000000"
    ) == [(0,)]
    # the replicated sales (ids below those of the partitions written by hand in this module), one
    # row per key in silver: as many as the committed manifests hold
    assert dbt_env.query("select count(*) from silver.stg_pos__sales where sale_id < 9000000") == [
        (sum(manifests.values()),)
    ]
