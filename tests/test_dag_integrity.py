"""DAG integrity: the DAG folder as Airflow's own DagBag loads it.

What a user checks before deploying: no import errors; one task group per table wired
extract >> verify >> commit; the source pool on every task that opens a source session; a broken
config file shows up as an import error naming the file, line and key while the other DAGs still
load; parsing reads YAML and nothing else, within budget; runs cover the window users expect; and
the DAG survives serialization, which the scheduler needs.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import DAG, Asset

from tributary.config import PIPELINES_DIR_ENV, PROJECT_ROOT, load_config
from tributary.errors import ConfigError
from tributary.factory import build_dag, build_dags
from tributary.timetable import WindowTimetable

ROOT = Path(__file__).resolve().parents[1]
DAG_FOLDER = ROOT / "dags"
DAG_FILE = DAG_FOLDER / "tributary_replication.py"
FIXTURES = ROOT / "tests" / "fixtures" / "configs"
POS_CONFIG = load_config(ROOT / "include" / "pipelines" / "pos.yaml")
POS_TABLES = sorted(table.group_id for table in POS_CONFIG.tables)

UTC = pendulum.UTC


def _bag(folder: Path = DAG_FILE) -> DagBag:
    """Airflow's DagBag of the replication DAG file (the dbt DAG file has tests of its own)."""
    return DagBag(dag_folder=str(folder))


@pytest.fixture(scope="module")
def repo_bag() -> Iterator[DagBag]:
    """The DagBag of the whole dags/ folder over the repository's own include/pipelines."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(PIPELINES_DIR_ENV, raising=False)
        yield _bag(DAG_FOLDER)


@pytest.fixture(scope="module")
def pos_dag(repo_bag: DagBag) -> DAG:
    return repo_bag.dags["replicate_pos"]


# --- the repository's DAGs -----------------------------------------------------------------


def test_no_import_errors(repo_bag: DagBag) -> None:
    assert repo_bag.import_errors == {}
    assert sorted(repo_bag.dag_ids) == ["dbt_setup", "dbt_transform", "extracts", "replicate_pos"]


def test_pos_dag_has_one_task_group_per_table_in_sorted_order(pos_dag: DAG) -> None:
    assert list(pos_dag.task_group.children) == POS_TABLES
    # a table with deletes: detect_by_keys (customers) detects them after its commit
    steps = {t.name: ("extract", "verify", "commit") for t in POS_CONFIG.tables}
    steps["customers"] = (*steps["customers"], "detect_deletes")
    assert pos_dag.task_ids == [f"{t}.{step}" for t in POS_TABLES for step in steps[t]]
    assert Path(pos_dag.fileloc) == DAG_FILE  # the DAG file, not the factory: the UI shows its code


@pytest.mark.parametrize("table", POS_TABLES)
def test_each_table_runs_extract_then_verify_then_commit(pos_dag: DAG, table: str) -> None:
    extract, verify, commit = (
        pos_dag.get_task(f"{table}.{step}") for step in ("extract", "verify", "commit")
    )
    assert extract.upstream_task_ids == set()
    assert extract.downstream_task_ids == {verify.task_id}
    assert verify.downstream_task_ids == {commit.task_id}
    after = {f"{table}.detect_deletes"} if table == "customers" else set()
    assert commit.downstream_task_ids == after
    # every task that opens a source session takes a slot of the source's pool
    assert (extract.pool, verify.pool) == ("source_pos", "source_pos")
    assert commit.pool != "source_pos"
    # the commit is what tells downstream DAGs (dbt) that the table has new data; with deletes
    # detected by keys, the detection after it, so dbt sees the data and its tombstones together
    announcer = pos_dag.get_task(f"{table}.detect_deletes") if table == "customers" else commit
    assert announcer.outlets == [
        Asset(
            name=f"bronze.pos.{table}",
            uri=f"{(PROJECT_ROOT / 'data' / 'lake').as_uri()}/pos/{table}",
            group="tributary-bronze",
        )
    ]
    assert extract.outlets == [] and verify.outlets == []


def test_pos_dag_schedule_and_limits(pos_dag: DAG) -> None:
    assert len(POS_TABLES) == len(POS_CONFIG.tables) > 0
    assert type(pos_dag.timetable) is WindowTimetable
    assert type(pos_dag.timetable).__module__ == "tributary.timetable"
    assert pos_dag.timetable.summary == "0 0 1 * *"  # monthly, as pos.yaml says
    # the pipeline's dates are the timetable's, not the DAG's (tributary.timetable says why)
    assert pos_dag.timetable.start.date() == POS_CONFIG.start_date
    assert (pos_dag.timetable.end.date() if pos_dag.timetable.end else None) == POS_CONFIG.end_date
    assert pos_dag.start_date is None and pos_dag.end_date is None
    assert all(t.start_date is None and t.end_date is None for t in pos_dag.tasks)
    assert pos_dag.max_active_runs == POS_CONFIG.max_active_runs
    assert {"tributary", "source:pos"} <= set(pos_dag.tags)


# --- a broken config file ------------------------------------------------------------------


def test_bad_config_is_an_import_error_and_good_dag_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(FIXTURES / "valid" / "daily.yaml", tmp_path / "clicks.yaml")
    shutil.copy(FIXTURES / "invalid" / "bad_mode.yaml", tmp_path / "pos.yaml")
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(tmp_path))

    bag = _bag()

    assert sorted(bag.dag_ids) == ["replicate_clicks"]
    assert list(bag.import_errors) == [str(DAG_FILE)]
    error = bag.import_errors[str(DAG_FILE)]
    assert "ConfigError" in error
    assert str(tmp_path / "pos.yaml") in error
    assert (
        "pos.yaml, line 11, key tables[1].mode: not one of the allowed values (did you mean 'window'?); "
        "got 'windw'; allowed: window, full"
    ) in error


def test_every_broken_file_is_named_in_the_one_import_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(FIXTURES / "valid" / "minimal.yaml", tmp_path / "minimal.yaml")
    shutil.copy(FIXTURES / "invalid" / "yaml_syntax_error.yaml", tmp_path / "a.yaml")
    shutil.copy(FIXTURES / "invalid" / "max_connections_zero.yaml", tmp_path / "b.yaml")
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(tmp_path))

    bag = _bag()

    assert sorted(bag.dag_ids) == ["replicate_minimal"]
    error = bag.import_errors[str(DAG_FILE)]
    assert "a.yaml, line 9, column 10: not valid YAML" in error
    assert "b.yaml, line 4, key source.max_connections: out of range; got 0" in error


def test_a_config_whose_dag_cannot_be_built_does_not_hide_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tributary import factory

    shutil.copy(FIXTURES / "valid" / "minimal.yaml", tmp_path / "minimal.yaml")
    shutil.copy(FIXTURES / "valid" / "daily.yaml", tmp_path / "daily.yaml")
    real_build_dag = factory.build_dag

    def build_dag_failing_for_minimal(config, path):  # type: ignore[no-untyped-def]
        if config.source.name == "minimal":
            raise ValueError("boom")
        return real_build_dag(config, path)

    monkeypatch.setattr(factory, "build_dag", build_dag_failing_for_minimal)
    dags = factory.build_dags(tmp_path)

    assert sorted(dags) == ["replicate_clicks", "tributary_config_errors"]
    with pytest.raises(ConfigError, match=r"minimal\.yaml: its DAG cannot be built: ValueError: boom"):
        dags["tributary_config_errors"].validate()


def test_an_extract_over_several_sessions_holds_a_pool_slot_for_each(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text(
        "source: {name: wide, conn_id: wide_db, max_connections: 4}\nlake: {url: data/lake}\n"
        "start_date: 2025-01-01\ntables:\n  - {name: big, mode: full, sessions: 3}\n"
        "  - {name: small, mode: window, date_column: at}\n"
    )
    dag = build_dag(load_config(path), path)
    assert dag.get_task("big.extract").pool_slots == 3
    assert dag.get_task("small.extract").pool_slots == 1
    assert dag.get_task("big.verify").pool_slots == 1, "verify counts over one session"


# --- parse time: YAML only, within budget --------------------------------------------------


def _write_big_configs(folder: Path, sources: int = 3, tables: int = 200) -> None:
    for s in range(sources):
        lines = [
            f"source: {{name: src_{s}, conn_id: src_{s}_db, max_connections: 4}}",
            f"lake: {{url: 's3://lake-{s}/bronze', conn_id: lake_aws}}",
            "start_date: 2024-01-01",
            "tables:",
        ]
        for t in range(tables):
            if t % 2:
                lines.append(f"  - {{name: table_{t:03d}, schema: dbo, mode: full, primary_key: [id]}}")
            else:
                lines.append(f"  - {{name: table_{t:03d}, mode: window, date_column: updated_at}}")
        (folder / f"src_{s}.yaml").write_text("\n".join(lines) + "\n")


def test_no_io_guard_catches_a_factory_that_looks_up_a_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_io: None
) -> None:
    """The guard is not decoration: a factory that read a connection at parse time is caught."""
    from airflow.sdk import BaseHook

    from tributary import factory

    shutil.copy(FIXTURES / "valid" / "minimal.yaml", tmp_path / "minimal.yaml")
    real_build_dag = factory.build_dag

    def build_dag_with_lookup(config, path):  # type: ignore[no-untyped-def]
        BaseHook.get_connection(config.source.conn_id)
        return real_build_dag(config, path)

    monkeypatch.setattr(factory, "build_dag", build_dag_with_lookup)
    dags = factory.build_dags(tmp_path)

    assert "replicate_minimal" not in dags
    with pytest.raises(ConfigError, match="parse time must not look up an Airflow connection"):
        dags["tributary_config_errors"].validate()


def test_build_dags_reads_yaml_only_and_stays_within_budget(tmp_path: Path, no_io: None) -> None:
    _write_big_configs(tmp_path)

    started = time.perf_counter()
    dags = build_dags(tmp_path)
    elapsed = time.perf_counter() - started

    print(f"\nbuild_dags: 3 sources x 200 tables (1,800 tasks) in {elapsed:.3f} s")  # noqa: T201 - the measurement, for whoever runs pytest -s
    assert sorted(dags) == ["replicate_src_0", "replicate_src_1", "replicate_src_2"]
    assert all(len(dag.tasks) == 600 for dag in dags.values())
    # the budget (1 s, measured by `make bench`) is held with slack here: tests share the machine
    assert elapsed < 5.0, f"parse-time budget is about 1 s; build_dags took {elapsed:.2f} s"


def test_dagbag_of_a_large_folder_loads_without_io(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_io: None
) -> None:
    _write_big_configs(tmp_path)
    monkeypatch.setenv(PIPELINES_DIR_ENV, str(tmp_path))

    bag = _bag()

    (stat,) = bag.dagbag_stats
    print(f"\nDagBag: {stat.file} parsed in {stat.duration.total_seconds():.3f} s ({stat.task_num} tasks)")  # noqa: T201 - the measurement, for whoever runs pytest -s
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["replicate_src_0", "replicate_src_1", "replicate_src_2"]
    assert stat.task_num == 1_800
    assert stat.duration.total_seconds() < 10


# --- windows: a run covers the month (or day) of its logical date ----------------------------


@pytest.fixture(scope="module")
def daily_dag() -> DAG:
    path = FIXTURES / "valid" / "daily.yaml"
    return build_dag(load_config(path), path)


@pytest.mark.parametrize(
    "run_after", [pendulum.datetime(2025, 10, 1, tz=UTC), pendulum.datetime(2025, 10, 17, 9, tz=UTC)]
)
def test_manual_run_of_monthly_dag_covers_the_month_of_its_date(
    pos_dag: DAG, run_after: pendulum.DateTime
) -> None:
    interval = pos_dag.timetable.infer_manual_data_interval(run_after=run_after)
    assert (interval.start, interval.end) == (
        pendulum.datetime(2025, 10, 1, tz=UTC),
        pendulum.datetime(2025, 11, 1, tz=UTC),
    )


@pytest.mark.parametrize(
    "run_after", [pendulum.datetime(2025, 10, 15, tz=UTC), pendulum.datetime(2025, 10, 15, 23, 59, tz=UTC)]
)
def test_manual_run_of_daily_dag_covers_the_day_of_its_date(
    daily_dag: DAG, run_after: pendulum.DateTime
) -> None:
    interval = daily_dag.timetable.infer_manual_data_interval(run_after=run_after)
    assert (interval.start, interval.end) == (
        pendulum.datetime(2025, 10, 15, tz=UTC),
        pendulum.datetime(2025, 10, 16, tz=UTC),
    )


OCT_1 = pendulum.datetime(2025, 10, 1, tz=UTC)
OCT_2 = pendulum.datetime(2025, 10, 2, tz=UTC)
SEP_1 = pendulum.datetime(2025, 9, 1, tz=UTC)
SEP_30 = pendulum.datetime(2025, 9, 30, tz=UTC)
NOV_1 = pendulum.datetime(2025, 11, 1, tz=UTC)


def _fixture_dag(name: str) -> DAG:
    path = FIXTURES / "valid" / name
    return build_dag(load_config(path), path)


def _scheduler_view(dag: DAG):
    """The DAG as the scheduler sees it: serialized to JSON and read back."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


@pytest.mark.parametrize(
    ("config", "last_interval", "window"),
    [("minimal.yaml", (SEP_1, OCT_1), (OCT_1, NOV_1)), ("daily.yaml", (SEP_30, OCT_1), (OCT_1, OCT_2))],
    ids=["monthly", "daily"],
)
def test_scheduled_and_backfill_run_for_a_logical_date_covers_its_window(
    config: str, last_interval: tuple[pendulum.DateTime, pendulum.DateTime], window: tuple
) -> None:
    from airflow.models.dag import infer_automated_data_interval
    from airflow.timetables.base import DataInterval, TimeRestriction

    dag = _scheduler_view(_fixture_dag(config))

    # a backfill of 2025-10-01 .. 2025-10-01 is one run, for that window
    (info,) = dag.iter_dagrun_infos_between(OCT_1, OCT_1)
    assert info.logical_date == OCT_1
    assert tuple(info.data_interval) == window
    assert info.run_after == window[1]  # it runs once the window has closed

    # the scheduled run after the previous window is the same one
    scheduled = dag.timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(*last_interval),
        restriction=TimeRestriction(
            earliest=pendulum.datetime(2024, 1, 1, tz=UTC), latest=None, catchup=True
        ),
    )
    assert (scheduled.logical_date, tuple(scheduled.data_interval)) == (OCT_1, window)
    assert tuple(infer_automated_data_interval(dag.timetable, OCT_1)) == window


def test_the_scheduler_runs_exactly_the_windows_from_start_date_to_before_end_date(pos_dag: DAG) -> None:
    """With catch-up, the scheduler's runs are the pipeline's windows: 2025-01 .. 2025-04 for
    start_date 2025-01-01 and end_date 2025-05-01, and then none."""
    dag = _scheduler_view(pos_dag)
    dag.catchup = True
    starts, info = [], None
    for _ in range(12):
        info = dag.next_dagrun_info(last_automated_run_info=info)
        if info is None:
            break
        starts.append(info.logical_date.date().isoformat())
        assert info.data_interval.start == info.logical_date
    assert starts == ["2025-01-01", "2025-02-01", "2025-03-01", "2025-04-01"]
    # without catch-up (the DAG's setting), today is long after end_date: nothing to schedule
    assert _scheduler_view(pos_dag).next_dagrun_info(last_automated_run_info=None) is None


# --- serialization: what the DAG processor stores and the scheduler reads ---------------------


def test_plugin_registers_the_timetable() -> None:
    from airflow import plugins_manager

    assert "tributary" in {plugin.name for plugin in plugins_manager._get_plugins()[0]}
    assert plugins_manager.get_timetables_plugins()["tributary.timetable.WindowTimetable"] is WindowTimetable


def test_pos_dag_serializes_and_reads_back_with_its_timetable(pos_dag: DAG) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(pos_dag)  # also validates against Airflow's JSON schema
    assert data["dag"]["timetable"]["__type"] == "tributary.timetable.WindowTimetable"

    restored = _scheduler_view(pos_dag)

    assert type(restored.timetable) is WindowTimetable
    assert restored.timetable.summary == pos_dag.timetable.summary
    assert (restored.timetable.start, restored.timetable.end) == (
        pos_dag.timetable.start,
        pos_dag.timetable.end,
    )
    interval = restored.timetable.infer_manual_data_interval(run_after=OCT_1)
    assert (interval.start, interval.end) == (OCT_1, NOV_1)
    assert sorted(restored.task_ids) == sorted(pos_dag.task_ids)
    assert restored.get_task("sales.extract").pool == "source_pos"
    assert restored.get_task("sales.verify").pool == "source_pos"
    assert [outlet.name for outlet in restored.get_task("sales.commit").outlets] == ["bronze.pos.sales"]


def test_without_the_plugin_the_dag_processor_could_not_store_the_dag(
    pos_dag: DAG, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the plugin exists: Airflow refuses to serialize an unregistered custom timetable."""
    from airflow import plugins_manager
    from airflow.exceptions import SerializationError

    monkeypatch.setattr(plugins_manager, "get_timetables_plugins", dict)
    with pytest.raises(
        SerializationError, match=r"'tributary\.timetable\.WindowTimetable' is not registered"
    ):
        _scheduler_view(pos_dag)


def test_parsing_the_replication_dag_file_imports_no_engine() -> None:
    """Every task process parses its DAG file before it runs: the file builds the DAGs without
    loading what only a task runs (pyarrow, DuckDB, the drivers, the readers, the features), so
    a verify or commit task does not pay for an extract's engine."""
    import os
    import subprocess
    import sys

    script = f"""
import runpy, sys
found = runpy.run_path({str(DAG_FOLDER / "tributary_replication.py")!r})
assert any(k.startswith("replicate_") for k in found), sorted(found)
engines = ("pyarrow", "duckdb", "psycopg2", "pymssql", "numpy", "tributary.readers", "tributary.replication",
           "tributary.changes", "tributary.files", "tributary.batches", "tributary.parts")
print(sorted({{m for m in sys.modules for e in engines if m == e or m.startswith(e + ".")}}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_commit_task_loads_no_engine() -> None:
    """The commit of a verified partition writes ``_SUCCESS`` from the manifest: it loads no
    pyarrow, DuckDB or driver (a commit is a third of a backfill's task instances)."""
    import os
    import subprocess
    import sys

    script = """
import sys
from tributary.operators.commit import CommitPartitionOperator
from tributary.replication import commit_table
import tributary.batches
print(sorted(m for m in sys.modules if m.split(".")[0] in ("pyarrow", "duckdb", "psycopg2", "numpy")))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
