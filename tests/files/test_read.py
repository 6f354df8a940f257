"""Reading a landing file against its contract: the rows of a good file in every format, and the
file, line or row, column and reason a user reads for each way a file can break it."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.config import FileTableConfig
from tributary.files.contract import FileRejected
from tributary.files.read import read_file

CONTRACT = {
    "columns": [
        {"name": "id", "type": "int32", "nullable": False},
        {"name": "name", "type": "string"},
        {"name": "price", "type": "decimal(8,2)"},
        {"name": "paid", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "timestamptz"},
    ],
    "primary_key": ["id"],
}
EXPECTED = [
    {
        "id": 1,
        "name": "Zoë",
        "price": decimal.Decimal("1.50"),
        "paid": True,
        "day": dt.date(2025, 1, 31),
        "at": dt.datetime(2025, 1, 31, 9, 30, tzinfo=dt.UTC),
    },
    {
        "id": 2,
        "name": None,
        "price": None,
        "paid": False,
        "day": None,
        "at": dt.datetime(2025, 1, 31, 8, 0, tzinfo=dt.UTC),
    },
]


def _table(fmt: str, **extra: Any) -> FileTableConfig:
    return FileTableConfig.model_validate(
        {"name": "t", "glob": "*", "format": fmt, "contract": CONTRACT, **extra}
    )


def _rows(path: Path, table: FileTableConfig) -> list[dict[str, Any]]:
    return [row for batch in read_file(path, table) for row in batch.to_pylist()]


def _violations(path: Path, table: FileTableConfig) -> list[str]:
    with pytest.raises(FileRejected) as caught:
        _rows(path, table)
    return [v.describe() for v in caught.value.violations]


def test_good_files_in_every_format(tmp_path: Path) -> None:
    csv = tmp_path / "a.csv"
    csv.write_text(
        "at,id,name,price,paid,day,unused\n"
        '2025-01-31T09:30:00Z,1,"Zoë",1.5,true,2025-01-31,x\n'
        "2025-01-31 08:00:00,2,,,0,,y\n",
        encoding="latin-1",
    )
    assert _rows(csv, _table("csv", options={"encoding": "latin-1"})) == EXPECTED

    tsv = tmp_path / "a.tsv"
    tsv.write_text(
        "# exported\nid\tname\tprice\tpaid\tday\tat\n1\tZoë\t1.50\tyes\t31/01/2025\t31/01/2025 10:30 +0100\n"
        "2\tNULL\tNULL\tno\tNULL\t31/01/2025 08:00\n"
    )
    options = {
        "skip_rows": 1,
        "null_values": ["NULL"],
        "true_values": ["yes"],
        "false_values": ["no"],
        "date_formats": ["%d/%m/%Y"],
        "timestamp_formats": ["%d/%m/%Y %H:%M %z", "%d/%m/%Y %H:%M"],
    }
    assert _rows(tsv, _table("tsv", options=options)) == EXPECTED

    headless = tmp_path / "b.csv"
    headless.write_text(
        "1,Zoë,1.50,true,2025-01-31,2025-01-31T09:30:00+00:00\n2,,,false,,2025-01-31 08:00:00\n"
    )
    assert _rows(headless, _table("csv", options={"header": False})) == EXPECTED

    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text(
        '{"id": 1, "name": "Zoë", "price": 1.5, "paid": true, "day": "2025-01-31", '
        '"at": "2025-01-31T09:30:00Z"}\n'
        "\n"
        '{"id": 2, "paid": false, "at": "2025-01-31 08:00:00", "extra": {"x": 1}}\n'
    )
    assert _rows(jsonl, _table("jsonl")) == EXPECTED

    parquet = tmp_path / "a.parquet"
    pq.write_table(
        pa.table(
            {
                "id": pa.array([1, 2], pa.int64()),
                "name": ["Zoë", None],
                "price": [1.5, None],
                "paid": [True, False],
                "day": pa.array([dt.date(2025, 1, 31), None]),
                "at": pa.array([dt.datetime(2025, 1, 31, 9, 30), dt.datetime(2025, 1, 31, 8)]),
            }
        ),
        parquet,
    )
    assert _rows(parquet, _table("parquet")) == EXPECTED


HEADER = "id,name,price,paid,day,at\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "id,name,price,paid,at\n1,a,1,true,2025-01-01\n",
            ["line 1, column day: column is missing (the file has: id, name, price, paid, at)"],
        ),
        (
            HEADER + "1,a,1.5,true,2025-01-01,2025-01-01\n2,b,x,true,,\n",
            ["line 3, column price: 'x' is not of type decimal(8,2)"],
        ),
        (
            HEADER + "1,a,1.555,true,,\n",
            ["line 2, column price: '1.555' is not of type decimal(8,2) (too many digits)"],
        ),
        (HEADER + "3000000000,a,1,true,,\n", ["line 2, column id: '3000000000' is not of type int32"]),
        (
            HEADER + "1,a,1,maybe,31.01.2025,\n",
            [
                "line 2, column day: '31.01.2025' is not of type date",
                "line 2, column paid: 'maybe' is not of type boolean",
            ],
        ),
        (
            HEADER + "1,a,1,true,,\n,b,1,true,,\n",
            ["line 3, column id: NULL, and the column is in the primary key"],
        ),
        (
            HEADER + "1,a,1,true,,\n2,b,1,true,,\n1,c,1,true,,\n",
            ["line 4: duplicate primary key (id=1), first in row 1"],
        ),
        (HEADER + "1,a,1,true,,,\n", ["7 field(s) where the header has 6: '1,a,1,true,,,'"]),
        ("", ["line 1: not a readable csv file (Empty CSV file)"]),
    ],
    ids=[
        "missing-column",
        "unparseable",
        "too-many-digits",
        "out-of-range",
        "wrong-types",
        "null-key",
        "duplicate-key",
        "field-count",
        "empty-file",
    ],
)
def test_csv_violations(tmp_path: Path, body: str, expected: list[str]) -> None:
    path = tmp_path / "f.csv"
    path.write_text(body)
    assert _violations(path, _table("csv")) == expected


def test_extra_columns_can_be_rejected(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(HEADER.replace("\n", ",note\n") + "1,a,1,true,,,x\n")
    table = _table("csv", contract={**CONTRACT, "extra_columns": "reject"})
    assert _violations(path, table) == [
        "line 1, column note: column is not in the contract (extra_columns: reject)"
    ]


def test_jsonl_violations_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "f.jsonl"
    path.write_text(
        '{"id": 1, "at": "2025-01-01T00:00:00Z"}\n{"id": "2", "price": "1.2.3", "at": 5}\n{not json\n[1, 2]\n'
    )
    assert _violations(path, _table("jsonl")) == [
        "line 2, column at: 5 is not of type timestamptz (a number, not text)",
        "line 2, column id: '2' is not of type int32 (text in the file)",
        "line 2, column price: '1.2.3' is not of type decimal(8,2)",
        "line 3: not valid JSON (Expecting property name enclosed in double quotes)",
        "line 4: a JSON Lines row must be an object {...}",
    ]


def test_parquet_violations_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "f.parquet"
    pq.write_table(
        pa.table(
            {
                "id": [1, 2, None],
                "name": ["a", "b", "c"],
                "price": ["1", "2", "3"],
                "paid": [True, True, True],
                "day": ["2025-01-01"] * 3,
                "at": ["x"] * 3,
            }
        ),
        path,
    )
    assert _violations(path, _table("parquet")) == [
        "row 1, column at: 'x' is not of type timestamptz",
        "row 2, column at: 'x' is not of type timestamptz",
        "row 3, column at: 'x' is not of type timestamptz",
    ]
    pq.write_table(pa.table({"id": [1], "name": ["a"]}), path)
    assert (
        _violations(path, _table("parquet"))[0] == "column price: column is missing (the file has: id, name)"
    )
