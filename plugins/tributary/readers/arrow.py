"""Python values from a DB-API cursor to Arrow arrays of the exact target type."""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tributary.errors import SourceError


def _text(values: Sequence[Any]) -> list[str | None]:
    return [
        None
        if v is None
        else v
        if isinstance(v, str)
        else v.decode("utf-8")
        if isinstance(v, bytes)
        else repr(v)
        if isinstance(v, float)
        else str(v)
        for v in values
    ]


def _decimals(values: Sequence[Any], target: pa.DataType) -> pa.Array:
    texts = pa.array(_text(values), pa.string())
    try:
        return texts.cast(target)
    except pa.ArrowInvalid:
        # more digits than the declared scale (a binary float in SQLite, say): round half-even,
        # as the database itself rounds when it stores into a DECIMAL(p,s) column
        quantum = decimal.Decimal(1).scaleb(-target.scale)
        return pa.array(
            [None if v is None else decimal.Decimal(v).quantize(quantum) for v in texts.to_pylist()],
            target,
        )


def to_array(values: Sequence[Any], target: pa.DataType, column: str) -> pa.Array:
    """``values`` as an array of ``target``; values of another Python type are converted exactly."""
    try:
        return pa.array(values, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
        pass
    try:
        if pa.types.is_decimal(target):
            return _decimals(values, target)
        if pa.types.is_boolean(target):
            return pa.array(values, pa.int64()).cast(target)
        if pa.types.is_string(target) or pa.types.is_large_string(target):
            return pa.array(_text(values), target)
        if pa.types.is_binary(target):
            return pa.array([v.encode("utf-8") if isinstance(v, str) else v for v in values], target)
        return pa.array(_text(values), pa.string()).cast(target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, decimal.InvalidOperation, ValueError) as exc:
        sample = next((v for v in values if v is not None), None)
        raise SourceError(
            f"column {column!r}: cannot read values such as {sample!r} as {target}: {exc}"
        ) from exc


def rows_to_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """A list of row tuples as one record batch of ``schema``."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [to_array(col, field.type, field.name) for col, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
