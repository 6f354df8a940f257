"""Broken landing files through the real extract, verify and commit steps on a local landing zone
and lake: a file that cannot be read (a corrupt Parquet page, JSON nested too deep, bytes the
encoding cannot decode, a line over the cap) is rejected with its name and reason while the good
files load; duplicates are found across batches with the row of the first occurrence."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.files.conftest import ORDERS_CONTRACT, local_store, orders_csv
from tests.files.test_extract import _rows, _run
from tributary.config import FileTableConfig
from tributary.files.contract import FileRejected
from tributary.files.read import read_file
from tributary.manifest import Manifest

ORDER = {"id": 1, "customer": "c", "amount": "1.50", "status": "open", "ordered_at": "2025-01-01 10:00:00"}


def _table(fmt: str, glob: str, **overrides: Any) -> FileTableConfig:
    return FileTableConfig.model_validate(
        {
            "name": "orders",
            "glob": glob,
            "format": fmt,
            "contract": ORDERS_CONTRACT,
            "on_violation": "warn",
            "quiet_period": "0s",  # files landed a moment ago
            **overrides,
        }
    )


def _rejected(manifest: Manifest) -> dict[str, list[str]]:
    return {f.path: [v.describe() for v in f.violations] for f in manifest.rejected_files}


def _jsonl(first_id: int, rows: int) -> bytes:
    return b"".join(json.dumps({**ORDER, "id": n}).encode() + b"\n" for n in range(first_id, first_id + rows))


def _corrupt_page(table: pa.Table) -> bytes:
    """A Parquet file of ``table`` with one byte of its first data page flipped, where the snappy
    decoder notices (the footer and the page header stay intact: the file opens)."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy", use_dictionary=False)
    data = buffer.getvalue()
    chunk = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).column(0)
    for offset in range(chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size):
        broken = bytearray(data)
        broken[offset] ^= 0xFF
        try:
            for _ in pq.ParquetFile(io.BytesIO(bytes(broken))).iter_batches():
                pass
        except OSError as exc:
            if "snappy" in str(exc).lower():
                return bytes(broken)
    raise AssertionError("no byte of the page upsets snappy")


def _orders_arrow(first_id: int, rows: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(first_id, first_id + rows), pa.int64()),
            "customer": [f"cust-{n % 7}" for n in range(rows)],
            "amount": pa.array([None] * rows, pa.decimal128(10, 2)),
            "status": ["open"] * rows,
            "ordered_at": pa.array([None] * rows, pa.timestamp("us")),
        }
    )


def test_a_parquet_file_with_a_corrupt_page_is_rejected_and_the_good_ones_load(tmp_path: Path) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    good = io.BytesIO()
    pq.write_table(_orders_arrow(1, 3), good)
    landing.put("orders/good.parquet", good.getvalue())
    landing.put("orders/corrupt.parquet", _corrupt_page(_orders_arrow(100, 2_000)))

    manifest = _run(_table("parquet", "orders/*.parquet"), landing, lake)

    assert [f.path for f in manifest.source_files] == ["orders/good.parquet"]
    (reason,) = _rejected(manifest)["orders/corrupt.parquet"]
    assert reason.startswith("not a readable parquet file (Corrupt snappy compressed data")
    assert sorted(_rows(lake, manifest).column("id").to_pylist()) == [1, 2, 3]


def test_a_json_line_nested_100k_deep_is_rejected_with_its_line(tmp_path: Path) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("orders/good.jsonl", _jsonl(1, 2))
    deep = b'{"id": 9, "customer": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
    landing.put("orders/deep.jsonl", _jsonl(10, 2) + deep)

    manifest = _run(_table("jsonl", "orders/*.jsonl"), landing, lake)

    assert [f.path for f in manifest.source_files] == ["orders/good.jsonl"]
    assert _rejected(manifest) == {"orders/deep.jsonl": ["line 3: not valid JSON (nested too deep)"]}
    assert manifest.rows == 2


def test_text_the_encoding_cannot_decode_is_rejected(tmp_path: Path) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    landing.put("utf8/good.csv", orders_csv(1, 2))
    landing.put("utf8/cp1252.csv", orders_csv(10, 2).replace(b"cust-3", "café".encode("cp1252")))
    landing.put("cp1252/good.csv", orders_csv(1, 2).replace(b"cust-1", "café".encode("cp1252")))
    landing.put("cp1252/undefined.csv", orders_csv(10, 2).replace(b"cust-3", b"caf\x81"))  # no cp1252 char
    utf16_lines = orders_csv(10, 2).decode().splitlines(keepends=True)
    landing.put("utf16/good.csv", orders_csv(1, 2).decode().encode("utf-16"))
    lone = "".join(utf16_lines[:2]).encode("utf-16") + "\ud800".encode("utf-16-le", "surrogatepass")
    landing.put("utf16/surrogate.csv", lone + "".join(utf16_lines[2:]).encode("utf-16-le"))

    utf8 = _run(_table("csv", "utf8/*.csv"), landing, lake)
    assert [f.path for f in utf8.source_files] == ["utf8/good.csv"]
    (reason,) = _rejected(utf8)["utf8/cp1252.csv"]
    assert "invalid UTF8" in reason

    cp1252 = _run(
        _table("csv", "cp1252/*.csv", name="orders_cp1252", options={"encoding": "cp1252"}), landing, lake
    )
    assert [f.path for f in cp1252.source_files] == ["cp1252/good.csv"]
    (reason,) = _rejected(cp1252)["cp1252/undefined.csv"]
    assert reason.startswith("not cp1252 text ('charmap' codec can't decode byte 0x81 in position ")
    (part,) = (tmp_path / "lake" / "shop" / "orders_cp1252" / f"batch={cp1252.batch_id}").glob("*.parquet")
    assert "café" in pq.read_table(part).column("customer").to_pylist()

    utf16 = _run(
        _table("csv", "utf16/*.csv", name="orders_utf16", options={"encoding": "utf-16"}), landing, lake
    )
    assert [f.path for f in utf16.source_files] == ["utf16/good.csv"]
    (reason,) = _rejected(utf16)["utf16/surrogate.csv"]
    assert reason.startswith("not utf-16 text (") and "illegal UTF-16 surrogate" in reason
    assert utf16.rows == 2


def test_a_line_over_the_cap_is_rejected_with_its_number_and_a_long_one_under_it_loads(
    tmp_path: Path,
) -> None:
    landing, lake = local_store(tmp_path / "landing"), local_store(tmp_path / "lake")
    lines = orders_csv(1, 5).splitlines(keepends=True)
    lines[3] = lines[3].replace(b"cust-", b"cust-" + b"x" * 5_000)  # line 4 of the file
    landing.put("orders/long.csv", b"".join(lines))
    landing.put("orders/good.csv", orders_csv(10, 2))
    landing.put(
        "json/long.jsonl", _jsonl(1, 2) + json.dumps({**ORDER, "customer": "y" * 5_000}).encode() + b"\n"
    )
    landing.put("json/good.jsonl", _jsonl(10, 2))

    capped = {"max_line_bytes": 4_096}
    manifest = _run(_table("csv", "orders/*.csv", options=capped), landing, lake)
    assert [f.path for f in manifest.source_files] == ["orders/good.csv"]
    assert _rejected(manifest) == {
        "orders/long.csv": [
            "line 4: the line is longer than 4,096 bytes (options.max_line_bytes); not read further"
        ]
    }
    jsonl = _run(_table("jsonl", "json/*.jsonl", name="orders_json", options=capped), landing, lake)
    assert [f.path for f in jsonl.source_files] == ["json/good.jsonl"]
    assert _rejected(jsonl) == {
        "json/long.jsonl": [
            "line 3: the line is longer than 4,096 bytes (options.max_line_bytes); not read further"
        ]
    }

    # under the default cap (16 MiB), a 3 MiB line loads: pyarrow's blocks grow to hold it
    big = orders_csv(1, 3).replace(b"cust-2", b"z" * (3 << 20))
    (tmp_path / "big.csv").write_bytes(big)
    rows = [r for b in read_file(tmp_path / "big.csv", _table("csv", "*")) for r in b.to_pylist()]
    assert [len(r["customer"]) for r in rows] == [6, 3 << 20, 6]


def test_duplicates_across_batches_are_found_with_the_first_row(tmp_path: Path) -> None:
    body = (
        orders_csv(1, 5_000)
        + b"4321,again,1.00,open,2025-01-01 00:00:00\n1,again,1.00,open,2025-01-01 00:00:00\n"
    )
    (tmp_path / "dups.csv").write_bytes(body)
    table = _table("csv", "*", batch_size=1_000)
    with pytest.raises(FileRejected) as caught:
        list(read_file(tmp_path / "dups.csv", table, workdir=tmp_path))
    assert [v.describe() for v in caught.value.violations] == [
        "line 5002: duplicate primary key (id=4321), first in row 4321",
        "line 5003: duplicate primary key (id=1), first in row 1",
    ]
    assert [v.row for v in caught.value.violations] == [5001, 5002]
