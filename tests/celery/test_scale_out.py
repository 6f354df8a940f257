"""Tributary on Airflow's CeleryExecutor, unchanged: a backfill of 12 tables × 3 months from
PostgreSQL into an S3 lake runs on two workers with separate folders, every window commits with
the source's row count, the source pool's cap holds across the workers, and the dbt tasks run on
the warehouse's queue, on the one worker that serves it (and has the DuckDB file)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from tests.celery.conftest import BUCKET, MAX_CONNECTIONS, MONTHS, SOURCE, TABLES, CeleryStack
from tributary.hooks.warehouse import warehouse_queue

# the budget is some 4 minutes on a quiet 2-core machine; a busy one may take several times that
pytestmark = [pytest.mark.airflow, pytest.mark.timeout(1800)]

log = logging.getLogger(__name__)

DAG_ID = f"replicate_{SOURCE}"


def _task_instances(stack: CeleryStack, dag_id: str, run_id: str = "~") -> list[dict[str, Any]]:
    """Every task instance of a run (``~``: of every run), page by page."""
    found: list[dict[str, Any]] = []
    while True:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(found)}"
        status, page = stack.airflow.api("GET", path)
        assert status == 200, page
        found += page["task_instances"]
        if len(found) >= page["total_entries"] or not page["task_instances"]:
            return found


def _wait_runs(stack: CeleryStack, dag_id: str, count: int, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = stack.airflow.runs(dag_id)
        if len(runs) == count and all(r["state"] in ("success", "failed") for r in runs):
            return runs
        if any(r["state"] == "failed" for r in runs):
            raise AssertionError(_failures(stack, dag_id))
        time.sleep(3)
    raise AssertionError(f"{dag_id}: {count} runs not finished in {timeout:.0f}s: {runs}")


def _failures(stack: CeleryStack, dag_id: str) -> str:
    """The end of the log of every failed task instance, for the assertion message."""
    failed = [ti for ti in _task_instances(stack, dag_id) if ti["state"] == "failed"]
    return "\n".join(
        f"--- {ti['dag_run_id']} {ti['task_id']} {ti['state']} on {ti['hostname']}:\n"
        + stack.airflow.task_log(dag_id, ti["dag_run_id"], ti["task_id"], max(ti["try_number"], 1))[-3000:]
        for ti in failed[:4]
    )


def _timing(tis: list[dict[str, Any]]) -> str:
    """How the task instances spent their time: the median and longest run of each step, and
    the span of the whole backfill."""
    import datetime as dt
    import statistics

    parts = []
    for step in ("extract", "verify", "commit"):
        durations = [ti["duration"] for ti in tis if ti["task_id"].endswith(f".{step}")]
        parts.append(f"{step} {statistics.median(durations):.1f}s median, {max(durations):.1f}s max")
    starts = [dt.datetime.fromisoformat(ti["start_date"]) for ti in tis]
    ends = [dt.datetime.fromisoformat(ti["end_date"]) for ti in tis]
    parts.append(f"first start to last end {(max(ends) - min(starts)).total_seconds():.0f}s")
    return "; ".join(parts)


def _manifest(stack: CeleryStack, table: str, month: str) -> dict[str, Any] | None:
    """The committed manifest of a partition, or None without ``_SUCCESS``."""
    client = stack.moto.client()
    prefix = f"bronze/{SOURCE}/{table}/month={month}"
    keys = stack.moto.keys(BUCKET, prefix)
    if f"{prefix}/_SUCCESS" not in keys:
        return None
    body = client.get_object(Bucket=BUCKET, Key=f"{prefix}/_manifest.json")["Body"].read()
    return json.loads(body)


def test_a_backfill_lands_every_window_on_both_workers_within_the_pool(celery_stack: CeleryStack) -> None:
    airflow = celery_stack.airflow
    airflow.wait_dag(DAG_ID)
    status, body = airflow.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    assert status == 200, body
    airflow.cli(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2025-01-01", "--to-date", "2025-03-01"
    )
    runs = _wait_runs(celery_stack, DAG_ID, 3, timeout=1200)
    assert [r["state"] for r in runs] == ["success"] * 3, _failures(celery_stack, DAG_ID)
    assert [(r["logical_date"][:7], r["run_type"], r["state"]) for r in runs] == [
        (month, "backfill", "success") for month in MONTHS
    ]

    # every window of every table committed, with the source's rows
    landed = {(t, m): (_manifest(celery_stack, t, m) or {}).get("rows") for t in TABLES for m in MONTHS}
    expected = {(t, m): celery_stack.rows.get((t, m), 0) for t in TABLES for m in MONTHS}
    assert landed == expected

    tis = _task_instances(celery_stack, DAG_ID)
    log.info("backfill of %d task instances: %s", len(tis), _timing(tis))
    assert len(tis) == len(TABLES) * len(MONTHS) * 3  # extract, verify, commit
    assert {ti["state"] for ti in tis} == {"success"}
    # the work spread over both workers, each its own machine as far as Airflow knows
    by_host: dict[str, int] = {}
    for ti in tis:
        by_host[ti["hostname"]] = by_host.get(ti["hostname"], 0) + 1
    assert set(by_host) == set(celery_stack.workers), by_host
    assert {ti["queue"] for ti in tis} == {"default"}
    # the pool capped the source's sessions across both workers, and sessions were seen
    sampler = celery_stack.sampler
    log.info(
        "source sessions: %d seen in %d samples, at most %d at once (pool: %d)",
        len(sampler.sessions), sampler.samples, sampler.most, MAX_CONNECTIONS,
    )  # fmt: skip
    assert sampler.samples > 1000, sampler.samples
    assert len(sampler.sessions) >= len(TABLES), sampler.sessions  # it saw sessions come and go
    assert 1 <= sampler.most <= MAX_CONNECTIONS, sampler.most


def test_dbt_tasks_run_on_the_warehouse_queue_on_its_one_worker(celery_stack: CeleryStack) -> None:
    airflow = celery_stack.airflow
    queue = warehouse_queue()
    (serving,) = [name for name, queues in celery_stack.queues.items() if queue in queues]
    airflow.wait_dag("dbt_setup")
    status, body = airflow.api("PATCH", "/api/v2/dags/dbt_setup", {"is_paused": False})
    assert status == 200, body
    status, run = airflow.api("POST", "/api/v2/dags/dbt_setup/dagRuns", {"logical_date": None})
    assert status == 200, run
    run_id = run["dag_run_id"]
    # the first step (dbt run-operation clear_layer) is enough: the rest needs the demo's bronze
    first = "clear.clear_gold"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        ti = next(t for t in _task_instances(celery_stack, "dbt_setup", run_id) if t["task_id"] == first)
        if ti["state"] in ("success", "failed", "upstream_failed"):
            break
        time.sleep(2)
    # the rest of the run is not needed: stop it
    airflow.api("PATCH", f"/api/v2/dags/dbt_setup/dagRuns/{run_id}", {"state": "failed"})
    assert (ti["state"], ti["queue"], ti["hostname"]) == ("success", queue, serving), ti
    assert celery_stack.warehouse.is_file()  # dbt opened the file on its worker's disk
