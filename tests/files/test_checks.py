"""QA checks on the data a run wrote: each check of the fixed set fails once on real data, the
failure fails verify before ``_SUCCESS``, and the results are in the manifest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.files.conftest import ORDERS_CONTRACT, local_store, orders_csv
from tributary.config import FileTableConfig
from tributary.errors import QualityError
from tributary.files.extract import Landing, extract_files, files_partition
from tributary.files.verify import verify_files
from tributary.lake import SUCCESS
from tributary.lake_io import LakeRoot

JAN_2 = dt.datetime(2025, 1, 2, tzinfo=dt.UTC)

# (check, the detail of its failure on the landed orders)
FAILING = [
    ({"not_null": ["customer"]}, "customer: 1 NULL(s) in 9 rows"),
    ({"unique": ["id"]}, "1 key(s) appear more than once (1 extra row(s)), e.g. id=4 (2 rows)"),
    (
        {"accepted_values": {"column": "status", "values": ["open", "paid"]}},
        "1 row(s) with values not accepted: 'refunded' (1)",
    ),
    ({"row_count": {"min": 1, "max": 5}}, "9 rows; allowed: at least 1 and at most 5"),
    (
        {"freshness": {"column": "ordered_at", "max_age": "30m"}},
        "newest ordered_at is 2025-01-01T23:15:00+00:00, 0:45:00 before the window's end "
        "2025-01-02T00:00:00+00:00; allowed: 30m",
    ),
]
PASSING = [
    {"not_null": ["id", "amount"]},
    {"unique": ["id", "_source_file"]},
    {"accepted_values": {"column": "status", "values": ["open", "paid", "refunded"]}},
    {"row_count": {"min": 9}},
    {"freshness": {"column": "ordered_at", "max_age": "1d"}},
]


@pytest.fixture
def landed(tmp_path: Path) -> tuple[Path, str]:
    """Orders from two files into an uncommitted batch: id 4 is in both files, one order has no
    customer, one is refunded, the newest is 2025-01-01 23:15."""
    landing = local_store(tmp_path / "landing")
    landing.put("orders/a.csv", orders_csv(1, 4))
    landing.put(
        "orders/b.csv", orders_csv(4, 4).replace(b"5,cust-5,", b"5,,").replace(b"6.06,open", b"6.06,refunded")
    )
    landing.put("orders/c.csv", b"id,customer,amount,status,ordered_at\n99,x,1,open,2025-01-01 23:15:00\n")
    lake = tmp_path / "lake"
    table = FileTableConfig.model_validate(
        {
            "name": "orders",
            "glob": "orders/*.csv",
            "format": "csv",
            "contract": ORDERS_CONTRACT,
            "quiet_period": "0s",  # files landed a moment ago
        }
    )
    manifest = extract_files(
        table,
        source="shop",
        landing=Landing(LakeRoot.fixed(tmp_path / "landing"), landing.url),
        lake_root=lake,
    )
    assert manifest.rows == 9 and not manifest.rejected_files
    return lake, manifest.batch_id


def _verify(lake: Path, batch_id: str, checks: list[dict[str, object]]):
    table = FileTableConfig.model_validate(
        {
            "name": "orders",
            "glob": "orders/*.csv",
            "format": "csv",
            "contract": ORDERS_CONTRACT,
            "checks": checks,
        }
    )
    return verify_files(table, source="shop", lake_root=lake, batch_id=batch_id, reference_time=JAN_2)


@pytest.mark.parametrize(("check", "detail"), FAILING, ids=[next(iter(c)) for c, _ in FAILING])
def test_each_check_fails_verify_on_real_data(landed: tuple[Path, str], check: dict, detail: str) -> None:
    lake, batch_id = landed
    with pytest.raises(QualityError, match="1 of 2 check") as caught:
        _verify(lake, batch_id, [PASSING[0], check])
    assert detail in str(caught.value)
    partition = files_partition(lake, "shop", "orders", batch_id)
    manifest = partition.read_manifest()
    assert [(r.passed, r.detail) for r in manifest.checks][1] == (False, detail)
    assert manifest.verified_at is None and not (lake / "shop" / "orders" / partition.name / SUCCESS).exists()


def test_passing_checks_are_recorded(landed: tuple[Path, str]) -> None:
    lake, batch_id = landed
    manifest = _verify(lake, batch_id, PASSING)
    assert manifest.verified_at is not None
    assert [(r.check, r.passed) for r in manifest.checks] == [
        ("not_null(id, amount)", True),
        ("unique(id, _source_file)", True),
        ("accepted_values(status: open, paid, refunded)", True),
        ("row_count(min=9, max=None)", True),
        ("freshness(ordered_at within 1d)", True),
    ]
