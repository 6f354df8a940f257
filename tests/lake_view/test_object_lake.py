"""The Lake view's reader over S3 (moto) and GCS (the emulator) lakes, through the lake hook with
the pipeline's lake connection, as the operators reach them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.lake_view import write_partition
from tests.support.lakes import ObjectLake

pytestmark = pytest.mark.airflow


def test_the_view_reads_an_object_store_lake_with_its_connection(
    object_lake: ObjectLake, tmp_path: Path
) -> None:
    from tributary.hooks.lake import lake_root
    from tributary.lake_view.reader import LakeReader

    root = lake_root(object_lake.url, object_lake.conn_id)
    for month, kind in enumerate(["committed", "not-committed", "failed", "committed", "committed"]):
        write_partition(root, "obj", "sales", month, tmp_path / "staging", kind)
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "obj.yaml").write_text(
        "source: {name: obj, conn_id: obj_db}\n"
        f"lake: {{url: '{object_lake.url}', conn_id: {object_lake.conn_id}}}\n"
        "start_date: 2021-01-01\nend_date: 2021-07-01\n"
        "tables:\n  - {name: sales, mode: window, date_column: day}\n"
    )
    reader = LakeReader(pipelines, workers=4)
    configs, errors = reader.configs()
    assert errors == []
    ((table,),) = [source.tables for source in reader.sources(configs)]
    assert table.error is None
    assert [(c.period, c.kind) for c in table.cells] == [
        ("2021-01", "committed"),
        ("2021-02", "not-committed"),
        ("2021-03", "failed"),
        ("2021-04", "committed"),
        ("2021-05", "committed"),
        ("2021-06", "missing"),
    ]
    assert reader.reads == 5 and table.rows == 1000 + 1003 + 1004
    status = reader.partition(configs[0], configs[0].tables[0], "month", "2021-04")
    assert status.state == "committed" and status.bytes and status.problems == []
