"""Odd table names on S3 (moto) and GCS (the emulator): the same path segments as in a local
lake, every object under the lake prefix, and the partition read back committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.lakes import FAST, ObjectLake, write_partition
from tributary.hooks.lake import lake_root
from tributary.lake import MANIFEST, SUCCESS, Partition, list_partitions, path_segment

NAMES = [
    "Order Details",
    "ünïcödé",
    'weird"quote',
    "x; drop table canary; --",
    "../../escape",
    "100%",
    "a#b?c",
]


@pytest.mark.parametrize("table", NAMES)
def test_an_odd_table_name_stays_under_the_lake_prefix(
    object_lake: ObjectLake, tmp_path: Path, table: str
) -> None:
    if object_lake.scheme == "gs" and ";" in table:
        # gcsfs sends %3B, as GCS's JSON API wants; the emulator cannot read such an object back
        # (it lists it and answers its metadata, but its download route answers 404)
        pytest.xfail("gcp-storage-emulator does not serve objects whose name holds ';'")
    root = lake_root(object_lake.url, object_lake.conn_id, policy=FAST)
    write_partition(root, tmp_path / "staging", table=table)
    folder = f"pos/{path_segment(table)}/snapshot_date=2025-01-01"
    assert set(object_lake.objects()) == {
        f"{folder}/{name}" for name in ("part-b1-00000.parquet", "part-b1-00001.parquet", MANIFEST, SUCCESS)
    }
    everything = object_lake.keys("")
    assert everything and all(key.startswith(f"{object_lake.prefix}/") for key in everything)
    assert list_partitions(root, "pos", table) == ["snapshot_date=2025-01-01"]
    assert Partition(root, "pos", table, "snapshot_date", "2025-01-01").state().ready
