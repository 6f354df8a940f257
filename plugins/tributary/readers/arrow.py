"""Python values from a DB-API cursor to Arrow arrays of the exact target type.

A driver hands over Python objects whose type depends on the driver and, for SQLite, on how each
row happens to be stored. Values already of the target's own Python type go to Arrow as they are;
any other value is converted only when the conversion is exact (``2.0`` into an integer column,
``'2025-01-31'`` into a date column), and a value that cannot be converted raises ``DataError``
naming the column and the value. Never a silent change: pyarrow on its own reads ``1.5`` into an
int64 as ``1``, an int into a timestamp as microseconds since 1970, a datetime into a
``timestamp[ms]`` by dropping its microseconds.

Two conversions are rules rather than identities, and are documented as such:

* A binary float (or text) with more decimals than a ``decimal(p,s)`` column's scale is taken as
  its shortest repr -- the digits the application wrote, ``0.1 + 0.2`` is
  ``0.30000000000000004`` -- and rounded **half-even** to the scale (Python's and IEEE 754's
  default rounding): ``0.30000000000000004 -> 0.30``, ``0.125 -> 0.12``, ``0.135 -> 0.14``. A value
  that needs more digits than the precision is an error, not a wrap or a clamp.
* Dates and timestamps stored as text are read only in the ISO-8601 forms that also compare
  correctly as text against a window's bounds: ``YYYY-MM-DD``, optionally followed by ``T`` or a
  space and ``HH:MM[:SS[.ffffff]]`` (a date column accepts a time part only when it is midnight).
  Numbers in a date column (Unix or Julian epochs) are refused: their unit is a guess.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tributary.errors import DataError

_DATE_TEXT = r"^(\d{4}-\d{2}-\d{2})(?:[ T]00:00(?::00(?:\.0{1,6})?)?)?$"
_TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?"
_NAIVE_TEXT = _TIMESTAMP_TEXT + "$"
_AWARE_TEXT = _TIMESTAMP_TEXT + r"(?:Z|[+-]\d{2}:?\d{2})$"
_TIME_TEXT = re.compile(r"^\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?$")
_INTEGER_TEXT = re.compile(r"^[+-]?\d+$")
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


class _Unreadable(ValueError):
    """A value that has no exact counterpart in the target type; the message says why."""


# -- one value to the target's own Python type ---------------------------------------------------


def _integer(value: Any, target: pa.DataType) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, decimal.Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.match(value):
        return int(value)
    raise _Unreadable("not a whole number")


def _floating(value: Any, target: pa.DataType) -> float:
    if isinstance(value, float):
        return value
    if isinstance(value, int | decimal.Decimal):
        result = float(value)
        if isinstance(value, int) and result != value:
            raise _Unreadable("a float64 cannot hold this integer exactly")
        return result
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise _Unreadable("not a number") from None
    raise _Unreadable("not a number")


@functools.cache
def _rounding(precision: int, scale: int) -> tuple[decimal.Context, decimal.Decimal]:
    """The context that rounds half-even and refuses a (p+1)-th digit, and the quantum 10**-s."""
    return decimal.Context(prec=precision, rounding=decimal.ROUND_HALF_EVEN), decimal.Decimal(1).scaleb(
        -scale
    )


def _decimal(value: Any, target: pa.DataType) -> decimal.Decimal:
    try:
        if isinstance(value, float):
            number = decimal.Decimal(repr(value))  # the digits the application wrote
        elif isinstance(value, int | decimal.Decimal | str):
            number = decimal.Decimal(value)
        else:
            raise _Unreadable("not a number")
    except decimal.InvalidOperation:
        raise _Unreadable("not a number") from None
    if not number.is_finite():
        raise _Unreadable("not a finite number")
    context, quantum = _rounding(target.precision, target.scale)
    try:
        return number.quantize(quantum, context=context)
    except decimal.InvalidOperation:
        raise _Unreadable(f"needs more than the column's {target.precision} digits") from None


def _decimal_text(values: Sequence[Any], target: pa.DataType) -> pa.Array | None:
    """Numbers as their shortest text, parsed by Arrow; None when one needs rounding (or is not
    a number): Arrow refuses to drop a digit, so what it returns is exact."""
    text = pa.array(
        [repr(v) if type(v) is float else v if v is None else str(v) for v in values], pa.string()
    )
    try:
        return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _boolean(value: Any, target: pa.DataType) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return value.strip().lower() in ("1", "true")
    raise _Unreadable("a boolean column holds 0/1 (or true/false)")


def _date(value: Any, target: pa.DataType) -> dt.date:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None and value.time() == dt.time():
            return value.date()
        raise _Unreadable("has a time of day, which a date cannot hold")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        match = re.match(_DATE_TEXT, value)
        if match:
            try:
                return dt.date.fromisoformat(match.group(1))
            except ValueError:
                raise _Unreadable("not a calendar date") from None
    raise _Unreadable("a date is read from ISO-8601 text 'YYYY-MM-DD' or a date object")


def _timestamp(value: Any, target: pa.DataType) -> dt.datetime:
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str) and re.match(_AWARE_TEXT if target.tz else _NAIVE_TEXT, value):
        try:
            result = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _Unreadable("not a calendar date and time") from None
    else:
        form = "with a zone offset" if target.tz else "without a zone offset"
        raise _Unreadable(f"a timestamp is read from ISO-8601 text {form} or a datetime object")
    if result.microsecond % _microseconds_per_tick(target):
        raise _Unreadable(f"has a finer fraction of a second than the column's unit ({target.unit})")
    return result


def _time(value: Any, target: pa.DataType) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and _TIME_TEXT.match(value):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            raise _Unreadable("not a time of day") from None
    raise _Unreadable("a time is read from ISO-8601 text 'HH:MM:SS' or a time object")


def _string(value: Any, target: pa.DataType) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _Unreadable("bytes that are not UTF-8 text") from None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, decimal.Decimal) and value.is_finite():
        return format(value, "f")
    if isinstance(value, int | decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise _Unreadable("no exact text form")


def _uuid(value: Any, target: pa.DataType) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            raise _Unreadable("not a UUID") from None
    # 16 bytes have no one order: SQL Server keeps a GUID's first three groups little-endian
    raise _Unreadable("a UUID is read from a uuid.UUID or its text, not from bytes of a driver's order")


def _binary(value: Any, target: pa.DataType) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise _Unreadable("not bytes")


_Converter = Callable[[Any, pa.DataType], Any]


def _microseconds_per_tick(target: pa.DataType) -> int:
    """1 for ``timestamp[us]`` (and ``ns``), 1000 for ``ms``, 1000000 for ``s``."""
    return max(1, 1_000_000 // _PER_SECOND[target.unit])


def _kind(target: pa.DataType) -> tuple[tuple[type, ...], _Converter | None]:
    """The Python types Arrow takes exactly for ``target``, and the converter of other values."""
    if pa.types.is_integer(target):
        return (int, bool), _integer
    if pa.types.is_floating(target):
        return (float, int), _floating
    if pa.types.is_decimal(target):
        return (decimal.Decimal, int), _decimal
    if pa.types.is_boolean(target):
        return (bool,), _boolean
    if pa.types.is_date(target):
        return (dt.date,), _date
    if pa.types.is_timestamp(target):
        return (dt.datetime,), _timestamp
    if pa.types.is_time(target):
        return (dt.time,), _time
    if isinstance(target, pa.UuidType):
        return (uuid.UUID,), _uuid
    if pa.types.is_string(target) or pa.types.is_large_string(target) or isinstance(target, pa.JsonType):
        return (str,), _string
    if pa.types.is_dictionary(target) and pa.types.is_string(target.value_type):  # enums
        return (str,), _string
    if pa.types.is_binary(target) or pa.types.is_large_binary(target):
        return (bytes, bytearray, memoryview), _binary  # psycopg2 hands bytea over as memoryview
    return (), None  # no type map produces another type; Arrow's own conversion decides


# -- whole columns -------------------------------------------------------------------------------


def _unreadable(column: str, value: Any, target: pa.DataType, reason: str) -> DataError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return DataError(f"column {column!r}: cannot read {shown} ({type(value).__name__}) as {target}: {reason}")


def _text_dates(values: Sequence[Any], target: pa.DataType) -> pa.Array | None:
    """ISO text to dates or timestamps in Arrow's own parser, once a regex has vetted the form."""
    text = pa.array(values, pa.string())
    if pa.types.is_date(target):
        if pc.all(pc.match_substring_regex(text, _DATE_TEXT)).as_py() is False:
            return None
        text = pc.utf8_slice_codeunits(text, 0, 10)  # a midnight time part, vetted above
    elif pc.all(pc.match_substring_regex(text, _AWARE_TEXT if target.tz else _NAIVE_TEXT)).as_py() is False:
        return None
    try:
        return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None  # an impossible date such as '2025-02-30': found and named value by value


def _zero_one(values: Sequence[Any]) -> pa.Array | None:
    """Integers 0 and 1 (SQLite's booleans) as booleans; None if another integer is among them."""
    try:
        numbers = pa.array(values, pa.int64())
    except (pa.ArrowInvalid, OverflowError):
        return None
    bounds = pc.min_max(numbers).as_py()  # nulls skipped
    if (bounds["min"] or 0) < 0 or (bounds["max"] or 0) > 1:
        return None
    return numbers.cast(pa.bool_())


def _truncates(values: Sequence[Any], target: pa.DataType) -> bool:
    """Whether Arrow would drop part of a datetime's fraction of a second (a coarser unit)."""
    step = _microseconds_per_tick(target)
    return step > 1 and any(v is not None and v.microsecond % step for v in values)


def to_array(values: Sequence[Any], target: pa.DataType, column: str) -> pa.Array:
    """``values`` as an array of ``target``, exactly, or ``DataError`` naming the culprit."""
    native, convert = _kind(target)
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if convert is None:
        try:
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            sample = next((v for v in values if v is not None), None)
            raise _unreadable(column, sample, target, str(exc)) from exc
    if kinds <= set(native) and not (pa.types.is_timestamp(target) and _truncates(values, target)):
        try:
            return pa.array(values, type=target)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            pass  # out of range, say, or more decimals than the scale: sorted out below
    fast = _vectorised(values, kinds, target)
    if fast is not None:
        return fast
    return _value_by_value(values, target, column, convert)


def _vectorised(values: Sequence[Any], kinds: set[type], target: pa.DataType) -> pa.Array | None:
    """The conversions Arrow does a column at a time; None where none applies or one fails."""
    if kinds == {str} and (pa.types.is_date(target) or pa.types.is_timestamp(target)):
        return _text_dates(values, target)
    if kinds <= {float, int, str} and pa.types.is_decimal(target):
        return _decimal_text(values, target)
    if kinds == {int} and pa.types.is_boolean(target):
        return _zero_one(values)
    return None


def _value_by_value(values: Sequence[Any], target: pa.DataType, column: str, convert: _Converter) -> pa.Array:
    """Each value converted on its own; ``DataError`` names the first that cannot be."""
    converted = []
    for value in values:
        try:
            converted.append(None if value is None else convert(value, target))
        except _Unreadable as exc:
            raise _unreadable(column, value, target, str(exc)) from exc
    try:
        return pa.array(converted, type=target)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        for value, one in zip(values, converted, strict=True):
            try:
                pa.array([one], type=target)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as one_exc:
                raise _unreadable(column, value, target, str(one_exc)) from exc
        raise _unreadable(column, values, target, str(exc)) from exc


def rows_to_batch(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.RecordBatch:
    """A list of row tuples as one record batch of ``schema``."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = [to_array(col, field.type, field.name) for col, field in zip(columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)
