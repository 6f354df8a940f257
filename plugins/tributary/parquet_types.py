"""Arrow types Parquet has no logical type for, as the exact Parquet columns Tributary writes.

One such type comes from the type maps: ``month_day_nano_interval`` (PostgreSQL's ``interval``,
DuckDB's ``INTERVAL``). Parquet's only interval (``INTERVAL``: unsigned months, days and
milliseconds) can hold neither a negative part nor a microsecond, and pyarrow refuses to write
one. It is written as the struct of its three parts, under Arrow's own names::

    struct<months: int32, days: int32, nanoseconds: int64>

whose field carries ``ARROW:extension:name = tributary.interval`` (a reader that does not know
the name reads the struct). DuckDB reads it as ``STRUCT(months INTEGER, days INTEGER,
nanoseconds BIGINT)``; the dbt macro ``tributary_interval`` turns it back into an ``INTERVAL``.
The manifests record the Arrow type (``month_day_nano_interval``), which schema drift compares.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

INTERVAL_STRUCT = pa.struct([("months", pa.int32()), ("days", pa.int32()), ("nanoseconds", pa.int64())])
INTERVAL_NAME = "tributary.interval"
_LAYOUT = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanoseconds", "<i8")])


def _stored_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_interval(kind):
        return INTERVAL_STRUCT
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        value = kind.value_field
        stored = value.with_type(_stored_type(value.type))
        return pa.list_(stored) if pa.types.is_list(kind) else pa.large_list(stored)
    return kind


def stored_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` as Parquet holds it: intervals (also in lists) as :data:`INTERVAL_STRUCT`."""
    fields = []
    for field in schema:
        stored = _stored_type(field.type)
        if stored != field.type:
            metadata = dict(field.metadata or {})
            if pa.types.is_interval(field.type):
                metadata[b"ARROW:extension:name"] = INTERVAL_NAME.encode()
                metadata[b"ARROW:extension:metadata"] = b""
            field = field.with_type(stored).with_metadata(metadata)
        fields.append(field)
    return pa.schema(fields, metadata=schema.metadata)


def _interval_struct(array: pa.Array) -> pa.Array:
    if len(array) == 0:
        return pa.array([], INTERVAL_STRUCT)
    data = array.buffers()[1]
    parts = np.frombuffer(data, dtype=_LAYOUT, count=array.offset + len(array))[array.offset :]
    children = [pa.array(parts[name]) for name in _LAYOUT.names or ()]
    mask = array.is_null() if array.null_count else None
    return pa.StructArray.from_arrays(children, fields=list(INTERVAL_STRUCT), mask=mask)


def _stored_array(array: pa.Array, stored: pa.DataType) -> pa.Array:
    if array.type == stored:
        return array
    if pa.types.is_interval(array.type):
        return _interval_struct(array)
    # a list of intervals: its offsets, from zero, over its converted values
    offsets = array.offsets
    start, end = offsets[0].as_py(), offsets[-1].as_py()
    values = _stored_array(array.values.slice(start, end - start), stored.value_type)
    mask = array.is_null() if array.null_count else None
    offsets = pc.subtract(offsets, pa.scalar(start, offsets.type))
    return type(array).from_arrays(offsets, values, type=stored, mask=mask)


def stored_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` as a batch of ``schema`` (``stored_schema`` of the batch's schema)."""
    if batch.schema == schema:
        return batch
    arrays = [_stored_array(a, f.type) for a, f in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
