"""The lake-level core every feature shares (``tributary.batches``): the XCom summary finds the
partition a manifest describes, whatever its names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tributary.batches import new_batch_id, partition_of, summary
from tributary.config import Schedule, TableConfig
from tributary.files.extract import files_partition
from tributary.lake import Partition
from tributary.manifest import Manifest
from tributary.replication import table_partition
from tributary.windows import Window

UTC = dt.UTC
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))


def _manifest(partition: Partition, batch_id: str) -> Manifest:
    return Manifest.model_validate({
        "source": partition.source, "table": partition.table, "mode": "window",
        "partition": partition.name, "batch_id": batch_id, "created_at": dt.datetime.now(UTC),
        "rows": 3, "files": [], "schema": [], "high_watermark": dt.datetime(2025, 1, 2, tzinfo=UTC),
    })  # fmt: skip


@pytest.mark.parametrize("name", ["sales", "Order Details", "../../escape", "a=b", "ünïcödé", ".hidden"])
@pytest.mark.parametrize("mode", ["window", "full", "watermark"])
def test_the_summary_names_the_partition_the_step_wrote(tmp_path: Path, name: str, mode: str) -> None:
    config = {"name": name, "mode": mode}
    config |= (
        {"date_column": "at"}
        if mode == "window"
        else {"watermark_column": "at"}
        if mode == "watermark"
        else {}
    )
    table = TableConfig.model_validate(config)
    batch_id = new_batch_id()
    partition = table_partition(tmp_path, "p/o s", table, Schedule.monthly, JANUARY, batch_id)
    manifest = _manifest(partition, batch_id)
    assert partition_of(tmp_path, manifest).path == partition.path
    assert summary(manifest, tmp_path) == {
        "table": name,
        "partition": partition.name,
        "path": str(partition.path),
        "batch_id": batch_id,
        "rows": 3,
        "files": 0,
        "source_rows": None,
        "high_watermark": "2025-01-02T00:00:00+00:00",
    }


def test_the_summary_of_a_file_batch(tmp_path: Path) -> None:
    batch_id = new_batch_id()
    partition = files_partition(tmp_path, "shop", "orders", batch_id)
    assert summary(_manifest(partition, batch_id), tmp_path)["path"] == str(partition.path)
