"""SQL Server change rows, as pymssql returns them, to Arrow batches of the bronze change shape.

The change queries (``include/sql/mssql/ct_changes.sql``, ``cdc_changes.sql``) select the table's
columns in the order of the change schema, then what says the change:

- change tracking: ``SYS_CHANGE_OPERATION`` (``'I'``, ``'U'``, ``'D'``), ``SYS_CHANGE_VERSION``
  (an int) and ``row_found`` (0 when an insert or update found no row in the table: the key was
  deleted since, and the row is written as a delete). ``_commit_time`` is NULL.
- CDC: ``__$operation`` (1 delete, 2 insert, 4 update's after image; 3, the before image, is never
  asked for), ``__$start_lsn`` and ``__$seqval`` (``binary(10)``, pymssql's ``bytes``, written as 20
  upper-case hex digits, which sort as the LSNs do) and the commit time (UTC, naive).

Table values go through :func:`tributary.readers.arrow.to_array`, exact or a ``DataError``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tributary.changes.shape import CHANGE_VERSION, COMMIT_TIME, COMMIT_TIME_FIELD, LSN, SEQ, Op
from tributary.errors import DataError
from tributary.readers.arrow import to_array

# SYS_CHANGE_OPERATION of CHANGETABLE(CHANGES ...)
CT_OPS = {"I": Op.insert, "U": Op.update, "D": Op.delete}
# __$operation of cdc.fn_cdc_get_all_changes_<instance>(..., N'all')
CDC_OPS = {1: Op.delete, 2: Op.insert, 4: Op.update}

LSN_BYTES = 10  # binary(10)
CT_POSITION = re.compile(r"[0-9]{1,19}")  # a bigint version, never negative
CDC_POSITION = re.compile(r"[0-9A-F]{20}")  # an LSN as 20 hex digits
ZERO_SEQ = "0" * 2 * LSN_BYTES  # the _seq of a baseline row


def lsn_text(value: Any, column: str = LSN) -> str:
    """A ``binary(10)`` LSN (or ``__$seqval``) as 20 upper-case hex digits."""
    if not isinstance(value, bytes | bytearray | memoryview) or len(bytes(value)) != LSN_BYTES:
        raise DataError(f"column {column!r}: {value!r} is not a binary({LSN_BYTES}) log sequence number")
    return bytes(value).hex().upper()


def lsn_bytes(text: str) -> bytes:
    """20 hex digits back to the ``binary(10)`` SQL Server takes."""
    if not CDC_POSITION.fullmatch(text):
        raise ValueError(f"{text!r} is not an LSN of 20 upper-case hex digits")
    return bytes.fromhex(text)


def next_lsn(text: str) -> str:
    """The smallest LSN after ``text``: where a read that has ``text`` already goes on from."""
    return f"{int(lsn_bytes(text).hex(), 16) + 1:0{2 * LSN_BYTES}X}"


def _table_arrays(columns: list[tuple[Any, ...]], schema: pa.Schema, count: int) -> list[pa.Array]:
    return [to_array(columns[i], schema.field(i).type, schema.field(i).name) for i in range(count)]


def _transpose(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    if not rows:
        return [() for _ in range(width)]
    if any(len(row) != width for row in rows):
        raise DataError(f"a change row has {len(rows[0])} values where the query selects {width}")
    return list(zip(*rows, strict=True))


def ct_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of ``ct_changes.sql`` as a batch of ``schema`` (a change schema with
    ``CHANGE_TRACKING_POSITION``)."""
    count = len(schema) - 3  # the table's columns: all but _op, _change_version, _commit_time
    columns = _transpose(rows, count + 3)
    arrays = _table_arrays(columns, schema, count)
    ops = []
    for code, found in zip(columns[count], columns[count + 2], strict=True):
        op = CT_OPS.get(code)
        if op is None:
            raise DataError(f"SYS_CHANGE_OPERATION {code!r} is none of {sorted(CT_OPS)}")
        ops.append(Op.delete.value if not found else op.value)
    arrays.append(pa.array(ops, pa.string()))
    arrays.append(to_array(columns[count + 1], pa.int64(), CHANGE_VERSION))
    arrays.append(pa.nulls(len(rows), COMMIT_TIME_FIELD.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def cdc_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """Rows of ``cdc_changes.sql`` as a batch of ``schema`` (a change schema with
    ``MSSQL_CDC_POSITION``)."""
    count = len(schema) - 4  # all but _op, _lsn, _seq, _commit_time
    columns = _transpose(rows, count + 4)
    arrays = _table_arrays(columns, schema, count)
    ops = []
    for code in columns[count]:
        op = CDC_OPS.get(code)
        if op is None:
            raise DataError(
                f"__$operation {code!r} is none of {sorted(CDC_OPS)} (1 delete, 2 insert, 4 update)"
            )
        ops.append(op.value)
    arrays.append(pa.array(ops, pa.string()))
    arrays.append(pa.array([lsn_text(v, LSN) for v in columns[count + 1]], pa.string()))
    arrays.append(pa.array([lsn_text(v, SEQ) for v in columns[count + 2]], pa.string()))
    arrays.append(to_array([_utc(v) for v in columns[count + 3]], COMMIT_TIME_FIELD.type, COMMIT_TIME))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def baseline_batch(batch: pa.RecordBatch, schema: pa.Schema, position: str) -> pa.RecordBatch:
    """A batch of the table's rows (a baseline read) as change rows of ``schema``: every row an
    insert at ``position``, the version or LSN read before the table was."""
    rows = batch.num_rows
    arrays = [*batch.columns, pa.array([Op.insert.value] * rows, pa.string())]
    if schema.get_field_index(CHANGE_VERSION) >= 0:
        arrays.append(pa.array([int(position)] * rows, pa.int64()))
    else:
        arrays += [pa.array([position] * rows, pa.string()), pa.array([ZERO_SEQ] * rows, pa.string())]
    arrays.append(pa.nulls(rows, COMMIT_TIME_FIELD.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
