"""PostgreSQL's text output of a value, as the column's Arrow type.

Two reads see values as the text each type's output function prints: the server-side cursor
(columns selected as ``::text``, see ``postgres_types.read_as_text``) and change capture (pgoutput
prints every value). Both sessions print with the settings :data:`SESSION_SETTINGS` lists, so one
parser serves both and they write the same values as DuckDB's scanner:

* ``interval`` in ``IntervalStyle = iso_8601`` (``P1Y2M3DT4H5M6.789S``, each part with its own
  sign) as Arrow's ``month_day_nano_interval``: months, days and microseconds exactly as
  PostgreSQL keeps them;
* one-dimensional arrays (``{1,NULL,"a b"}``, ``[0:1]={5,6}``: the bounds are not kept) as lists
  of the element's type, each element parsed as a value of that type;
* ``money`` in ``lc_monetary = C`` (``-$1,234.56``): the count of hundredths the column holds,
  whatever the server's locale prints;
* ``uuid`` as the 16 bytes of ``arrow.uuid``, ``json``/``jsonb`` as ``arrow.json`` over the text
  (``jsonb`` as PostgreSQL prints it: keys sorted, one space after ``:`` and ``,``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Sequence

import pyarrow as pa

from tributary.dialects import postgres_types
from tributary.dialects.columns import Column, SourceColumn, schema_of

# the session settings under which the texts parsed here are printed (for ``set_config``)
SESSION_SETTINGS = {"IntervalStyle": "iso_8601", "lc_monetary": "C"}

_ISO_INTERVAL = re.compile(
    r"^P(?:(?P<y>-?\d+)Y)?(?:(?P<mo>-?\d+)M)?(?:(?P<d>-?\d+)D)?"
    r"(?:T(?:(?P<h>-?\d+)H)?(?:(?P<mi>-?\d+)M)?(?:(?P<s>-?\d+(?:\.\d+)?)S)?)?$"
)
_MICROS = 1_000_000
_MAX_MICROS = (2**63 - 1) // 1000  # Arrow keeps an interval's time part in int64 nanoseconds


def parse_interval(text: str) -> pa.MonthDayNano:
    """``P1Y2M3DT4H5M6.789S`` (``IntervalStyle = iso_8601``) as months, days and nanoseconds."""
    match = _ISO_INTERVAL.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"not an ISO 8601 interval: {text!r}")
    part = {k: v or "0" for k, v in match.groupdict().items()}
    months = int(part["y"]) * 12 + int(part["mo"])
    micros = (int(part["h"]) * 3600 + int(part["mi"]) * 60) * _MICROS
    micros += int(decimal.Decimal(part["s"]) * _MICROS)
    if abs(micros) > _MAX_MICROS:
        raise ValueError(
            f"interval {text!r}: its hours, minutes and seconds exceed the ±2^63 nanoseconds of "
            "Arrow's month_day_nano_interval; cast the column to text in a view, or justify_hours() it"
        )
    return pa.MonthDayNano([months, int(part["d"]), micros * 1000])


def _towards_zero(number: int, unit: int) -> tuple[int, int]:
    """Quotient and remainder as C divides (towards zero): each part keeps the number's sign."""
    quotient = abs(number) // unit * (1 if number >= 0 else -1)
    return quotient, number - quotient * unit


def format_interval(value: pa.MonthDayNano) -> str:
    """An interval as PostgreSQL prints it in ``IntervalStyle = iso_8601``: ``P1Y2M-3DT4H5M6.000007S``
    (the inverse of :func:`parse_interval`; nanoseconds below a microsecond are not printed)."""
    years, months = _towards_zero(value.months, 12)
    micros, _ = _towards_zero(value.nanoseconds, 1000)
    hours, rest = _towards_zero(micros, 3600 * _MICROS)
    minutes, rest = _towards_zero(rest, 60 * _MICROS)
    days = value.days
    date = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (days, "D")) if n)
    seconds = format(decimal.Decimal(rest).scaleb(-6).normalize(), "f") if rest else ""
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    clock += f"{seconds}S" if seconds else ""
    if not date and not clock:
        return "PT0S"
    return "P" + date + ("T" + clock if clock else "")


def parse_array(text: str) -> list[str | None]:
    """The elements of a one-dimensional array literal, as texts (None for NULL).

    ``{a,"b c",NULL,"NULL","x\\"y"}`` -> ``['a', 'b c', None, 'NULL', 'x"y']``. A nested
    (multi-dimensional) value raises ``ValueError``: its column is read as text.
    """
    if text.startswith("["):  # explicit bounds, "[0:2]={...}": the elements are what matters
        text = text[text.index("=") + 1 :]
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError(f"not an array literal: {text[:40]!r}")
    elements: list[str | None] = []
    at, end = 1, len(text) - 1
    while at < end:
        if text[at] == "{":
            raise ValueError("a multi-dimensional array in a column read as a one-dimensional list")
        if text[at] == '"':
            chars, at = [], at + 1
            while text[at] != '"':
                if text[at] == "\\":
                    at += 1
                chars.append(text[at])
                at += 1
            elements.append("".join(chars))
            at += 1
        else:
            stop = text.find(",", at)
            stop = end if stop < 0 else stop
            token = text[at:stop].strip()
            elements.append(None if token.upper() == "NULL" else token)
            at = stop
        at += 1  # the comma
    return elements


def parse_money(text: str) -> decimal.Decimal:
    """``-$1,234.56`` (``lc_monetary = C``) as ``Decimal('-1234.56')``."""
    return decimal.Decimal(text.replace("$", "").replace(",", ""))


def _list(values: Sequence[str | None], target: pa.ListType, source: SourceColumn) -> pa.Array:
    element = source.element or SourceColumn("element", "text")
    parsed = [None if v is None else parse_array(v) for v in values]
    offsets, flat = [0], []
    for items in parsed:
        flat.extend(items or [])
        offsets.append(len(flat))
    items = to_array(flat, target.value_type, element)
    mask = pa.array([p is None for p in parsed], pa.bool_())
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), items, mask=mask).cast(target)


def _timestamp(text: str) -> dt.datetime:
    # PostgreSQL prints "+05:45" or "+05"; fromisoformat reads both
    return dt.datetime.fromisoformat(text)


def to_array(values: Sequence[str | None], target: pa.DataType, source: SourceColumn) -> pa.Array:
    """PostgreSQL's texts of ``source``'s values (None for NULL) as an array of ``target``.

    ``ValueError`` or ``pa.ArrowInvalid`` when a text is not a value of the type.
    """
    if pa.types.is_list(target):
        return _list(values, target, source)
    if pa.types.is_interval(target):
        return pa.array([None if v is None else parse_interval(v) for v in values], target)
    if isinstance(target, pa.UuidType):
        return pa.array([None if v is None else uuid.UUID(v).bytes for v in values], target)
    if pa.types.is_decimal(target) and source.data_type == "money":
        return pa.array([None if v is None else parse_money(v) for v in values], target)
    if pa.types.is_boolean(target):
        return pa.array([None if v is None else v == "t" for v in values], target)
    if pa.types.is_binary(target):
        return pa.array([None if v is None else bytes.fromhex(v[2:]) for v in values], target)
    if pa.types.is_time(target):
        return pa.array([None if v is None else dt.time.fromisoformat(v) for v in values], target)
    if pa.types.is_timestamp(target) and target.tz:
        return pa.array([None if v is None else _timestamp(v) for v in values], target)
    if pa.types.is_string(target) and source.data_type == "character":
        values = [None if v is None else v.rstrip(" ") for v in values]  # as the snapshot: no padding
    return pa.array(values, pa.string()).cast(target)


def is_parsed(column: Column) -> bool:
    """Whether the column is selected as text (``postgres_types.read_as_text``) of a native type."""
    return postgres_types.read_as_text(column.source) and column.arrow_type != pa.string()


def parse_columns(batch: pa.RecordBatch, columns: list[Column]) -> pa.RecordBatch:
    """``batch`` (the columns :func:`is_parsed` as strings) as a batch of the columns' types."""
    if not any(is_parsed(c) for c in columns):
        return batch
    arrays = [
        to_array(a.to_pylist(), c.arrow_type, c.source) if is_parsed(c) else a
        for a, c in zip(batch.columns, columns, strict=True)
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema_of(columns))
