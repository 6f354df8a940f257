"""The read-replica guard through Airflow itself (``dag.test()``): with ``require_read_replica:
true`` the DAG of a standby replicates the window, the DAG of the primary fails its extract in the
first try, whatever its retries, and touches no lake file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.failures.test_airflow_failures import JANUARY, replication_dag, task_instances
from tributary.lake import SUCCESS

pytestmark = pytest.mark.airflow

SALES = "  - {name: sales, mode: window, date_column: sold_at}\n"


def _guarded_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, cluster: Any) -> Any:
    conn_id = f"{name}_conn"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", cluster.connection_json())
    return replication_dag(
        tmp_path,
        monkeypatch,
        name=name,
        conn_id=conn_id,
        tables=SALES,
        retries=3,
        source_keys=", require_read_replica: true",
    )


def test_the_standby_is_replicated(replica_pair, airflow_db, tmp_path, monkeypatch) -> None:
    dag = _guarded_dag(tmp_path, monkeypatch, "guard_standby", replica_pair.standby)
    run = dag.test(logical_date=JANUARY)
    assert str(run.state) == "success", {k: str(v.state) for k, v in task_instances(run).items()}
    assert (tmp_path / "lake" / "guard_standby" / "sales" / "month=2025-01" / SUCCESS).exists()


def test_the_primary_is_refused_in_one_try(replica_pair, airflow_db, tmp_path, monkeypatch) -> None:
    dag = _guarded_dag(tmp_path, monkeypatch, "guard_primary", replica_pair.primary)
    run = dag.test(logical_date=JANUARY)
    extract = task_instances(run)["extract"]
    assert str(extract.state) == "failed" and extract.try_number == 1
    assert not (tmp_path / "lake" / "guard_primary").exists(), "refused before the partition was touched"
