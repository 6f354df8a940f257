"""Is an output the source's rows, with the source's types? Fingerprints on both sides.

The same order-independent fingerprints are computed by PostgreSQL over the scenario's query and
by pyarrow over the Parquet output, batch by batch (the runner's memory stays small): row count,
NULL counts, exact sums of the integers and of the decimals, timestamps summed as epoch
microseconds (UTC for ``timestamptz``), dates as epoch days, string lengths in characters (so a
mangled UTF-8 sequence shows), the count of true booleans. A value check passes when every
fingerprint is equal; a type check passes when every column has the exact Arrow type below.
A lossy type (float for a decimal, text for a date) is converted back for the value check and
reported as a type change, so both columns of the results table say what happened.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# the exact types of the source's columns (Tributary's type map for PostgreSQL, #2)
EXPECTED: dict[str, pa.DataType] = {
    "id": pa.int64(),
    "sales_no": pa.string(),
    "location_id": pa.int32(),
    "customer_id": pa.int64(),
    "sales_date": pa.timestamp("us"),
    "business_date": pa.date32(),
    "total_amount": pa.decimal128(15, 2),
    "tax_amount": pa.decimal128(15, 2),
    "payment_type": pa.string(),
    "is_void": pa.bool_(),
    "remark": pa.string(),
    "updated_at": pa.timestamp("us", tz="UTC"),
}
AUDIT = ("_batch_id", "_ingestion_time", "_source_system", "_source_file", "_file_modified_time")

SOURCE_SQL = """
SELECT count(*)                                                  AS rows,
       sum(id)                                                   AS id_sum,
       sum(location_id)                                          AS location_id_sum,
       count(*) - count(customer_id)                             AS customer_id_nulls,
       sum(customer_id)                                          AS customer_id_sum,
       sum((extract(epoch FROM sales_date) * 1000000)::numeric)  AS sales_date_us,
       sum(business_date - date '1970-01-01')                    AS business_date_days,
       sum(total_amount)                                         AS total_amount_sum,
       sum(tax_amount)                                           AS tax_amount_sum,
       sum(char_length(sales_no))                                AS sales_no_chars,
       sum(char_length(payment_type))                            AS payment_type_chars,
       count(*) FILTER (WHERE is_void)                           AS is_void_true,
       count(*) - count(remark)                                  AS remark_nulls,
       sum(char_length(remark))                                  AS remark_chars,
       sum((extract(epoch FROM updated_at) * 1000000)::numeric)  AS updated_at_us
FROM ({query}) AS q
"""


def source_fingerprint(connection: Any, query: str) -> dict[str, Any]:
    """The fingerprints of ``query`` computed by PostgreSQL (``connection``: psycopg2)."""
    with connection.cursor() as cursor:
        cursor.execute(SOURCE_SQL.format(query=query))
        names = [d.name for d in cursor.description]
        values = cursor.fetchone()
    connection.rollback()
    return {name: _plain(value) for name, value in zip(names, values, strict=True)}


def _plain(value: Any) -> Any:
    """Integers as int, decimals as Decimal, NULL sums (an empty window) as 0."""
    if value is None:
        return 0
    if (
        isinstance(value, decimal.Decimal)
        and value == value.to_integral_value()
        and value.as_tuple().exponent >= 0
    ):
        return int(value)
    return value


@dataclass
class _Sums:
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: Any) -> None:
        self.values[name] = self.values.get(name, 0) + (value or 0)


def _epoch_us(array: pa.Array) -> int:
    """Exact sum of a timestamp array in epoch microseconds, whatever its unit (no overflow)."""
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[array.type.unit]
    ticks = array.cast(pa.int64()).to_numpy(zero_copy_only=False)
    ticks = ticks[~np.isnan(ticks)] if ticks.dtype.kind == "f" else ticks
    ticks = ticks.astype(np.int64)
    seconds, rest = np.divmod(ticks, per_second)
    return (int(seconds.sum()) * per_second + int(rest.sum())) * 1_000_000 // per_second


def _text(array: pa.Array) -> pa.Array:
    if isinstance(array.type, pa.BaseExtensionType):  # ADBC's numeric: arrow.opaque over utf8
        return array.storage
    return array


def _decimal_sum(array: pa.Array, notes: set[str], name: str) -> decimal.Decimal:
    kind = array.type
    array = _text(array)
    if pa.types.is_decimal(array.type):
        total = pc.sum(array).as_py()
        return total if total is not None else decimal.Decimal(0)
    if pa.types.is_floating(array.type):
        notes.add(f"{name}: float (lossy type)")
        cents = np.round(array.to_numpy(zero_copy_only=False) * 100)
        return decimal.Decimal(int(np.nansum(cents))) / 100
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        notes.add(f"{name}: {kind} (text)")
        return sum((decimal.Decimal(v) for v in array.to_pylist() if v is not None), decimal.Decimal(0))
    raise TypeError(f"{name}: cannot sum {kind}")


def _batch_fingerprint(batch: pa.RecordBatch, sums: _Sums, notes: set[str]) -> None:
    col = batch.column
    sums.add("rows", batch.num_rows)
    sums.add("id_sum", pc.sum(col("id")).as_py())
    sums.add("location_id_sum", pc.sum(col("location_id")).as_py())
    customer = col("customer_id")
    if pa.types.is_floating(customer.type):
        notes.add("customer_id: float (lossy type)")
        sums.add("customer_id_nulls", pc.sum(pc.is_nan(customer)).as_py() + customer.null_count)
        sums.add("customer_id_sum", int(np.nansum(customer.to_numpy(zero_copy_only=False))))
    else:
        sums.add("customer_id_nulls", customer.null_count)
        sums.add("customer_id_sum", pc.sum(customer).as_py())
    sums.add("sales_date_us", _epoch_us(col("sales_date")))
    business = col("business_date")
    if pa.types.is_date32(business.type):
        sums.add("business_date_days", pc.sum(business.cast(pa.int32()).cast(pa.int64())).as_py())
    elif pa.types.is_timestamp(business.type):
        sums.add("business_date_days", _epoch_us(business) // 86_400_000_000)
    else:  # Airflow's fix-up turns a column of date objects into their str()
        epoch = dt.date(1970, 1, 1)
        sums.add(
            "business_date_days", sum((dt.date.fromisoformat(v) - epoch).days for v in business.to_pylist())
        )
    for name in ("total_amount", "tax_amount"):
        sums.add(f"{name}_sum", _decimal_sum(col(name), notes, name))
    for name in ("sales_no", "payment_type"):
        sums.add(f"{name}_chars", pc.sum(pc.utf8_length(col(name))).as_py())
    sums.add("is_void_true", pc.sum(col("is_void").cast(pa.int64())).as_py())
    remark = col("remark")
    as_none = pc.sum(pc.equal(remark, "None").cast(pa.int64())).as_py() or 0
    if as_none:  # a NULL written as the text 'None' is a changed value: left counted as a string
        notes.add(f"remark: {as_none} NULL(s) written as the text 'None'")
    sums.add("remark_nulls", remark.null_count)
    sums.add("remark_chars", pc.sum(pc.utf8_length(remark)).as_py())
    sums.add("updated_at_us", _epoch_us(col("updated_at")))


def parquet_files(out: Path) -> list[Path]:
    if out.is_dir():
        return sorted(out.rglob("*.parquet"))
    return [out]


def output_fingerprint(out: Path) -> tuple[dict[str, Any], dict[str, str], set[str], list[Path]]:
    """Fingerprints, column types (of the first file), notes and files of an output."""
    files = parquet_files(out)
    if not files:
        raise FileNotFoundError(f"{out}: no Parquet file")
    sums, notes = _Sums(), set()
    types: dict[str, str] = {}
    for path in files:
        parquet = pq.ParquetFile(path)
        types = types or {f.name: str(f.type) for f in parquet.schema_arrow}
        for batch in parquet.iter_batches(batch_size=200_000, columns=list(EXPECTED)):
            _batch_fingerprint(batch, sums, notes)
    return sums.values, types, notes, files


def type_changes(types: dict[str, str]) -> list[str]:
    """Columns whose Arrow type is not the exact one, as ``name: expected -> found``."""
    changes = []
    for name, expected in EXPECTED.items():
        found = types.get(name, "missing")
        if found != str(expected):
            changes.append(f"{name}: {expected} -> {found}")
    return changes


def tributary_checks(out: Path, files: list[Path]) -> list[str]:
    """Problems with what only Tributary writes: audit columns, manifest rows, sha256 of parts."""
    problems = []
    manifests = list(out.rglob("_manifest.json"))
    if len(manifests) != 1:
        return [f"{len(manifests)} manifests under {out}"]
    manifest = json.loads(manifests[0].read_text())
    listed = {f["name"]: f for f in manifest["files"]}
    if sorted(listed) != sorted(f.name for f in files):
        problems.append(f"manifest lists {sorted(listed)}, the partition holds {[f.name for f in files]}")
    rows = 0
    for path in files:
        entry = listed.get(path.name)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if entry is None or entry["sha256"] != digest or entry["bytes"] != path.stat().st_size:
            problems.append(f"{path.name}: size or sha256 differs from the manifest")
        metadata = pq.read_metadata(path)
        rows += metadata.num_rows
        schema = metadata.schema.to_arrow_schema()
        missing = [a for a in AUDIT if a not in schema.names]
        if missing:
            problems.append(f"{path.name}: no audit column(s) {missing}")
        elif metadata.num_rows:
            batch_ids = pq.read_table(path, columns=["_batch_id", "_source_system"])
            if (
                batch_ids.column("_batch_id").null_count
                or pc.count_distinct(batch_ids.column("_batch_id")).as_py() != 1
            ):
                problems.append(f"{path.name}: _batch_id is not one non-null value")
    if rows != manifest["rows"]:
        problems.append(f"manifest says {manifest['rows']} rows, the parts hold {rows}")
    return problems


def verify(
    connection: Any, query: str, out: Path, *, source: dict[str, Any] | None = None, tributary: bool = False
) -> dict[str, Any]:
    """The verdict on one output: values equal, types exact, and what differs."""
    expected = source if source is not None else source_fingerprint(connection, query)
    found, types, notes, files = output_fingerprint(out)
    mismatches = {
        name: f"source {value} != output {found.get(name)}"
        for name, value in expected.items()
        if decimal.Decimal(str(found.get(name, "NaN"))) != decimal.Decimal(str(value))
    }
    problems = tributary_checks(out, files) if tributary else []
    changes = type_changes(types)
    return {
        "values_ok": not mismatches and not problems,
        "types_exact": not changes,
        "rows": found.get("rows"),
        "mismatches": mismatches,
        "problems": problems,
        "type_changes": changes,
        "notes": sorted(notes),
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
    }
