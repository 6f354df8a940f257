"""tributary_current (dbt/macros/changes.sql) turns bronze change rows, data rows and tombstones into
current state: hand-built bronze lakes in every shape a capture writes, silver models over them in a
copy of the dbt project, dbt run, and silver compared with the expected state exactly."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.audit import with_audit_schema
from tributary.changes.shape import (
    CHANGE_TRACKING_POSITION,
    POSTGRES_POSITION,
    change_schema,
    tombstone_schema,
)
from tributary.lake import SUCCESS
from tributary.transform.project import DBT_PROJECT_DIR

TABLE = pa.schema([("id", pa.int64()), ("name", pa.string())])
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)

# (id, name, _op, _lsn, _seq) per batch; rows are written out of position order on purpose
POSTGRES_CHANGES = {
    "b1": [
        (1, "a", "insert", 100, 0),
        (2, "b", "insert", 100, 1),
        (3, "c", "insert", 100, 2),
        (1, "a2", "update", 200, 0),
        (2, None, "delete", 200, 1),
        (4, "d2", "update", 300, 1),  # two changes of key 4 in one transaction: _seq orders them
        (4, "d", "insert", 300, 0),
    ],
    "b2": [
        (2, "b2", "insert", 400, 0),  # 2 comes back after its delete
        (3, None, "delete", 400, 1),  # 3 is deleted and re-inserted in one transaction
        (3, "c2", "insert", 400, 2),
        (5, "e", "insert", 500, 0),
        (1, "a", "insert", 100, 0),  # a re-read of changes applied already: older, ignored
    ],
}
POSTGRES_CURRENT = [(1, "a2", "b1"), (2, "b2", "b2"), (3, "c2", "b2"), (4, "d2", "b1"), (5, "e", "b2")]

TRUNCATED_CHANGES = {
    "b1": [(1, "a", "insert", 100, 0), (2, "b", "insert", 100, 1), (3, "c", "insert", 150, 0)],
    "b2": [
        (None, None, "truncate", 200, 0),
        (6, "f", "insert", 200, 1),  # after the truncate, in its transaction
        (1, "a3", "insert", 300, 0),
    ],
    "b3": [(2, "b", "insert", 100, 1)],  # ingested last, but before the truncate: gone
}
TRUNCATED_CURRENT = [(1, "a3", "b2"), (6, "f", "b2")]

# (id, name, _op, _change_version): SQL Server change tracking
TRACKED_CHANGES = {
    "b1": [(1, "a", "insert", 1), (2, "b", "insert", 2), (1, "a2", "update", 3)],
    "b2": [(2, None, "delete", 4), (3, "c", "insert", 5)],
}
TRACKED_CURRENT = [(1, "a2", "b1"), (3, "c", "b2")]

# full snapshots and the tombstones of deletes 'detect_by_keys': (partition, batch, rows)
SNAPSHOTS = [
    ("snapshot_date=2025-01-01", "s1", [(1, "a"), (2, "b"), (3, "c")]),
    ("snapshot_date=2025-02-01", "s2", [(1, "a"), (3, "c2"), (4, "d")]),
    ("snapshot_date=2025-03-01", "s3", [(1, "a"), (2, "b3"), (3, "c2")]),
]
TOMBSTONES = [("deletes=s2", "s2", [2]), ("deletes=s3", "s3", [4])]
SNAPSHOTS_CURRENT = [(1, "a", "s3"), (2, "b3", "s3"), (3, "c2", "s3")]

# a window table: data rows only, no _op anywhere
WINDOWS = [("month=2025-01", "w1", [(1, "a"), (2, "b")]), ("month=2025-02", "w2", [(2, "b2"), (3, "c")])]
WINDOWS_CURRENT = [(1, "a", "w1"), (2, "b2", "w2"), (3, "c", "w2")]

MODELS = {
    "lab_postgres": "select * from {{ tributary_current(bronze('lab', 'postgres'), ['id'], "
    "order_by=['_lsn desc', '_seq desc']) }}",
    "lab_truncated": "with bronze as (select * from {{ bronze('lab', 'truncated') }})\n"
    "select * from {{ tributary_current('bronze', ['id'], order_by=['_lsn desc', '_seq desc']) }}",
    "lab_tracked": "select * from {{ tributary_current(bronze('lab', 'tracked'), ['id'], "
    "order_by='_change_version desc') }}",
    "lab_snapshots": "with bronze as (select * from {{ bronze('lab', 'snapshots') }})\n"
    "select * from {{ tributary_current('bronze', ['id']) }}",
    "lab_latest_snapshot": "select * from {{ bronze('lab', 'snapshots', latest_only=true) }}",
    "lab_windows": "select * from {{ tributary_current(bronze('lab', 'windows'), 'id') }}",
    # the latest row per key without the deletes applied: key 4's tombstone is its latest row
    "lab_stale": "select * from "
    "{{ dedup_latest(tributary_change_rows(bronze('lab', 'snapshots')), ['id']) }}",
}
SOURCES = """version: 2
sources:
  - name: lab
    tables: [{name: postgres}, {name: truncated}, {name: tracked}, {name: snapshots}, {name: windows}]
models:
  - name: lab_postgres
    data_tests:
      - no_deleted_keys:
          arguments:
            {source_name: lab, table_name: postgres, primary_key: [id], order_by: [_lsn desc, _seq desc]}
  - name: lab_tracked
    data_tests:
      - no_deleted_keys:
          arguments: {source_name: lab, table_name: tracked, primary_key: id, order_by: _change_version desc}
  - name: lab_snapshots
    data_tests:
      - no_deleted_keys:
          arguments: {source_name: lab, table_name: snapshots, primary_key: [id]}
  - name: lab_windows
    data_tests:
      - no_deleted_keys:
          arguments: {source_name: lab, table_name: windows, primary_key: [id]}
  - name: lab_stale
    data_tests:
      - no_deleted_keys:
          arguments: {source_name: lab, table_name: snapshots, primary_key: [id]}
"""


def commit(folder: Path, schema: pa.Schema, rows: list[dict[str, Any]], batch_id: str, hour: float) -> None:
    """One committed partition: a part of ``rows`` with the audit columns, then ``_SUCCESS``."""
    audit = {"_batch_id": batch_id, "_ingestion_time": T0 + dt.timedelta(hours=hour), "_source_system": "lab"}
    folder.mkdir(parents=True)
    part = f"part-{batch_id}-00000.parquet"
    table = pa.Table.from_pylist([row | audit for row in rows], schema=with_audit_schema(schema))
    pq.write_table(table, folder / part)
    (folder / SUCCESS).write_text(json.dumps({"batch_id": batch_id, "rows": len(rows), "parts": [part]}))


def commit_changes(table_dir: Path, changes: dict[str, list[tuple]], position: tuple[pa.Field, ...]) -> None:
    schema = change_schema(TABLE, position)
    names = ["id", "name", "_op", *(field.name for field in position)]
    for hour, (batch_id, rows) in enumerate(changes.items()):
        records = [dict(zip(names, row, strict=True)) | {"_commit_time": T0} for row in rows]
        commit(table_dir / f"batch={batch_id}", schema, records, batch_id, hour)


def build_lab_lake(lake: Path) -> None:
    commit_changes(lake / "lab" / "postgres", POSTGRES_CHANGES, POSTGRES_POSITION)
    commit_changes(lake / "lab" / "truncated", TRUNCATED_CHANGES, POSTGRES_POSITION)
    commit_changes(lake / "lab" / "tracked", TRACKED_CHANGES, CHANGE_TRACKING_POSITION)
    for hour, (partition, batch_id, rows) in enumerate(SNAPSHOTS):
        records = [{"id": key, "name": name} for key, name in rows]
        commit(lake / "lab" / "snapshots" / partition, TABLE, records, batch_id, hour)
    for partition, batch_id, keys in TOMBSTONES:
        hour = int(batch_id[1:]) - 0.5  # the run's clock: after its snapshot, before the next run
        records = [{"id": key, "_op": "delete", "_commit_time": T0} for key in keys]
        schema = tombstone_schema(TABLE, ["id"])
        commit(lake / "lab" / "snapshots" / partition, schema, records, batch_id, hour)
    for hour, (partition, batch_id, rows) in enumerate(WINDOWS):
        records = [{"id": key, "name": name} for key, name in rows]
        commit(lake / "lab" / "windows" / partition, TABLE, records, batch_id, hour)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab lake, the dbt project with the lab models beside its own, and the models run."""
    from dbt.cli.main import dbtRunner

    root = tmp_path_factory.mktemp("changes")
    build_lab_lake(root / "lake")
    project = root / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = project / "models" / "silver" / "lab"
    models.mkdir()
    (models / "_lab__sources.yml").write_text(SOURCES)
    for name, sql in MODELS.items():
        (models / f"{name}.sql").write_text(sql + "\n")
    warehouse = root / "warehouse.duckdb"
    (root / "profiles.yml").write_text(
        f"tributary:\n  target: warehouse\n  outputs:\n    warehouse:\n"
        f"      type: duckdb\n      path: '{warehouse}'\n      threads: 1\n"
    )
    args = [
        "--select",
        "path:models/silver/lab",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(root),
        "--vars",
        json.dumps({"tributary_lakes": {"lab": (root / "lake").as_uri()}}),
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        result = dbtRunner().invoke(["run", *args])
        assert result.success, result.exception or [r.message for r in result.result]
        tested = dbtRunner().invoke(["test", *args])
    assert tested.exception is None, tested.exception
    (root / "test_results.json").write_text(
        json.dumps({r.node.attached_node: str(r.status) for r in tested.result})
    )
    return warehouse


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as con:
        return con.execute(sql).fetchall()


def columns(warehouse: Path, model: str) -> list[str]:
    with duckdb.connect(str(warehouse)) as con:
        return [d[0] for d in con.execute(f"select * from {model} limit 0").description]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("lab_postgres", POSTGRES_CURRENT),
        ("lab_truncated", TRUNCATED_CURRENT),
        ("lab_tracked", TRACKED_CURRENT),
        ("lab_snapshots", SNAPSHOTS_CURRENT),
        ("lab_windows", WINDOWS_CURRENT),
    ],
)
def test_silver_is_the_current_state(warehouse: Path, model: str, expected: list[tuple]) -> None:
    assert rows(warehouse, f"select id, name, _batch_id from silver.{model} order by id") == expected


@pytest.mark.parametrize(
    ("model", "partition_key"),
    [
        ("lab_postgres", "batch"),
        ("lab_tracked", "batch"),
        ("lab_snapshots", "snapshot_date"),
        ("lab_windows", "month"),
    ],
)
def test_the_change_columns_are_left_out(warehouse: Path, model: str, partition_key: str) -> None:
    audit = ["_batch_id", "_ingestion_time", "_source_system", "_source_file", "_file_modified_time"]
    assert columns(warehouse, f"silver.{model}") == ["id", "name", *audit, partition_key]


def test_latest_only_reads_the_newest_snapshot_not_the_tombstones(warehouse: Path) -> None:
    latest = rows(warehouse, "select id, name, _batch_id from silver.lab_latest_snapshot order by id")
    assert latest == [(1, "a", "s3"), (2, "b3", "s3"), (3, "c2", "s3")]
    assert "deletes" not in columns(warehouse, "silver.lab_latest_snapshot")


def test_no_deleted_keys_fails_on_a_silver_that_kept_a_deleted_key(warehouse: Path) -> None:
    results = json.loads((warehouse.parent / "test_results.json").read_text())
    by_model = {node.rsplit(".", 1)[-1]: status for node, status in results.items()}
    assert by_model == {
        "lab_postgres": "pass",
        "lab_tracked": "pass",
        "lab_snapshots": "pass",
        "lab_windows": "pass",
        "lab_stale": "fail",
    }
