"""The audit columns every bronze row carries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa

AUDIT_FIELDS: tuple[pa.Field, ...] = (
    pa.field("_batch_id", pa.string(), nullable=False),
    pa.field("_ingestion_time", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("_source_system", pa.string(), nullable=False),
    pa.field("_source_file", pa.string()),
    pa.field("_file_modified_time", pa.timestamp("us", tz="UTC")),
)
AUDIT_NAMES = frozenset(f.name for f in AUDIT_FIELDS)


@dataclass(frozen=True)
class Audit:
    """The audit values of one batch; file provenance is null for database sources."""

    batch_id: str
    ingestion_time: dt.datetime
    source_system: str
    source_file: str | None = None
    file_modified_time: dt.datetime | None = None

    def values(self) -> tuple[object, ...]:
        return (
            self.batch_id,
            self.ingestion_time,
            self.source_system,
            self.source_file,
            self.file_modified_time,
        )


def with_audit_schema(schema: pa.Schema) -> pa.Schema:
    clash = AUDIT_NAMES.intersection(schema.names)
    if clash:
        raise ValueError(f"source columns {sorted(clash)} clash with Tributary's audit columns")
    return pa.schema(list(schema) + list(AUDIT_FIELDS), metadata=schema.metadata)


def add_audit(batch: pa.RecordBatch, audit: Audit, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with the audit columns appended, as constant arrays of the batch's length."""
    n = batch.num_rows
    extra = [
        pa.nulls(n, field.type) if value is None else pa.repeat(pa.scalar(value, field.type), n)
        for field, value in zip(AUDIT_FIELDS, audit.values(), strict=True)
    ]
    return pa.RecordBatch.from_arrays([*batch.columns, *extra], schema=schema)
