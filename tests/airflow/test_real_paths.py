"""Every way a user starts a run replicates the window of its logical date, on a real scheduler,
DAG processor, triggerer and API server started with `make airflow` (tests/airflow/conftest.py).

The pipeline ``rp`` (monthly, 2025-01 .. 2025-06, a window table ``sales`` and a full table
``items``) is triggered once per way, each for a different month, and after each run the set of
committed partitions must have grown by exactly that run's window: a run never commits another
window's partition. ``rpbf`` is backfilled.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import sqlite3
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.support.stack import Airflow, committed

pytestmark = [pytest.mark.airflow, pytest.mark.timeout(900)]

RP, RPBF = "replicate_rp", "replicate_rpbf"


def _source_rows(source: Path, month: str) -> int:
    start = dt.date.fromisoformat(f"{month}-01")
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    with sqlite3.connect(source) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM sales WHERE sales_date >= ? AND sales_date < ?",
            (start.isoformat(), end.isoformat()),
        ).fetchone()
    return int(n)


def _check_month(stack: Airflow, lake: Path, source: str, month: str, run_id: str) -> None:
    """The sales partition of ``month``: committed, by this run, for that window, with parity."""
    from tributary.lake import MANIFEST
    from tributary.manifest import Manifest

    manifest = Manifest.from_json((lake / source / "sales" / f"month={month}" / MANIFEST).read_text())
    assert manifest.run_id == run_id
    assert manifest.window_start is not None and manifest.window_start.strftime("%Y-%m") == month
    assert manifest.rows == manifest.source_query_rows == _source_rows(stack.source, month) > 0


class Partitions:
    """The committed partitions of rp, before and after a run."""

    def __init__(self, stack: Airflow) -> None:
        self.lake = stack.lakes["rp"]
        self.before = self.now()

    def now(self) -> dict[str, set[str]]:
        return {t: set(committed(self.lake, "rp", t)) for t in ("sales", "items")}

    def added(self) -> dict[str, set[str]]:
        after = self.now()
        assert all(self.before[t] <= after[t] for t in after), "a committed partition disappeared"
        return {t: after[t] - self.before[t] for t in after}


def test_make_airflow_serves_the_project_with_its_settings(real_airflow: Airflow) -> None:
    with urllib.request.urlopen(f"{real_airflow.url}/api/v2/monitor/health", timeout=10) as response:
        health = json.load(response)
    for part in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[part]["status"] == "healthy", health
    # airflow_settings.yaml, applied: the demo connection (the container path read as this
    # project's), the pools; a second shell's CLI sees them
    conn = json.loads(real_airflow.cli("connections", "get", "pos_db", "-o", "json").stdout)[0]
    assert conn["conn_type"] == "sqlite"
    assert conn["host"] == str(Path(__file__).resolve().parents[2] / "data" / "pos.sqlite")
    assert Path(conn["host"]).exists()  # the demo source, generated because it was missing
    pools = {p["pool"]: p for p in json.loads(real_airflow.cli("pools", "list", "-o", "json").stdout)}
    assert int(pools["source_pos"]["slots"]) == 2 and int(pools["dbt_duckdb"]["slots"]) == 1
    # examples off: only this project's DAGs
    status, dags = real_airflow.api("GET", "/api/v2/dags?limit=200")
    assert status == 200
    ids = {d["dag_id"] for d in dags["dags"]}
    assert {RP, RPBF, "dbt_setup", "extracts"} <= ids
    assert not [i for i in ids if i.startswith("example_")]


def test_cli_trigger_for_a_past_date_replicates_that_month_and_no_other(real_airflow: Airflow) -> None:
    parts = Partitions(real_airflow)
    run = real_airflow.trigger(RP, "2025-04-15")
    assert run["state"] == "success"
    assert parts.added() == {"sales": {"month=2025-04"}, "items": {"snapshot_date=2025-04-01"}}
    _check_month(real_airflow, parts.lake, "rp", "2025-04", run["dag_run_id"])
    # Airflow's CLI gave the run the current month as its data interval: the log says which
    # window was replicated instead
    log = real_airflow.task_log(RP, run["dag_run_id"], "sales.extract")
    if run["data_interval_start"][:7] != "2025-04":
        assert "Tributary replicates the window of the logical date" in log


@pytest.mark.parametrize(
    ("month", "headers", "interval"),
    [
        ("2025-01", {}, None),
        # what the UI's trigger form sends: the logical date, from the UI (a Referer)
        ("2025-02", {"Referer": "http://127.0.0.1/dags/replicate_rp"}, None),
        # an explicit data interval of another window: the logical date's window wins
        ("2025-03", {}, ("2025-05-01T00:00:00Z", "2025-06-01T00:00:00Z")),
    ],
    ids=["rest", "ui-form", "rest-other-interval"],
)
def test_rest_trigger_replicates_the_month_of_the_logical_date(
    real_airflow: Airflow, month: str, headers: dict[str, str], interval: tuple[str, str] | None
) -> None:
    parts = Partitions(real_airflow)
    body = {"logical_date": f"{month}-10T06:00:00Z", "conf": {}, "note": f"test {month}"}
    if interval:
        body["data_interval_start"], body["data_interval_end"] = interval
    status, created = real_airflow.api("POST", f"/api/v2/dags/{RP}/dagRuns", body, headers)
    assert status == 200, created
    run = real_airflow.wait_run(RP, created["dag_run_id"])
    assert run["state"] == "success"
    assert parts.added() == {"sales": {f"month={month}"}, "items": {f"snapshot_date={month}-01"}}
    _check_month(real_airflow, parts.lake, "rp", month, run["dag_run_id"])


def test_airflow_dags_test_replicates_the_month_of_its_date(real_airflow: Airflow) -> None:
    parts = Partitions(real_airflow)
    # paused, so that the running scheduler leaves this run's tasks to `dags test`
    real_airflow.cli("dags", "pause", RP)
    try:
        out = real_airflow.cli("dags", "test", RP, "2025-06-20")
    finally:
        real_airflow.cli("dags", "unpause", RP)
    added = parts.added()
    assert added == {"sales": {"month=2025-06"}, "items": {"snapshot_date=2025-06-01"}}, out.stdout[-3000:]


def test_a_date_outside_the_pipeline_fails_and_says_why(real_airflow: Airflow) -> None:
    parts = Partitions(real_airflow)
    run = real_airflow.trigger(RP, "2025-09-01")
    assert run["state"] == "failed"
    assert parts.added() == {"sales": set(), "items": set()}
    log = real_airflow.task_log(RP, run["dag_run_id"], "sales.extract")
    assert "outside the windows of its pipeline config" in log
    assert "airflow dags trigger replicate_rp -l 2025-01-01" in log


def test_two_runs_of_one_window_at_once_leave_it_committed_once_and_exact(real_airflow: Airflow) -> None:
    """Two runs of May (logical dates 2025-05-05 and 2025-05-20) triggered together: whatever
    their interleaving, the partition ends committed by a run that succeeded, with exactly the
    files of its batch and the source's rows; a run that lost says why."""
    from tributary.lake import MANIFEST, SUCCESS
    from tributary.manifest import Manifest

    created = []
    for day in ("2025-05-05", "2025-05-20"):
        status, run = real_airflow.api(
            "POST", f"/api/v2/dags/{RP}/dagRuns", {"logical_date": f"{day}T00:00:00Z"}
        )
        assert status == 200, run
        created.append(run["dag_run_id"])
    runs = {run_id: real_airflow.wait_run(RP, run_id) for run_id in created}
    assert any(run["state"] == "success" for run in runs.values()), runs
    for table, name in (("sales", "month=2025-05"), ("items", "snapshot_date=2025-05-01")):
        part = real_airflow.lakes["rp"] / "rp" / table / name
        manifest = Manifest.from_json((part / MANIFEST).read_text())
        # committed: _SUCCESS names the manifest's batch, verified, by one of the two runs
        assert json.loads((part / SUCCESS).read_text())["batch_id"] == manifest.batch_id
        assert manifest.run_id in runs and manifest.rows == manifest.source_query_rows
        data = sorted(p.name for p in part.iterdir() if not p.name.startswith("_"))
        assert data == sorted(f.name for f in manifest.files), "exactly the files of its batch"
    sales = Manifest.from_json(
        (real_airflow.lakes["rp"] / "rp" / "sales" / "month=2025-05" / MANIFEST).read_text()
    )
    assert sales.rows == _source_rows(real_airflow.source, "2025-05")
    for run_id, run in runs.items():
        if run["state"] == "success":
            continue
        status, tis = real_airflow.api(
            "GET", f"/api/v2/dags/{RP}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        )
        failed = [t["task_id"] for t in tis["task_instances"] if t["state"] == "failed"]
        assert failed, tis
        for task_id in failed:  # each fails with the lake's own error, naming the partition
            log = real_airflow.task_log(RP, run_id, task_id)
            assert re.search(r'"exc_type": "(IncompletePartition|StrayFiles|ConcurrentRun)Error"', log), log[
                -3000:
            ]
            assert "=2025-05" in log


def test_a_backfill_of_three_windows_commits_each(real_airflow: Airflow) -> None:
    lake = real_airflow.lakes["rpbf"]
    real_airflow.cli(
        "backfill", "create", "--dag-id", RPBF, "--from-date", "2025-01-01", "--to-date", "2025-03-01"
    )
    deadline = dt.datetime.now() + dt.timedelta(seconds=600)
    while dt.datetime.now() < deadline:
        runs = real_airflow.runs(RPBF)
        if len(runs) == 3 and all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    assert [(r["logical_date"][:10], r["run_type"], r["state"]) for r in runs] == [
        ("2025-01-01", "backfill", "success"),
        ("2025-02-01", "backfill", "success"),
        ("2025-03-01", "backfill", "success"),
    ]
    assert committed(lake, "rpbf", "sales") == ["month=2025-01", "month=2025-02", "month=2025-03"]
    for run in runs:
        _check_month(real_airflow, lake, "rpbf", run["logical_date"][:7], run["dag_run_id"])


def test_ctrl_c_stops_every_process_of_make_airflow(real_airflow: Airflow) -> None:
    """Last in this module: stops the shared Airflow."""
    import os
    import re
    import subprocess

    (line,) = [ln for ln in real_airflow.output if "components:" in ln]
    pids = [int(p) for p in re.findall(r"pid (\d+)", line)]
    assert len(pids) == 4, line
    code = real_airflow.interrupt()
    # the script stops everything and exits 0; make itself got the SIGINT too, and dies of it
    # after its child has exited, as make does on Ctrl-C
    assert code in (0, -signal.SIGINT), "\n".join(real_airflow.output[-40:])
    assert real_airflow.output[-2:] == ["== stopping Airflow", "== stopped"], real_airflow.output[-20:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # nor the metadata database, nor any task process of that home
    left = subprocess.run(["pgrep", "-af", str(real_airflow.home)], capture_output=True, text=True).stdout
    assert left == "", f"processes left behind:\n{left}"
