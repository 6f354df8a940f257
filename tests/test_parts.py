"""Parquet parts: audit columns, file rolling, empty windows, exact types kept."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.audit import AUDIT_NAMES, Audit
from tributary.parts import write_parts

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        pa.field("amount", pa.decimal128(15, 2)),
        pa.field("customer_id", pa.int64()),
        pa.field("note", pa.string()),
    ]
)
AUDIT = Audit("b1", dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC), "pos")


def _batches(n: int, size: int):
    for start in range(0, n, size):
        ids = list(range(start, min(n, start + size)))
        yield pa.RecordBatch.from_arrays(
            [
                pa.array(ids, pa.int64()),
                pa.array([decimal.Decimal(i) / 100 for i in ids], pa.decimal128(15, 2)),
                pa.array([None if i % 3 == 0 else i for i in ids], pa.int64()),
                pa.array(["Zoë 東京 🍣" if i % 2 else None for i in ids], pa.string()),
            ],
            schema=SCHEMA,
        )


def test_parts_roll_over_at_rows_per_file_and_keep_every_row(tmp_path: Path) -> None:
    parts = write_parts(
        _batches(25_000, 4_000), schema=SCHEMA, audit=AUDIT, staging=tmp_path, rows_per_file=10_000
    )
    assert [p.rows for p in parts] == [10_000, 10_000, 5_000]
    assert [p.name for p in parts] == [f"part-b1-{i:05d}.parquet" for i in range(3)]
    table = pq.read_table([str(tmp_path / p.name) for p in parts])
    assert table.column("id").to_pylist() == list(range(25_000))
    assert all(p.bytes == (tmp_path / p.name).stat().st_size for p in parts)


def test_types_nulls_and_audit_columns(tmp_path: Path) -> None:
    parts = write_parts(_batches(10, 10), schema=SCHEMA, audit=AUDIT, staging=tmp_path)
    table = pq.read_table(tmp_path / parts[0].name)
    assert table.schema.field("amount").type == pa.decimal128(15, 2)
    assert table.schema.field("customer_id").type == pa.int64(), "NULL integers stay integers"
    assert table.column("customer_id").null_count == 4
    assert table.column("amount")[7].as_py() == decimal.Decimal("0.07")
    assert table.column("note")[1].as_py() == "Zoë 東京 🍣"
    assert set(table.column_names) >= AUDIT_NAMES
    assert set(table.column("_batch_id").to_pylist()) == {"b1"}
    assert set(table.column("_ingestion_time").to_pylist()) == {AUDIT.ingestion_time}
    assert table.column("_source_file").null_count == 10
    assert table.column("_file_modified_time").null_count == 10


def test_an_empty_window_still_writes_the_schema(tmp_path: Path) -> None:
    parts = write_parts(iter(()), schema=SCHEMA, audit=AUDIT, staging=tmp_path)
    assert len(parts) == 1 and parts[0].rows == 0
    assert pq.read_schema(tmp_path / parts[0].name).names[:4] == SCHEMA.names


def test_a_source_column_named_like_an_audit_column_is_refused(tmp_path: Path) -> None:
    schema = pa.schema([pa.field("_batch_id", pa.string())])
    with pytest.raises(ValueError, match="clash with Tributary's audit columns"):
        write_parts(iter(()), schema=schema, audit=AUDIT, staging=tmp_path)
