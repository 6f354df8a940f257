"""``deletes: detect_by_keys`` through Airflow: ``dag.test()`` of a replication DAG whose table
detects deletes after its commit, the guard failing the task once, without retries."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tributary.config import load_config
from tributary.factory import build_dag
from tributary.lake import list_partitions

pytestmark = pytest.mark.airflow


def _task_instances(run: Any) -> dict[str, Any]:
    return {ti.task_id.rsplit(".", 1)[-1]: ti for ti in run.get_task_instances()}


def _source(path: Path) -> None:
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, changed_at TIMESTAMP NOT NULL)")
        conn.executemany(
            "INSERT INTO events VALUES (?, ?)",
            [(i, (recent - dt.timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")) for i in range(1, 21)],
        )


def test_a_replication_dag_detects_deletes_after_its_commit(
    tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd
) -> None:
    source = tmp_path / "del.sqlite"
    _source(source)
    monkeypatch.setenv("AIRFLOW_CONN_TEST_DEL", json.dumps({"conn_type": "sqlite", "host": str(source)}))
    lake = tmp_path / "lake"
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    config_file = pipelines / "del.yaml"
    config_file.write_text(
        "source: {name: del, conn_id: test_del, max_connections: 1, retries: 2}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: events, mode: watermark, watermark_column: changed_at, primary_key: [id],"
        " safety_lag: 0s, deletes: detect_by_keys}\n"
    )
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(pipelines))  # dag.test syncs the dags folder
    dag = build_dag(load_config(config_file), config_file)
    assert [t.task_id for t in dag.tasks] == [
        "events.extract", "events.verify", "events.commit", "events.detect_deletes",
    ]  # fmt: skip
    assert dag.task_dict["events.detect_deletes"].upstream_task_ids == {"events.commit"}
    assert [a.name for a in dag.task_dict["events.detect_deletes"].outlets] == ["bronze.del.events"]
    assert dag.task_dict["events.commit"].outlets == []

    def deletes() -> list[str]:
        return [p for p in list_partitions(lake, "del", "events") if p.startswith("deletes=")]

    run = dag.test(logical_date=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
    assert str(run.state) == "success"
    assert (
        _task_instances(run)["detect_deletes"].xcom_pull(task_ids="events.detect_deletes")["deleted_keys"]
        == 0
    )
    assert deletes() == []

    with sqlite3.connect(source) as conn:
        conn.execute("DELETE FROM events WHERE id IN (2, 4)")
    run = dag.test(logical_date=dt.datetime(2025, 3, 2, tzinfo=dt.UTC))
    assert str(run.state) == "success"
    pushed = _task_instances(run)["detect_deletes"].xcom_pull(task_ids="events.detect_deletes")
    assert (pushed["deleted_keys"], pushed["lake_keys"], pushed["rows"]) == (2, 20, 2)
    assert deletes() == [pushed["partition"]] and pushed["path"].endswith(pushed["partition"])

    with sqlite3.connect(source) as conn:
        conn.execute("DELETE FROM events WHERE id > 5")
    caplog.set_level(logging.INFO)
    run = dag.test(logical_date=dt.datetime(2025, 3, 3, tzinfo=dt.UTC))
    detect = _task_instances(run)["detect_deletes"]
    assert str(run.state) == "failed" and str(detect.state) == "failed"
    assert detect.try_number == 1, "two retries configured, none used: a retry reads the same keys"
    out, err = capfd.readouterr()
    assert "15 of the 18 keys in the lake are missing from the source" in "\n".join([caplog.text, out, err])
    assert len(deletes()) == 1
