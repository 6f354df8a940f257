"""A local table read fast (tributary.lake_scan, the Lake view's overview) says of every partition
what tributary.lake_status.partition_status says (the states, rows, batch, run, times, position,
problems, bytes), over partitions written by Tributary's commit protocol and the odd ones a run or
a hand leaves; a partition read again is read only when its files changed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from bench.lake_view import month_start, write_partition
from tributary.lake import MANIFEST, SUCCESS, Partition, path_segment
from tributary.lake_scan import partition_names, scan_partitions
from tributary.lake_status import partition_status

SOURCE, TABLE = "ünï 'src'", 'tab/"le"'


def _lake(tmp_path: Path) -> tuple[Path, str]:
    lake = tmp_path / "lake"
    for month in range(8):
        write_partition(
            lake, SOURCE, TABLE, month, tmp_path / "staging", "failed" if month == 1 else "committed"
        )
    folder = lake / path_segment(SOURCE) / path_segment(TABLE)
    (folder / "month=2021-03" / MANIFEST).unlink()  # _SUCCESS without its manifest
    (folder / "month=2021-04" / SUCCESS).write_text(json.dumps({"batch_id": "another"}))  # a re-run's
    live = folder / "month=2021-05"  # a watermark table's: a difference of rows is no failure
    body = json.loads((live / MANIFEST).read_text())
    body.update(source_query_rows=1, mode="watermark", high_watermark="2021-06-01T00:00:00Z")
    (live / MANIFEST).write_text(json.dumps(body))
    (folder / "month=2021-06" / SUCCESS).unlink()
    body = json.loads((folder / "month=2021-06" / MANIFEST).read_text())
    (folder / "month=2021-06" / MANIFEST).write_text(json.dumps({**body, "source_query_rows": 1}))  # parity
    (folder / "month=2021-07" / SUCCESS).write_text("written by another tool")
    (folder / "month=2021-09").mkdir()  # an empty folder: no manifest
    return lake, str(folder)


def test_a_scan_says_what_partition_status_says(tmp_path: Path) -> None:
    lake, folder = _lake(tmp_path)
    names = partition_names(folder)
    assert names == [f"month={month_start(m):%Y-%m}" for m in range(9)]
    scanned = [status for _, status in scan_partitions(folder, names)]
    expected = [
        partition_status(Partition(lake, SOURCE, TABLE, *name.split("=")), check_files=False)
        for name in names
    ]
    assert scanned == expected  # every field but the manifest itself
    assert [s.bytes for s in scanned] == [s.bytes for s in expected]
    assert [s.window_month for s in scanned] == [s.window_month for s in expected]
    states = [s.state for s in scanned if s is not None]
    assert states == [
        "committed", "failed checks", "committed, incomplete", "committed, incomplete", "committed",
        "failed parity", "committed", "committed", "no manifest",
    ]  # fmt: skip
    assert scanned[4] is not None and scanned[4].position == "2021-06-01T00:00:00+00:00"
    assert scanned[1] is not None and [c.passed for c in scanned[1].checks] == [True, False]


def test_a_manifest_the_scan_cannot_summarize_is_left_to_partition_status(tmp_path: Path) -> None:
    lake, folder = _lake(tmp_path)
    manifest = Path(folder) / "month=2021-01" / MANIFEST
    manifest.write_text(
        json.dumps({**json.loads(manifest.read_text()), "verified_at": "2021-02-01T00:05:00"})
    )
    [(_, status)] = scan_partitions(folder, ["month=2021-01"])  # a time without its zone
    assert status is None
    read = partition_status(Partition(lake, SOURCE, TABLE, "month", "2021-01"), check_files=False)
    assert read.state == "committed" and read.verified_at == dt.datetime(2021, 2, 1, 0, 5)


def test_a_partition_is_read_again_only_when_its_files_changed(tmp_path: Path) -> None:
    _, folder = _lake(tmp_path)
    names = partition_names(folder)
    first = dict(zip(names, scan_partitions(folder, names), strict=True))
    again = scan_partitions(folder, names, first)
    assert all(new[1] is old[1] for new, old in zip(again, first.values(), strict=True))  # the same objects
    (Path(folder) / "month=2021-01" / SUCCESS).unlink()  # a re-run begins
    changed = dict(zip(names, scan_partitions(folder, names, first), strict=True))
    assert [n for n in names if changed[n][1] is not first[n][1]] == ["month=2021-01"]
    status = changed["month=2021-01"][1]
    assert status is not None and status.state == "written, not committed"
