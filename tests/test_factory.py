"""End to end through Airflow itself: the replication DAG of a SQLite source, run with
``dag.test()`` for consecutive windows, re-run, and re-run after a crash before ``_SUCCESS``."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tributary.config import load_config
from tributary.factory import build_dag
from tributary.lake import MANIFEST, SUCCESS, Partition
from tributary.manifest import Manifest

pytestmark = pytest.mark.airflow

MONTHS = [dt.datetime(2025, m, 1, tzinfo=dt.UTC) for m in (1, 2, 3)]
WINDOW_TABLES = {"sales": "sales_date", "sales_items": "sales_date", "payments": "paid_at"}
FULL_TABLES = ("items", "customers", "locations")


@pytest.fixture
def pipeline(tmp_path: Path, demo_sqlite: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW_CONN_TEST_POS", json.dumps({"conn_type": "sqlite", "host": str(demo_sqlite)}))
    tables = "\n".join(
        [f"  - {{name: {t}, mode: window, date_column: {c}}}" for t, c in WINDOW_TABLES.items()]
        + [f"  - {{name: {t}, mode: full}}" for t in FULL_TABLES]
    )
    config_file = tmp_path / "pos.yaml"
    config_file.write_text(
        "source: {name: pos, conn_id: test_pos, max_connections: 2, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}', rows_per_file: 5000}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\n"
        f"tables:\n{tables}\n"
    )
    config = load_config(config_file)
    return build_dag(config, config_file), lake, demo_sqlite


def _run(dag, logical: dt.datetime) -> str:
    return str(dag.test(logical_date=logical).state)


def _source_count(db: Path, table: str, column: str, month: dt.datetime) -> int:
    end = (month + dt.timedelta(days=32)).replace(day=1)
    with sqlite3.connect(db) as conn:
        return conn.execute(
            f'SELECT count(*) FROM "{table}" WHERE "{column}" >= ? AND "{column}" < ?',
            (month.strftime("%Y-%m-%d %H:%M:%S"), end.strftime("%Y-%m-%d %H:%M:%S")),
        ).fetchone()[0]


def _partition_dir(lake: Path, table: str, month: dt.datetime) -> Path:
    if table in WINDOW_TABLES:
        return lake / "pos" / table / f"month={month:%Y-%m}"
    return lake / "pos" / table / f"snapshot_date={month:%Y-%m-%d}"


def _data_files(part: Path) -> list[str]:
    return sorted(p.name for p in part.iterdir() if p.name not in (MANIFEST, SUCCESS))


def test_consecutive_windows_commit_verified_partitions(pipeline) -> None:
    dag, lake, db = pipeline
    for month in MONTHS:
        assert _run(dag, month) == "success"

    for table, column in WINDOW_TABLES.items():
        total_in_lake = 0
        for month in MONTHS:
            part = _partition_dir(lake, table, month)
            manifest = Manifest.from_json((part / MANIFEST).read_text())
            expected = _source_count(db, table, column, month)
            assert expected > 0
            assert manifest.rows == manifest.source_query_rows == expected
            assert (part / SUCCESS).exists()
            assert _data_files(part) == sorted(f.name for f in manifest.files)
            data = pq.read_table([str(part / f.name) for f in manifest.files])
            assert data.num_rows == expected
            assert set(data.column("_batch_id").to_pylist()) == {manifest.batch_id}
            assert set(data.column("_source_system").to_pylist()) == {"pos"}
            assert data.column("_source_file").null_count == expected
            total_in_lake += data.num_rows
            if table == "sales":  # declared NOT NULL (and the rowid alias id) -> not nullable
                written = pq.read_schema(part / manifest.files[0].name)
                nullable = {f.name: f.nullable for f in written}
                assert nullable["id"] is nullable["sales_no"] is nullable["_batch_id"] is False
                assert nullable["customer_id"] is nullable["remark"] is nullable["_source_file"] is True
                assert {f.name: f.nullable for f in manifest.schema_} == nullable
        with sqlite3.connect(db) as conn:
            (in_source,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        assert total_in_lake == in_source, f"{table}: every row in exactly one month"

    for table in FULL_TABLES:
        part = _partition_dir(lake, table, MONTHS[0])
        manifest = Manifest.from_json((part / MANIFEST).read_text())
        with sqlite3.connect(db) as conn:
            (in_source,) = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        assert manifest.rows == in_source and (part / SUCCESS).exists()


def test_rerun_replaces_the_window(pipeline) -> None:
    dag, lake, _ = pipeline
    month = MONTHS[1]
    assert _run(dag, month) == "success"
    part = _partition_dir(lake, "sales_items", month)
    first = Manifest.from_json((part / MANIFEST).read_text())
    assert len(first.files) > 1, "rows_per_file 5000 splits the window into several parts"

    assert _run(dag, month) == "success"
    second = Manifest.from_json((part / MANIFEST).read_text())
    assert second.batch_id != first.batch_id
    assert second.rows == first.rows
    assert _data_files(part) == sorted(f.name for f in second.files), "no stale parts left"
    assert pq.read_table(part).num_rows == first.rows


def test_crash_before_success_is_repaired_by_the_rerun(pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    dag, lake, _ = pipeline
    month = MONTHS[2]
    assert _run(dag, month) == "success"
    part = _partition_dir(lake, "sales", month)
    committed = Manifest.from_json((part / MANIFEST).read_text())

    def crash(self, manifest):
        raise OSError("injected crash after the parts were written")

    with monkeypatch.context() as patch:
        patch.setattr(Partition, "write_manifest", crash)
        assert _run(dag, month) == "failed"
    assert not (part / SUCCESS).exists(), "a crashed rewrite must not look complete"
    stale = _data_files(part)
    assert stale and set(stale) != {f.name for f in committed.files}

    assert _run(dag, month) == "success"
    repaired = Manifest.from_json((part / MANIFEST).read_text())
    assert (part / SUCCESS).exists()
    assert repaired.rows == committed.rows
    assert _data_files(part) == sorted(f.name for f in repaired.files), "crashed parts removed"
    assert pq.read_table(part).num_rows == committed.rows, "no duplicates"


def test_the_tables_param_replicates_only_those_tables(pipeline) -> None:
    dag, lake, _ = pipeline
    month = MONTHS[0]
    run = dag.test(logical_date=month, run_conf={"tables": ["items"]})
    assert str(run.state) == "success"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["items.commit"] == "success"
    assert states["sales.extract"] == states["sales.commit"] == "skipped"
    assert (_partition_dir(lake, "items", month) / SUCCESS).exists()
    assert not _partition_dir(lake, "sales", month).exists()


def test_a_mistyped_table_in_the_tables_param_fails_the_run_naming_it(pipeline, caplog, capfd) -> None:
    dag, lake, _ = pipeline
    month = MONTHS[0]
    run = dag.test(logical_date=month, run_conf={"tables": ["itemz"]})
    assert str(run.state) == "failed"
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["items.extract"] == "failed"
    out, err = capfd.readouterr()  # the task's log goes to the process's stdout/stderr
    logged = "\n".join([caplog.text, out, err])
    assert "['itemz'], which are not tables of replicate_pos" in logged
    assert not (lake / "pos").exists() or not any((lake / "pos").rglob("_SUCCESS"))


def test_a_watermark_run_of_airflow_dags_test_reads_up_to_now_not_to_its_logical_date(
    tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`airflow dags test` (dag.test) starts its run at the logical date: the bound of a
    watermark run is the wall clock when the run began, as through the scheduler."""
    source = tmp_path / "wm.sqlite"
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, changed_at TIMESTAMP NOT NULL)")
        conn.executemany(
            "INSERT INTO events VALUES (?, ?)",
            [(i, (recent - dt.timedelta(days=i)).strftime("%Y-%m-%d %H:%M:%S")) for i in range(1, 41)],
        )
    monkeypatch.setenv("AIRFLOW_CONN_TEST_WM", json.dumps({"conn_type": "sqlite", "host": str(source)}))
    lake = tmp_path / "lake"
    config_file = tmp_path / "wm.yaml"
    config_file.write_text(
        "source: {name: wm, conn_id: test_wm, max_connections: 1, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: events, mode: watermark, watermark_column: changed_at, primary_key: [id]}\n"
    )
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(tmp_path))  # dag.test syncs the dags folder
    dag = build_dag(load_config(config_file), config_file)
    with caplog.at_level("INFO", logger="tributary"):
        assert _run(dag, dt.datetime(2025, 10, 1, tzinfo=dt.UTC)) == "success"
    (batch,) = [p for p in (lake / "wm" / "events").iterdir() if (p / SUCCESS).exists()]
    manifest = Manifest.from_json((batch / MANIFEST).read_text())
    assert manifest.rows == 40  # every row, all dated after the logical date and before now
    assert "minus the safety lag 5m" in caplog.text and "the run's start" in caplog.text
