"""``tributary sample`` and ``tributary status`` over a lake written by real extract, verify
and commit runs on the demo SQLite source."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.cli import main
from tributary.lake import MANIFEST, SUCCESS
from tributary.lake_status import (
    COMMITTED,
    FAILED_CHECKS,
    NO_MANIFEST,
    NOT_COMMITTED,
    month_of,
    table_status,
)
from tributary.manifest import CheckResult, Manifest


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _sales(lake: Path) -> Path:
    return lake / "lake" / "pos" / "sales"


def test_sample_prints_the_first_rows_of_the_newest_committed_partition(
    lake_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = _sales(lake_copy) / "month=2025-03"
    parts = json.loads((newest / SUCCESS).read_text())["parts"]
    expected = pq.read_table(newest / parts[0]).slice(0, 5).to_pylist()
    # a stray part beside the committed batch: sample reads only what _SUCCESS names
    stray = pa.Table.from_pylist([{**expected[0], "id": -1}], schema=pq.read_schema(newest / parts[0]))
    pq.write_table(stray, newest / "part-0000-stray.parquet")

    code, out, _ = _run(
        capsys, "sample", "pos", "sales", "--rows", "5", "--folder", str(lake_copy / "pipelines")
    )

    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 5
    assert [row["id"] for row in rows] == [row["id"] for row in expected]
    assert all(row["sales_date"].startswith("2025-03") for row in rows)


def test_sample_of_a_named_partition_and_of_one_not_committed(
    lake_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(lake_copy / "pipelines")
    argv = ["sample", "pos", "sales", "--rows", "2", "--partition", "month=2025-01", "--folder", folder]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    assert [json.loads(line)["sales_date"][:7] for line in out.splitlines()] == ["2025-01", "2025-01"]

    (_sales(lake_copy) / "month=2025-01" / SUCCESS).unlink()
    code, _, err = _run(capsys, "sample", "pos", "sales", "--partition", "month=2025-01", "--folder", folder)
    assert code == 1
    assert "not committed (no _SUCCESS)" in err


def test_sample_of_an_unknown_source_or_table(lake_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(lake_copy / "pipelines")
    code, _, err = _run(capsys, "sample", "nope", "sales", "--folder", folder)
    assert code == 1 and "no pipeline config has source.name 'nope' (sources: pos)" in err
    code, _, err = _run(capsys, "sample", "pos", "nope", "--folder", folder)
    assert code == 1 and "source 'pos' has no table 'nope'" in err


def test_status_shows_every_partition_with_its_state(
    lake_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sales = _sales(lake_copy)
    (sales / "month=2025-02" / SUCCESS).unlink()
    manifest = Manifest.from_json((sales / "month=2025-03" / MANIFEST).read_text())

    code, out, _ = _run(capsys, "status", "pos", "--table", "sales", "--folder", str(lake_copy / "pipelines"))

    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "pos.sales (3 partition(s))"
    header = ["partition", "state", "rows", "batch id", "run id", "verified at", "watermark / position"]
    assert re.split(r"\s{2,}", lines[1]) == header
    by_partition = {line.split()[0]: line for line in lines[2:5]}
    assert f"{COMMITTED}  " in by_partition["month=2025-01"]
    assert NOT_COMMITTED in by_partition["month=2025-02"]
    assert f"  {manifest.rows}  {manifest.batch_id}" in by_partition["month=2025-03"]


def test_status_from_to_keeps_those_months(lake_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = str(lake_copy / "pipelines")
    code, out, _ = _run(capsys, "status", "pos", "--from", "2025-02", "--to", "2025-02", "--folder", folder)
    assert code == 0
    assert "pos.sales (1 partition(s))" in out and "pos.payments (1 partition(s))" in out
    assert "month=2025-01" not in out and "month=2025-03" not in out
    code, _, err = _run(capsys, "status", "pos", "--from", "2025-2", "--folder", folder)
    assert code == 1 and "--from takes a month as YYYY-MM, got '2025-2'" in err


def test_table_status_failed_checks_and_a_partition_without_manifest(lake_copy: Path) -> None:
    sales = _sales(lake_copy)
    path = sales / "month=2025-03" / MANIFEST
    failed = CheckResult(check="not_null(id)", passed=False, detail="3 rows are null")
    path.write_text(Manifest.from_json(path.read_text()).model_copy(update={"checks": [failed]}).to_json())
    (sales / "month=2025-03" / SUCCESS).unlink()
    (sales / "month=2025-04").mkdir()
    (sales / "month=2025-04" / "part-x-00000.parquet").write_bytes(b"half")

    statuses = {s.partition: s for s in table_status(lake_copy / "lake", "pos", "sales")}

    assert statuses["month=2025-01"].state == COMMITTED
    assert statuses["month=2025-01"].verified_at is not None
    assert statuses["month=2025-03"].state == FAILED_CHECKS
    assert statuses["month=2025-03"].problems == ["not_null(id): 3 rows are null"]
    assert statuses["month=2025-04"].state == NO_MANIFEST
    assert statuses["month=2025-04"].rows is None


def test_month_of_partition_values() -> None:
    assert month_of("2025-01") == month_of("2025-01-31") == month_of("20250131T101010Z1234") == "2025-01"
    assert month_of("eu") is None
    assert dt.date(2025, 1, 1).isoformat()[:7] == "2025-01"
