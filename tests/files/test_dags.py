"""End to end through Airflow itself (``dag.test()``): a file source's DAG over two days, with a
broken file under the ``fail`` policy, and QA checks on a database table of the demo SQLite."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.files.conftest import local_store, orders_csv
from tributary.config import FilesPipelineConfig, load_config
from tributary.factory import build_dag
from tributary.lake import MANIFEST, SUCCESS
from tributary.manifest import Manifest

pytestmark = pytest.mark.airflow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
JAN_1 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def _states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def _batches(lake: Path, table: str) -> list[Path]:
    return sorted((lake / "shop" / table).iterdir())


def _shop_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, landing_url: str, lake: Path, tables: str
) -> Path:
    """The pipeline config of file source ``shop`` in a pipelines folder of its own (with the
    orders contract): dag.test() syncs the DAG files, whose factory builds this DAG from it, as
    the DAG processor would."""
    pipelines = tmp_path / "pipelines"
    (pipelines / "schemas").mkdir(parents=True)
    (pipelines / "schemas" / "orders.yaml").write_text((FIXTURES / "schemas" / "orders.yaml").read_text())
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(pipelines))
    config_file = pipelines / "shop.yaml"
    config_file.write_text(
        f"source: {{name: shop, type: files, url: '{landing_url}', max_connections: 1, retries: 0}}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        f"tables:\n{tables}"
    )
    return config_file


def test_file_source_dag_loads_new_files_and_fails_on_a_broken_one(
    tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing, lake = local_store(tmp_path / "landing"), tmp_path / "lake"
    config_file = _shop_pipeline(
        tmp_path,
        monkeypatch,
        landing.url,
        lake,
        "  - name: orders\n"
        "    glob: 'orders/*.csv'\n"
        "    format: csv\n"
        "    contract: schemas/orders.yaml\n"
        "    checks: [{unique: [id]}, {row_count: {min: 1}}]\n"
        "    quiet_period: 0s\n",
    )
    config = load_config(config_file)
    assert isinstance(config, FilesPipelineConfig)
    dag = build_dag(config, config_file)
    extract = dag.get_task("orders.extract")
    assert extract.pool == "source_shop" and extract.max_active_tis_per_dag == 1
    assert dag.get_task("orders.verify").upstream_task_ids == {"orders.extract"}

    landing.put("orders/1.csv", orders_csv(1, 3))
    landing.put("orders/2.csv", orders_csv(4, 3))
    landing.put("orders/3.csv", orders_csv(7, 2).replace(b"\n", b",surplus\n", 1))  # an extra column
    first = dag.test(logical_date=JAN_1)

    assert str(first.state) == "failed"
    assert _states(first) == {
        "orders.extract": "success",
        "orders.verify": "success",
        "orders.commit": "failed",
    }
    (batch,) = _batches(lake, "orders")
    manifest = Manifest.from_json((batch / MANIFEST).read_text())
    assert (batch / SUCCESS).exists(), "the good files are committed before the policy fails the run"
    assert [f.path for f in manifest.source_files] == ["orders/1.csv", "orders/2.csv"]
    assert manifest.rejected_files[0].violations[0].describe() == (
        "line 1, column surplus: column is not in the contract (extra_columns: reject)"
    )
    assert [c.passed for c in manifest.checks] == [True, True]
    assert pq.read_table(batch).num_rows == 6

    landing.put("orders/3.csv", orders_csv(7, 2))  # the producer fixes the file
    second = dag.test(logical_date=JAN_1 + dt.timedelta(days=1))

    assert str(second.state) == "success", _states(second)
    newest = _batches(lake, "orders")[-1]
    manifest = Manifest.from_json((newest / MANIFEST).read_text())
    assert [f.path for f in manifest.source_files] == ["orders/3.csv"]
    assert manifest.unchanged_files == 2 and manifest.rows == manifest.source_query_rows == 2
    assert (newest / SUCCESS).exists()
    ids = pq.read_table(lake / "shop" / "orders").column("id").to_pylist()
    assert sorted(ids) == list(range(1, 9)), "every order once across the batches"


def test_checks_on_a_database_table(tmp_path: Path, demo_sqlite: Path, airflow_db: Path, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_QA_POS", json.dumps({"conn_type": "sqlite", "host": str(demo_sqlite)}))
    lake = tmp_path / "lake"
    config_file = tmp_path / "pos.yaml"
    config_file.write_text(
        "source: {name: pos, conn_id: qa_pos, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "start_date: 2025-01-01\n"
        "tables:\n"
        "  - name: sales\n"
        "    mode: window\n"
        "    date_column: sales_date\n"
        "    checks:\n"
        "      - unique: [id]\n"
        "      - not_null: [sales_no, total_amount]\n"
        "      - row_count: {min: 1}\n"
        "      - freshness: {column: sales_date, max_age: 1d}\n"
        "  - name: customers\n"
        "    mode: full\n"
        "    checks:\n"
        "      - not_null: [email]\n"
        "      - unique: [last_name]\n"
        "      - accepted_values: {column: loyalty_tier, values: [GOLD, SILVER]}\n"
        "      - row_count: {max: 100}\n"
    )
    dag = build_dag(load_config(config_file), config_file)
    run = dag.test(logical_date=JAN_1)

    assert _states(run) == {
        "customers.extract": "success",
        "customers.verify": "failed",
        "customers.commit": "upstream_failed",
        "sales.extract": "success",
        "sales.verify": "success",
        "sales.commit": "success",
    }
    sales = lake / "pos" / "sales" / "month=2025-01"
    assert (sales / SUCCESS).exists()
    assert all(c.passed for c in Manifest.from_json((sales / MANIFEST).read_text()).checks)

    customers = lake / "pos" / "customers" / "snapshot_date=2025-01-01"
    assert not (customers / SUCCESS).exists()
    results = Manifest.from_json((customers / MANIFEST).read_text()).checks
    assert [(r.check, r.passed) for r in results] == [
        ("not_null(email)", False),
        ("unique(last_name)", False),
        ("accepted_values(loyalty_tier: GOLD, SILVER)", False),
        ("row_count(min=None, max=100)", False),
    ]
    assert results[0].detail.startswith("email: ") and "NULL(s) in" in results[0].detail
    assert "values not accepted: 'BRONZE'" in results[2].detail


def test_a_run_failing_after_the_extract_leaves_rejected_files_for_the_next_to_fail_on(
    tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """on_violation: fail with a quarantine: the first run's verify fails after its extract
    rejected a file; the file is still in the landing zone (moves happen in the commit), so the
    next run rejects it again, its commit fails naming it, and only then is it quarantined."""
    landing, lake = local_store(tmp_path / "landing"), tmp_path / "lake"
    config_file = _shop_pipeline(
        tmp_path,
        monkeypatch,
        landing.url,
        lake,
        "  - {name: orders, glob: 'orders/*.csv', format: csv, contract: schemas/orders.yaml,\n"
        "     quarantine: quarantine, quiet_period: 0s}\n",
    )
    dag = build_dag(load_config(config_file), config_file)
    landing.put("orders/good.csv", orders_csv(1, 2))
    landing.put("orders/bad.csv", orders_csv(3, 2).replace(b",3.03,", b",three,"))

    def lake_outage(*args: object, **kwargs: object) -> None:
        raise OSError("the lake went away")

    with monkeypatch.context() as patched:
        patched.setattr("tributary.files.verify.verify_files", lake_outage)
        first = dag.test(logical_date=JAN_1)
    assert _states(first) == {
        "orders.extract": "success",
        "orders.verify": "failed",
        "orders.commit": "upstream_failed",
    }
    assert "orders/bad.csv" in set(landing.keys()), "not moved: its batch was not committed"

    second = dag.test(logical_date=JAN_1 + dt.timedelta(days=1))
    assert _states(second)["orders.commit"] == "failed"
    committed = [b for b in _batches(lake, "orders") if (b / SUCCESS).exists()]
    (batch,) = committed
    manifest = Manifest.from_json((batch / MANIFEST).read_text())
    assert [f.path for f in manifest.source_files] == ["orders/good.csv"]
    assert [f.path for f in manifest.rejected_files] == ["orders/bad.csv"]
    keys = set(landing.keys())
    assert "orders/bad.csv" not in keys and f"quarantine/{manifest.batch_id}/orders/bad.csv" in keys
