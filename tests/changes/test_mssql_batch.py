"""A SQL Server ``cdc`` table's batches as the extract task writes them: a baseline on the first
run, then the changes after the last committed position, each batch's positions in its manifest,
verified and committed like PostgreSQL's. SQL Server is a fake here (the statements are answered
by fragment, as in test_mssql.py); the integration tests run against a real server when one is
given."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from tests.changes.test_mssql import AT, CDC_OFF, CT_ON, SALES, reader
from tributary.batches import RunInfo, last_committed
from tributary.changes.batch import commit_changes, extract_mssql_changes, verify_changes


def _rows(lake: Path, batch_id: str) -> list[dict[str, object]]:
    return pq.read_table(lake / "shop" / "sales" / f"batch={batch_id}").to_pylist()


def _commit(lake: Path, batch_id: str) -> None:
    verify_changes(SALES, source="shop", lake_root=lake, batch_id=batch_id)
    commit_changes(SALES, source="shop", lake_root=lake, batch_id=batch_id)


def test_a_baseline_then_the_changes_after_its_position(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first, _ = reader(
        CDC_OFF,
        CT_ON,
        ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]),
        ("FROM [dbo].[sales]", [(1, "ana", Decimal("1.50"), AT), (2, "bo", None, AT)]),
    )
    baseline = extract_mssql_changes(first, SALES, source="shop", lake_root=lake, run=RunInfo())
    assert (baseline.change_position_from, baseline.change_position_to) == (None, "120")
    assert baseline.full_refresh and baseline.rows == 2
    rows = _rows(lake, baseline.batch_id)
    assert [(r["id"], r["_op"], r["_change_version"]) for r in rows] == [
        (1, "insert", 120),
        (2, "insert", 120),
    ]
    _commit(lake, baseline.batch_id)

    second, connection = reader(
        CDC_OFF,
        CT_ON,
        ("CHANGE_TRACKING_CURRENT_VERSION()", [(130,)]),
        ("snapshot_isolation_state", [(1,)]),
        ("CHANGE_TRACKING_MIN_VALID_VERSION", [(80,)]),
        (
            "CHANGETABLE(CHANGES",
            [(2, None, None, None, "D", 125, 1), (3, "cy", Decimal("2.00"), AT, "I", 128, 1)],
        ),
    )
    changes = extract_mssql_changes(second, SALES, source="shop", lake_root=lake, run=RunInfo())
    assert (changes.change_position_from, changes.change_position_to) == ("120", "130")
    assert changes.planned_from == baseline.batch_id and not changes.full_refresh
    got = [(r["id"], r["_op"], r["_change_version"]) for r in _rows(lake, changes.batch_id)]
    assert got == [(2, "delete", 125), (3, "insert", 128)]
    read = next(p for sql, p in connection.executed if "CHANGETABLE" in sql)
    assert read == {"since": 120, "upto": 130}  # from the committed baseline's position
    _commit(lake, changes.batch_id)
    assert last_committed(lake, "shop", "sales").batch_id == changes.batch_id


def test_full_refresh_takes_a_new_baseline(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    answers = (
        CDC_OFF,
        CT_ON,
        ("CHANGE_TRACKING_CURRENT_VERSION()", [(120,)]),
        ("FROM [dbo].[sales]", [(1, "ana", Decimal("1.50"), AT)]),
    )
    first = extract_mssql_changes(reader(*answers)[0], SALES, source="shop", lake_root=lake)
    _commit(lake, first.batch_id)
    again = extract_mssql_changes(
        reader(*answers)[0], SALES, source="shop", lake_root=lake, run=RunInfo(full_refresh=True)
    )
    assert again.full_refresh and again.change_position_from is None
    assert again.planned_from == first.batch_id


class _TaskInstance:
    def __init__(self, pushed: object) -> None:
        self.pushed = pushed

    def xcom_pull(self, task_ids: str) -> object:
        assert task_ids == "cdc_plan"
        return self.pushed


def test_a_source_without_a_slot_plans_and_advances_nothing(tmp_path: Path, monkeypatch) -> None:
    import json
    import sqlite3

    import pytest
    from airflow.sdk.exceptions import AirflowFailException

    from tributary.operators._common import cdc_plan_of
    from tributary.operators.cdc_advance import CdcAdvanceOperator
    from tributary.operators.cdc_plan import CdcPlanOperator

    database = tmp_path / "shop.sqlite"
    sqlite3.connect(database).close()
    monkeypatch.setenv("AIRFLOW_CONN_SHOP_LITE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    plan = CdcPlanOperator(
        task_id="cdc_plan", source="shop", source_conn_id="shop_lite", slot="s", publication="p", tables=[]
    )
    planned = plan.execute({})
    assert planned == {"slot": None, "dialect": "sqlite"}
    # cdc_advance takes that answer: no connection is opened (this one does not exist)
    advance = CdcAdvanceOperator(
        task_id="cdc_advance", source="shop", source_conn_id="nowhere", tables=["t"], lake_url=str(tmp_path)
    )
    assert advance.execute({"ti": _TaskInstance(planned)}) == {}
    # and a table's extract on a PostgreSQL path would not take it for a plan
    with pytest.raises(AirflowFailException, match="no change positions"):
        cdc_plan_of({"ti": _TaskInstance(planned)})
