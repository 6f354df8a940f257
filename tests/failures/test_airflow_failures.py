"""Through Airflow itself (``dag.test()``): a permanent source failure fails the task in its first
try whatever its retries, a transient one is retried with backoff, no password reaches a log, and
a table named like an injection is replicated as the table it names."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.support.pg import remove_cluster, start_cluster
from tributary.config import load_config
from tributary.factory import build_dag
from tributary.lake import MANIFEST, SUCCESS

pytestmark = pytest.mark.airflow

JANUARY = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
WRONG_PASSWORD = "Wr0ng-but-still-s3cret"


def replication_dag(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    name: str,
    conn_id: str,
    tables: str,
    retries: int,
    source_keys: str = "",
) -> Any:
    """The DAG of a pipeline config in a folder of its own: ``dag.test()`` syncs the project's
    DAG files, whose factory builds this DAG from ``$TRIBUTARY_PIPELINES_DIR``."""
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(pipelines))
    config_file = pipelines / f"{name}.yaml"
    config_file.write_text(
        f"source: {{name: {name}, conn_id: {conn_id}, retries: {retries}, retry_delay_seconds: 1"
        f"{source_keys}}}\n"
        f"lake: {{url: '{(tmp_path / 'lake').as_uri()}'}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\n"
        f"tables:\n{tables}"
    )
    return build_dag(load_config(config_file), config_file)


def task_instances(run: Any) -> dict[str, Any]:
    return {ti.task_id.rsplit(".", 1)[-1]: ti for ti in run.get_task_instances()}


def test_a_refused_login_fails_in_one_try_and_no_log_holds_the_password(
    auth_cluster, airflow_db, tmp_path, monkeypatch, caplog, capfd
) -> None:
    # capfd rather than capsys: Airflow's task logging writes to the process's stdout/stderr
    monkeypatch.setenv("AIRFLOW_CONN_ERR_PG_LOGIN", auth_cluster.conn(password=WRONG_PASSWORD))
    dag = replication_dag(
        tmp_path,
        monkeypatch,
        name="err_login",
        conn_id="err_pg_login",
        retries=3,
        tables="  - {name: sales, mode: window, date_column: sold_at}\n",
    )

    caplog.set_level(logging.DEBUG)
    run = dag.test(logical_date=JANUARY)

    extract = task_instances(run)["extract"]
    assert str(run.state) == "failed"
    assert str(extract.state) == "failed", "not up_for_retry: a retry cannot fix a password"
    assert extract.try_number == 1, "three retries configured, none used"
    out, err = capfd.readouterr()
    logged = "\n".join([caplog.text, out, err])
    assert "Source login refused: connection 'err_pg_login'" in logged, "the task log says what happened"
    assert "Login and Password fields" in logged
    assert WRONG_PASSWORD not in logged


def test_an_unreachable_server_is_retried(airflow_db, tmp_path, monkeypatch) -> None:
    cluster = start_cluster()
    monkeypatch.setenv("AIRFLOW_CONN_ERR_PG_DOWN", cluster.connection_json())
    remove_cluster(cluster)
    dag = replication_dag(
        tmp_path,
        monkeypatch,
        name="err_down",
        conn_id="err_pg_down",
        retries=1,
        tables="  - {name: sales, mode: full}\n",
    )

    run = dag.test(logical_date=JANUARY)

    extract = task_instances(run)["extract"]
    assert str(extract.state) == "failed"
    assert extract.try_number == 2, "the first try failed transiently and was retried once"


HOSTILE = 'x"; DROP TABLE sales; --'


def test_a_table_named_like_an_injection_is_replicated_as_named(airflow_db, tmp_path, monkeypatch) -> None:
    db = tmp_path / "pos.sqlite"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE sales (id INTEGER)")
        con.execute("INSERT INTO sales VALUES (1)")
        con.execute('CREATE TABLE "x""; DROP TABLE sales; --" ("a b" INTEGER, "c""d;" TEXT)')
        con.executemany('INSERT INTO "x""; DROP TABLE sales; --" VALUES (?, ?)', [(7, "seven"), (8, "eight")])
    con.close()
    monkeypatch.setenv("AIRFLOW_CONN_ERR_LITE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    dag = replication_dag(
        tmp_path,
        monkeypatch,
        name="err_hostile",
        conn_id="err_lite",
        retries=0,
        tables=f"  - name: '{HOSTILE}'\n    mode: full\n",
    )

    run = dag.test(logical_date=JANUARY)

    assert str(run.state) == "success", {k: str(v.state) for k, v in task_instances(run).items()}
    partition = tmp_path / "lake" / "err_hostile" / HOSTILE / "snapshot_date=2025-01-01"
    assert (partition / SUCCESS).exists() and (partition / MANIFEST).exists()
    data = pq.read_table(partition).select(["a b", 'c"d;']).sort_by("a b").to_pylist()
    assert data == [{"a b": 7, 'c"d;': "seven"}, {"a b": 8, 'c"d;': "eight"}]
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM sales").fetchone() == (1,), "nothing was executed"
    con.close()
