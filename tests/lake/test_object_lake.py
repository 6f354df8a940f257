"""The replication core against S3 (moto) and GCS (the emulator) over HTTP: the same layout,
manifest and commit protocol as the local lake, parity with the source, re-runs that replace."""

from __future__ import annotations

import datetime as dt
import io
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.support.lakes import FAST, ObjectLake
from tributary.config import Mode, Schedule, TableConfig
from tributary.errors import IncompletePartitionError
from tributary.hooks.lake import lake_root
from tributary.lake import MANIFEST, SUCCESS, Partition
from tributary.manifest import Manifest
from tributary.readers.sqlite import SqliteReader
from tributary.replication import commit_table, extract_table, table_partition, verify_table
from tributary.windows import Window

JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
SALES = TableConfig(name="sales", schema="main", mode=Mode.window, date_column="sales_date", batch_size=1000)
ITEMS = TableConfig(name="items", mode=Mode.full, batch_size=1000)


def replicate(db: Path, root: object, table: TableConfig, *, rows_per_file: int = 500) -> Manifest:
    """Extract, verify and commit one table's January partition, as the three tasks do."""
    place = {"source": "pos", "schedule": Schedule.monthly, "window": JANUARY, "lake_root": root}
    with sqlite3.connect(db) as connection:
        reader = SqliteReader(connection, conn_id="demo")
        extracted = extract_table(reader, table, rows_per_file=rows_per_file, **place)
        verify_table(reader, table, batch_id=extracted.batch_id, **place)
    return commit_table(table, batch_id=extracted.batch_id, **place)


def source_ids(db: Path, table: TableConfig) -> list[int]:
    key = {"sales": "id", "items": "item_id"}[table.name]
    sql = f'SELECT "{key}" FROM "{table.name}"'
    params: tuple[str, ...] = ()
    if table.mode is Mode.window:
        sql += f' WHERE "{table.date_column}" >= ? AND "{table.date_column}" < ?'
        params = ("2025-01-01 00:00:00", "2025-02-01 00:00:00")
    with sqlite3.connect(db) as connection:
        return sorted(r[0] for r in connection.execute(sql, params))


def lake_ids(partition: Partition, manifest: Manifest, key: str) -> list[int]:
    """The key column of every row in the partition's files, read back from the store."""
    ids: list[int] = []
    for entry in manifest.files:
        with (partition.path / entry.name).open("rb") as fh:
            ids += pq.read_table(io.BytesIO(fh.read()), columns=[key]).column(key).to_pylist()
    return sorted(ids)


@pytest.mark.parametrize("table", [SALES, ITEMS], ids=lambda t: t.name)
def test_a_table_lands_in_the_object_lake_like_in_the_local_one(
    object_lake: ObjectLake, demo_sqlite: Path, table: TableConfig
) -> None:
    root = lake_root(object_lake.url, object_lake.conn_id, policy=FAST)
    manifest = replicate(demo_sqlite, root, table)

    partition = table_partition(root, "pos", table, Schedule.monthly, JANUARY)
    where = f"pos/{table.name}/{partition.name}"
    expected_name = "month=2025-01" if table.mode is Mode.window else "snapshot_date=2025-01-01"
    assert partition.name == expected_name
    objects = object_lake.objects(where)
    assert set(objects) == {f"{where}/{f.name}" for f in manifest.files} | {
        f"{where}/{MANIFEST}",
        f"{where}/{SUCCESS}",
    }
    assert all(objects[f"{where}/{f.name}"] == f.bytes for f in manifest.files)
    assert all(f.name.startswith(f"part-{manifest.batch_id}-") for f in manifest.files)
    if table is SALES:
        assert len(manifest.files) > 1, "several parts, so that stale-part handling is exercised"

    ids = source_ids(demo_sqlite, table)
    assert manifest.rows == manifest.source_query_rows == len(ids) > 0
    key = {"sales": "id", "items": "item_id"}[table.name]
    assert lake_ids(partition, manifest, key) == ids

    state = partition.state()
    assert state.ready and state.batch_id == manifest.batch_id and state.rows == len(ids)
    assert partition.is_committed()
    assert partition.read_manifest() == manifest


def test_a_rerun_replaces_the_partition_and_leaves_nothing_stale(
    object_lake: ObjectLake, demo_sqlite: Path
) -> None:
    root = lake_root(object_lake.url, object_lake.conn_id, policy=FAST)
    first = replicate(demo_sqlite, root, SALES, rows_per_file=300)
    second = replicate(demo_sqlite, root, SALES, rows_per_file=1000)
    assert second.batch_id != first.batch_id and len(second.files) < len(first.files)

    where = "pos/sales/month=2025-01"
    names = {k.rsplit("/", 1)[1] for k in object_lake.objects(where)}
    assert names == {f.name for f in second.files} | {MANIFEST, SUCCESS}
    partition = table_partition(root, "pos", SALES, Schedule.monthly, JANUARY)
    ids = lake_ids(partition, second, "id")
    assert ids == source_ids(demo_sqlite, SALES) and len(ids) == len(set(ids)), "no row twice"
    assert partition.state().batch_id == second.batch_id


def test_object_stores_have_prefixes_not_folders(object_lake: ObjectLake) -> None:
    """An empty partition lists as empty (no folder to create or find), _SUCCESS is absent, and a
    partition never extracted says so."""
    root = lake_root(object_lake.url, object_lake.conn_id, policy=FAST)
    partition = Partition(root, "pos", "sales", "month", "2030-01")
    assert partition.listing() == {}
    assert not partition.is_committed()
    assert partition.state().committed is False
    partition.begin()  # nothing to remove: no error
    assert object_lake.objects() == {}
    with pytest.raises(IncompletePartitionError, match=r"no _manifest\.json"):
        partition.read_manifest()
