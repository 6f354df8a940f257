"""``deletes: detect_by_keys`` on SQLite and the throwaway PostgreSQL cluster.

Each run calls the core functions the operators call (extract, verify, commit, then
detect_deletes), and bronze is read as dbt reads it: every committed partition's named parts,
by column name, the latest row per key, tombstoned keys left out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from tributary.batches import RunInfo, committed_partitions, last_committed
from tributary.changes.deletes import DeleteGuardError, detect_deletes
from tributary.changes.shape import DELETES_PARTITION
from tributary.config import Schedule, TableConfig
from tributary.lake import SUCCESS, Partition, list_partitions
from tributary.readers.base import SourceReader
from tributary.readers.postgres import PostgresReader
from tributary.readers.sqlite import SqliteReader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.windows import Window

UTC = dt.UTC
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))
FEBRUARY = Window(dt.datetime(2025, 2, 1, tzinfo=UTC), dt.datetime(2025, 3, 1, tzinfo=UTC))
SOURCE = "pos"


# --- the lake as dbt reads it -------------------------------------------------------------------


def bronze_keys(lake: Path, table: str, key: list[str]) -> set[tuple[Any, ...]]:
    """The table's current keys as silver sees them: the parts every ``_SUCCESS`` names, read by
    name, the latest row per key (newest ``_ingestion_time``, then ``_batch_id``), deletes out."""
    files = []
    for partition in committed_partitions(lake, SOURCE, table, tombstones=True):
        marker = json.loads((partition.path / SUCCESS).read_text(encoding="utf-8"))
        files += [str(partition.path / name) for name in marker["parts"]]
    if not files:
        return set()
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in key)
    ops = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    with duckdb.connect() as con:
        # no hive_partitioning: DuckDB refuses files of different partition keys (month=, deletes=)
        # in one hive-partitioned read, so a reader of tombstones reads them by name only
        rel = con.sql(f"select * from read_parquet([{ops}], union_by_name = true, hive_partitioning = false)")
        has_op = "_op" in rel.columns
        op = "_op" if has_op else "null"
        rows = con.sql(
            f"select {cols} from (select {cols}, {op} as op from rel qualify row_number() over "
            f"(partition by {cols} order by _ingestion_time desc, _batch_id desc) = 1) "
            "where op is distinct from 'delete'"
        ).fetchall()
    return {tuple(r) for r in rows}


def tombstone_partitions(lake: Path, table: str) -> list[str]:
    return [p for p in list_partitions(lake, SOURCE, table) if p.startswith(f"{DELETES_PARTITION}=")]


# --- SQLite -------------------------------------------------------------------------------------


ORDERS = "orders"


def _sqlite(path: Path, statements: str) -> None:
    with sqlite3.connect(path) as con:
        con.executescript(statements)


@pytest.fixture
def pos(tmp_path: Path) -> Path:
    path = tmp_path / "pos.sqlite"
    _sqlite(
        path,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, placed TEXT NOT NULL, amount REAL, "
        "modified TIMESTAMP);"
        + "".join(
            f"INSERT INTO orders VALUES ({i}, '2025-01-{i % 28 + 1:02d}', {i * 1.5}, "
            f"'2025-01-{i % 28 + 1:02d} 10:00:00');"
            for i in range(1, 21)
        ),
    )
    return path


def _table(mode: str, **overrides: Any) -> TableConfig:
    options: dict[str, Any] = {
        "name": ORDERS,
        "mode": mode,
        "primary_key": ["id"],
        "deletes": "detect_by_keys",
    }
    if mode == "window":
        options["date_column"] = "placed"
    else:
        options.update(watermark_column="modified", safety_lag="0s")
    return TableConfig.model_validate({**options, **overrides})


def replicate(
    reader: SourceReader, table: TableConfig, lake: Any, start: dt.datetime, window: Window = JANUARY
) -> None:
    """One run of the table's group before detect_deletes: extract, verify, commit."""
    place = {"source": SOURCE, "schedule": Schedule.monthly, "window": window, "lake_root": lake}
    manifest = extract_table(reader, table, run=RunInfo(run_start=start), **place)
    verify_table(reader, table, batch_id=manifest.batch_id, **place)
    commit_table(table, batch_id=manifest.batch_id, **place)


def run_once(
    open_reader: Callable[[], SourceReader],
    table: TableConfig,
    lake: Any,
    start: dt.datetime,
    window: Window = JANUARY,
) -> Any:
    """One run of the table's group: extract, verify, commit, detect_deletes."""
    reader = open_reader()
    try:
        replicate(reader, table, lake, start, window)
        return detect_deletes(reader, table, source=SOURCE, lake_root=lake, run=RunInfo(run_start=start))
    finally:
        reader.release()


def _source_keys(path: Path) -> set[tuple[Any, ...]]:
    with sqlite3.connect(path) as con:
        return {tuple(r) for r in con.execute("SELECT id FROM orders")}


def _sqlite_reader(path: Path) -> Callable[[], SourceReader]:
    return lambda: SqliteReader(conn_id="pos", connect=lambda: sqlite3.connect(path))


@pytest.mark.parametrize("mode", ["window", "watermark"])
def test_deleted_rows_become_tombstones_and_leave_bronze(pos: Path, tmp_path: Path, mode: str) -> None:
    lake = tmp_path / "lake"
    table = _table(mode)
    open_reader = _sqlite_reader(pos)
    t0 = dt.datetime(2025, 2, 1, 1, tzinfo=UTC)
    assert run_once(open_reader, table, lake, t0) is None  # nothing deleted yet
    assert bronze_keys(lake, ORDERS, ["id"]) == _source_keys(pos)

    # January's rows are deleted after its window ran: the February run finds them gone (a re-run
    # of January would rewrite its partition without them)
    _sqlite(pos, "DELETE FROM orders WHERE id IN (3, 7, 11)")
    manifest = run_once(open_reader, table, lake, t0 + dt.timedelta(hours=1), FEBRUARY)
    assert manifest is not None
    assert (manifest.lake_keys, manifest.deleted_keys, manifest.rows) == (20, 3, 3)
    assert manifest.mode == mode and manifest.partition.startswith("deletes=")
    partition = Partition(lake, SOURCE, ORDERS, DELETES_PARTITION, manifest.batch_id)
    rows = duckdb.sql(
        f"select id, _op, _commit_time from '{partition.path}/*.parquet' order by id"
    ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(3, "delete"), (7, "delete"), (11, "delete")]
    assert rows[0][2] == t0 + dt.timedelta(hours=1)
    assert bronze_keys(lake, ORDERS, ["id"]) == _source_keys(pos)

    # a second detection writes no duplicate tombstones; the data batches still plan from data
    assert detect_deletes(open_reader(), table, source=SOURCE, lake_root=lake) is None
    assert len(tombstone_partitions(lake, ORDERS)) == 1
    newest = last_committed(lake, SOURCE, ORDERS)
    assert newest is not None and newest.partition != manifest.partition

    # a key inserted again comes back with the next run that reads it
    _sqlite(pos, "INSERT INTO orders VALUES (7, '2025-02-01', 1.0, '2025-01-31 10:00:00')")
    assert run_once(open_reader, table, lake, t0 + dt.timedelta(hours=2), FEBRUARY) is None
    assert (7,) in bronze_keys(lake, ORDERS, ["id"])
    assert bronze_keys(lake, ORDERS, ["id"]) == _source_keys(pos)


def test_the_guard_fails_and_writes_nothing(pos: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    table = _table("window")
    open_reader = _sqlite_reader(pos)
    run_once(open_reader, table, lake, dt.datetime(2025, 2, 1, tzinfo=UTC))
    _sqlite(pos, "DELETE FROM orders WHERE id <= 11")  # 11 of 20: 55%
    with pytest.raises(DeleteGuardError, match=r"11 of the 20 keys .*55\.0%.*max_delete_fraction 0\.5"):
        detect_deletes(open_reader(), table, source=SOURCE, lake_root=lake)
    assert tombstone_partitions(lake, ORDERS) == []
    # the setting lets the real deletes through
    loose = _table("window", max_delete_fraction=0.6)
    manifest = detect_deletes(open_reader(), loose, source=SOURCE, lake_root=lake)
    assert manifest is not None and manifest.deleted_keys == 11


def test_a_crash_before_success_is_ignored_and_detected_again(
    pos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    table = _table("window")
    open_reader = _sqlite_reader(pos)
    run_once(open_reader, table, lake, dt.datetime(2025, 2, 1, tzinfo=UTC))
    _sqlite(pos, "DELETE FROM orders WHERE id = 5")

    def crash(self: Partition, manifest: Any) -> None:
        raise KeyboardInterrupt("killed before _SUCCESS")

    with monkeypatch.context() as patched:
        patched.setattr(Partition, "commit", crash)
        with pytest.raises(KeyboardInterrupt):
            detect_deletes(open_reader(), table, source=SOURCE, lake_root=lake)
    assert len(tombstone_partitions(lake, ORDERS)) == 1  # written, not committed: ignored
    assert (5,) in bronze_keys(lake, ORDERS, ["id"])
    manifest = detect_deletes(open_reader(), table, source=SOURCE, lake_root=lake)
    assert manifest is not None and manifest.deleted_keys == 1
    assert bronze_keys(lake, ORDERS, ["id"]) == _source_keys(pos)


def test_a_composite_key_of_odd_names(tmp_path: Path) -> None:
    path = tmp_path / "odd.sqlite"
    name = 'Ördér "lines"'
    quoted = '"Ördér ""lines"""'
    key = ["order id", "line#'"]
    rows = "".join(
        f"INSERT INTO {quoted} VALUES ({o}, 'l''{n}', '2025-01-0{n + 1}');"
        for o in range(1, 5)
        for n in range(3)
    )
    _sqlite(
        path,
        f'CREATE TABLE {quoted} ("order id" INTEGER NOT NULL, "line#\'" TEXT NOT NULL, "när" DATE, '
        f'PRIMARY KEY ("order id", "line#\'"));{rows}',
    )
    table = TableConfig.model_validate(
        {
            "name": name,
            "mode": "window",
            "date_column": "när",
            "primary_key": key,
            "deletes": "detect_by_keys",
        }
    )
    lake = tmp_path / "lake"
    open_reader = _sqlite_reader(path)
    assert run_once(open_reader, table, lake, dt.datetime(2025, 2, 1, tzinfo=UTC)) is None
    _sqlite(path, f"DELETE FROM {quoted} WHERE \"order id\" = 2 AND \"line#'\" = 'l''1'")
    found = run_once(open_reader, table, lake, dt.datetime(2025, 3, 1, tzinfo=UTC), FEBRUARY)
    assert found is not None and found.deleted_keys == 1
    current = bronze_keys(lake, name, key)
    assert (2, "l'1") not in current and len(current) == 11


# --- PostgreSQL ---------------------------------------------------------------------------------


PG_TABLE = 'Kundé "Orders"'
PG_QUOTED = '"Kundé ""Orders"""'
PG_KEY = ["region id", "nümber"]


@pytest.fixture
def pg_db(pg_cluster: Any, request: pytest.FixtureRequest) -> tuple[Any, str]:
    name = f"del_{request.node.name[-40:]}".lower().replace("[", "_").replace("]", "")
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}"')
    pg_cluster.psql(f'CREATE DATABASE "{name}"')
    pg_cluster.psql(
        f'CREATE TABLE {PG_QUOTED} ("region id" text, "nümber" bigint, placed date NOT NULL, '
        'amount numeric(12, 2), modified timestamptz NOT NULL, PRIMARY KEY ("region id", "nümber"));'
        f"INSERT INTO {PG_QUOTED} SELECT 'r''' || (g % 3), g, date '2025-01-01' + (g % 28), g * 1.5, "
        "timestamptz '2025-01-10 08:00+00' + g * interval '1 minute' FROM generate_series(1, 40) g;",
        database=name,
    )
    return pg_cluster, name


def _pg_reader(db: tuple[Any, str]) -> Callable[[], SourceReader]:
    cluster, name = db
    dsn = f"postgresql://{cluster.user}@{cluster.host}:{cluster.port}/{name}"
    libpq = {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": name}
    return lambda: PostgresReader(conn_id="crm", connect=lambda: psycopg2.connect(dsn), libpq=libpq)


def _pg_keys(db: tuple[Any, str]) -> set[tuple[Any, ...]]:
    cluster, name = db
    out = cluster.psql(f'SELECT "region id" || chr(9) || "nümber" FROM {PG_QUOTED}', database=name)
    return {(region, int(number)) for region, number in (line.split("\t") for line in out.splitlines())}


def _pg_table(mode: str, **overrides: Any) -> TableConfig:
    options: dict[str, Any] = {
        "name": PG_TABLE,
        "schema": "public",
        "mode": mode,
        "primary_key": PG_KEY,
        "deletes": "detect_by_keys",
    }
    if mode == "window":
        options["date_column"] = "placed"
    else:
        options.update(watermark_column="modified", safety_lag="0s")
    return TableConfig.model_validate({**options, **overrides})


@pytest.mark.parametrize("mode", ["window", "watermark"])
def test_postgres_deletes_reach_bronze(pg_db: tuple[Any, str], tmp_path: Path, mode: str) -> None:
    cluster, name = pg_db
    lake = tmp_path / "lake"
    table = _pg_table(mode)
    open_reader = _pg_reader(pg_db)
    t0 = dt.datetime(2025, 2, 1, 1, tzinfo=UTC)
    assert run_once(open_reader, table, lake, t0) is None
    assert bronze_keys(lake, PG_TABLE, PG_KEY) == _pg_keys(pg_db) and len(_pg_keys(pg_db)) == 40

    cluster.psql(f'DELETE FROM {PG_QUOTED} WHERE "nümber" IN (4, 5, 6, 30)', database=name)
    manifest = run_once(open_reader, table, lake, t0 + dt.timedelta(hours=1), FEBRUARY)
    assert manifest is not None and (manifest.lake_keys, manifest.deleted_keys) == (40, 4)
    assert bronze_keys(lake, PG_TABLE, PG_KEY) == _pg_keys(pg_db)
    assert detect_deletes(open_reader(), table, source=SOURCE, lake_root=lake) is None

    # a deleted key comes back; the guard counts only the keys that are current
    cluster.psql(
        f"INSERT INTO {PG_QUOTED} VALUES ('r''1', 4, date '2025-02-03', 1, "
        "timestamptz '2025-01-31 09:00+00')",
        database=name,
    )
    assert run_once(open_reader, table, lake, t0 + dt.timedelta(hours=2), FEBRUARY) is None
    assert bronze_keys(lake, PG_TABLE, PG_KEY) == _pg_keys(pg_db)
    cluster.psql(f'DELETE FROM {PG_QUOTED} WHERE "nümber" > 15', database=name)  # 24 of 37
    with pytest.raises(DeleteGuardError, match=r"24 of the 37 keys .* more than max_delete_fraction 0\.5"):
        run_once(open_reader, table, lake, t0 + dt.timedelta(hours=3), FEBRUARY)
    assert len(tombstone_partitions(lake, PG_TABLE)) == 1


def test_postgres_key_read_is_a_plain_select_of_the_key(pg_db: tuple[Any, str]) -> None:
    """The key read has no ORDER BY and no filter, and reads the key columns only, typed as the
    table's type map types them."""
    from tributary.dialects import POSTGRES
    from tributary.sql import render

    sql = render(POSTGRES, "select_keys", schema="public", table=PG_TABLE, columns=PG_KEY)
    assert sql == 'SELECT "region id", "nümber"\nFROM "public"."Kundé ""Orders"""'
    reader = _pg_reader(pg_db)()
    try:
        table = _pg_table("window")
        columns = reader.key_columns(table)
        batches = list(reader.keys(table, columns))
    finally:
        reader.release()
    assert [f"{f.name}:{f.type}" for f in batches[0].schema] == ["region id:string", "nümber:int64"]
    assert sum(b.num_rows for b in batches) == 40


# --- config -------------------------------------------------------------------------------------


def test_detect_by_keys_needs_a_primary_key() -> None:
    from tributary.errors import ConfigError

    # a full table takes it too: for models that read every snapshot (the demo's customers), the
    # tombstones say which keys are gone; a model of the newest snapshot needs none
    full = {"name": "t", "mode": "full", "primary_key": ["id"], "deletes": "detect_by_keys"}
    assert TableConfig.model_validate(full).deletes.value == "detect_by_keys"
    with pytest.raises((ConfigError, ValueError), match=r"deletes 'detect_by_keys' .* needs primary_key"):
        TableConfig.model_validate(
            {"name": "t", "mode": "window", "date_column": "d", "deletes": "detect_by_keys"}
        )


# --- an object store ----------------------------------------------------------------------------


def test_deletes_in_an_s3_lake(pos: Path, s3_lake: Any) -> None:
    """The lake's keys come through the lake root (only the key columns' pages are fetched)."""
    from tests.support.lakes import FAST
    from tributary.hooks.lake import lake_root

    root = lake_root(s3_lake.url, s3_lake.conn_id, policy=FAST)
    table = _table("window")
    open_reader = _sqlite_reader(pos)
    t0 = dt.datetime(2025, 2, 1, tzinfo=UTC)
    assert run_once(open_reader, table, root, t0) is None
    _sqlite(pos, "DELETE FROM orders WHERE id IN (1, 2)")
    manifest = run_once(open_reader, table, root, t0, FEBRUARY)
    assert manifest is not None and (manifest.lake_keys, manifest.deleted_keys) == (20, 2)
    where = f"{SOURCE}/{ORDERS}/{manifest.partition}"
    assert set(s3_lake.objects(where)) == {f"{where}/{f.name}" for f in manifest.files} | {
        f"{where}/_manifest.json",
        f"{where}/{SUCCESS}",
    }
    again = detect_deletes(open_reader(), table, source=SOURCE, lake_root=root)
    assert again is None


# --- runs plan from data partitions only -----------------------------------------------------------


def test_plans_and_fenced_commits_skip_tombstone_partitions(tmp_path: Path) -> None:
    """A ``deletes=`` partition sorts after ``batch=`` and ``day=``: were it a batch, a watermark
    run would plan from it (no high watermark: a full reload) and the fence would stop early."""
    from tests.support.lakes import write_partition
    from tributary.batches import committed_since

    lake = tmp_path / "lake"
    write_partition(lake, tmp_path / "s1", table=ORDERS, key="batch", value="20250101T000000000000Zaaaa")
    write_partition(
        lake, tmp_path / "s2", table=ORDERS, key=DELETES_PARTITION, value="20250102T000000000000Zbbbb"
    )
    assert [p.name for p in committed_partitions(lake, SOURCE, ORDERS)] == [
        "batch=20250101T000000000000Zaaaa"
    ]
    assert [p.name for p in committed_partitions(lake, SOURCE, ORDERS, tombstones=True)] == [
        "deletes=20250102T000000000000Zbbbb",
        "batch=20250101T000000000000Zaaaa",
    ]
    newest = last_committed(lake, SOURCE, ORDERS)
    assert newest is not None and newest.partition.startswith("batch=")
    assert [m.partition for m in committed_since(lake, SOURCE, ORDERS, "20241231")] == [newest.partition]


def test_the_key_must_be_among_the_columns_copied(pos: Path, tmp_path: Path) -> None:
    from tributary.errors import CatalogError

    table = _table("window", columns=["placed", "amount"])
    with pytest.raises(
        CatalogError, match=r"primary_key of table main\.orders names \['id'\].*add them to `columns:`"
    ):
        detect_deletes(_sqlite_reader(pos)(), table, source=SOURCE, lake_root=tmp_path / "lake")
    assert not (tmp_path / "lake").exists()


def test_a_uuid_key_finds_its_deleted_rows(pg_cluster: Any, tmp_path: Path) -> None:
    """A uuid primary key (arrow.uuid in the lake, UUID in DuckDB) is compared by value."""
    name = "del_uuid_key"
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}"')
    pg_cluster.psql(f'CREATE DATABASE "{name}"')
    pg_cluster.psql(
        "CREATE TABLE things (id uuid PRIMARY KEY, placed date NOT NULL);"
        "INSERT INTO things SELECT md5(g::text)::uuid, date '2025-01-01' + (g % 28) "
        "FROM generate_series(1, 20) g",
        database=name,
    )
    table = TableConfig.model_validate({
        "name": "things", "schema": "public", "mode": "window", "date_column": "placed",
        "primary_key": ["id"], "deletes": "detect_by_keys",
    })  # fmt: skip
    open_reader = _pg_reader((pg_cluster, name))
    lake = tmp_path / "lake"
    t0 = dt.datetime(2025, 2, 1, 1, tzinfo=UTC)
    assert run_once(open_reader, table, lake, t0) is None
    pg_cluster.psql("DELETE FROM things WHERE id = md5('7')::uuid", database=name)
    manifest = run_once(open_reader, table, lake, t0 + dt.timedelta(hours=1), FEBRUARY)
    assert manifest is not None and (manifest.lake_keys, manifest.deleted_keys) == (20, 1)
    keys = bronze_keys(lake, "things", ["id"])
    assert len(keys) == 19 and uuid.UUID(hashlib.md5(b"7").hexdigest()) not in {k[0] for k in keys}
    assert {type(k[0]) for k in keys} == {uuid.UUID}
