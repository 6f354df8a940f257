"""Arrow record batches into one CSV, TSV or Parquet file on local disk, streamed a batch at a time.

Parquet keeps each column's Arrow type: decimals stay ``decimal(p,s)``, timestamps keep their
unit and time zone, UUIDs and JSON keep their logical types, lists stay lists; an interval, which
Parquet cannot hold exactly, is written as the lake writes it (``tributary.parquet_types``). CSV
and TSV write each value's exact text, column by column with Arrow's compute functions:

* decimals in plain notation with their scale (``12.30``, ``0.0000001``, never ``1E-7``);
* dates ``YYYY-MM-DD``; timestamps ``YYYY-MM-DD HH:MM:SS`` with the column's fraction of a second
  when any value of the batch has one, UTC instants with ``+00:00``; both overridable with a
  strftime format;
* floats in their shortest exact form, booleans ``true``/``false``, binary as hex;
* UUIDs in their canonical text (``a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11``), JSON as its text,
  intervals in ISO 8601 as PostgreSQL prints them (``P1Y2M-3DT4H5M6.000007S``), lists as JSON
  arrays of their elements' texts (numbers and booleans bare, ``[1, null, 3]``, ``["a", "b"]``);
* NULL as ``null_value`` (nothing by default) and never quoted, so that with the default quoting
  an empty text (``""``) and a NULL stay apart, as in PostgreSQL's CSV.

Text is encoded with the file's encoding; a character it cannot hold fails the extract naming
the column, the row and the value, instead of writing a ``?``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.dialects.postgres_text import format_interval
from tributary.errors import DataError
from tributary.extracts.config import ExtractFormat, FileSpec, Quoting
from tributary.parquet_types import stored_batch, stored_schema


@dataclass(frozen=True)
class Written:
    rows: int
    bytes: int


def write_file(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    spec: FileSpec,
    path: Path,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> Written:
    """Write every batch to ``path`` in the file's format; ``on_batch(rows so far)`` after each."""
    if spec.format is ExtractFormat.parquet:
        rows = _write_parquet(schema, batches, spec, path, on_batch)
    else:
        rows = _write_text(schema, batches, spec, path, on_batch)
    return Written(rows=rows, bytes=path.stat().st_size)


def _write_parquet(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    spec: FileSpec,
    path: Path,
    on_batch: Callable[[int], None] | None,
) -> int:
    rows = 0
    stored = stored_schema(schema)
    with pq.ParquetWriter(str(path), stored, compression=spec.codec or "none") as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write_batch(stored_batch(batch, stored))
            rows += batch.num_rows
            if on_batch:
                on_batch(rows)
    return rows


def _write_text(
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    spec: FileSpec,
    path: Path,
    on_batch: Callable[[int], None] | None,
) -> int:
    line = _LineWriter(spec)
    encoder = codecs.getincrementalencoder(spec.encoding)("strict")
    rows = 0
    with pa.output_stream(str(path), compression=spec.codec) as out:

        def write(text: str, columns: list[tuple[str, pa.Array]], first_row: int) -> None:
            try:
                out.write(encoder.encode(text))
            except UnicodeEncodeError as exc:
                raise _unencodable(spec.encoding, exc, columns, first_row) from exc

        if spec.header:
            names = pa.array(schema.names, pa.string())
            write(line.join([line.quote(names, "header")]), [("header", names)], 0)
        for batch in batches:
            if batch.num_rows:
                columns = [
                    (field.name, line.quote(format_column(col, spec), field.name))
                    for field, col in zip(schema, batch.columns, strict=True)
                ]
                write(line.join([c for _, c in columns], rows=True), columns, rows)
            rows += batch.num_rows
            if on_batch:
                on_batch(rows)
        out.write(encoder.encode("", final=True))
    return rows


class _LineWriter:
    """Quoting and joining text columns into lines."""

    def __init__(self, spec: FileSpec) -> None:
        self.spec = spec
        self.delimiter = spec.separator
        self.quote_char = spec.quote_char
        self.newline = spec.newline
        special = re.escape(self.delimiter + self.quote_char) + r"\r\n"
        self.special = f"[{special}]"

    def quote(self, text: pa.Array, column: str) -> pa.Array:
        q = self.quote_char
        quoted = pc.binary_join_element_wise(q, pc.replace_substring(text, q, q + q), q, "")
        style = self.spec.quoting
        if style is Quoting.all:
            result = quoted
        else:
            needs = pc.or_(pc.match_substring_regex(text, self.special), pc.equal(text, ""))
            if style is Quoting.none:
                needs = pc.match_substring_regex(text, self.special)
                if pc.any(needs).as_py():
                    index = pc.index(needs, True).as_py()
                    raise DataError(
                        f"column {column!r}, row {index + 1} of a batch: the value {text[index].as_py()!r} "
                        "holds the delimiter, the quote character or a line break, and quoting is 'none'; "
                        "set quoting: minimal (or another delimiter)"
                    )
                result = text
            else:
                result = pc.if_else(needs, quoted, text)
        return result.fill_null(self.spec.null_value)

    def join(self, columns: list[pa.Array], rows: bool = False) -> str:
        if not rows:  # the header: one array of the names
            return self.delimiter.join(columns[0].to_pylist()) + self.newline
        lines = pc.binary_join_element_wise(*columns, self.delimiter) if len(columns) > 1 else columns[0]
        return self.newline.join(lines.to_pylist()) + self.newline


def format_column(array: pa.Array, spec: FileSpec) -> pa.Array:
    """A column's values as their text (NULLs stay NULL)."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        return format_column(array.dictionary_decode(), spec)
    native = _native_text(array, spec)
    if native is not None:
        return native
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return array.cast(pa.string())
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return array.cast(pa.string())
    if pa.types.is_decimal(kind):
        text = array.cast(pa.string())
        if pc.any(pc.match_substring(text, "E")).as_py():  # Arrow writes 1E-7 for tiny values
            return pa.array([None if v is None else format(v, "f") for v in array.to_pylist()], pa.string())
        return text
    if pa.types.is_date(kind):
        return pc.strftime(array, format=spec.date_format) if spec.date_format else array.cast(pa.string())
    if pa.types.is_timestamp(kind):
        return _timestamps(array, spec)
    if pa.types.is_time(kind):
        return array.cast(pa.string())
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
        return pa.array([None if v is None else v.hex() for v in array.to_pylist()], pa.string())
    return pa.array([None if v is None else _json(v) for v in array.to_pylist()], pa.string())


def _native_text(array: pa.Array, spec: FileSpec) -> pa.Array | None:
    """The text of a UUID, JSON, interval or list column; None for other types."""
    kind = array.type
    if isinstance(kind, pa.UuidType):
        return pa.array([None if v is None else str(v) for v in array.to_pylist()], pa.string())
    if isinstance(kind, pa.JsonType):
        return array.storage.cast(pa.string())
    if pa.types.is_interval(kind):
        return pa.array([None if v is None else format_interval(v) for v in array.to_pylist()], pa.string())
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return _lists(array, spec)
    return None


def _lists(array: pa.Array, spec: FileSpec) -> pa.Array:
    """Each list as a JSON array of its elements' texts: numbers and booleans bare, others quoted."""
    value_type = array.type.value_type
    bare = (
        pa.types.is_integer(value_type) or pa.types.is_floating(value_type) or pa.types.is_decimal(value_type)
    )
    bare = bare or pa.types.is_boolean(value_type)
    texts = format_column(array.flatten(), spec).to_pylist()
    out: list[str | None] = []
    at = 0
    for items in array.to_pylist():
        if items is None:
            out.append(None)
            continue
        shown = [
            "null"
            if t is None
            else t
            if bare or pa.types.is_list(value_type)
            else json.dumps(t, ensure_ascii=False)
            for t in texts[at : at + len(items)]
        ]
        at += len(items)
        out.append("[" + ", ".join(shown) + "]")
    return pa.array(out, pa.string())


def _timestamps(array: pa.Array, spec: FileSpec) -> pa.Array:
    kind = array.type
    aware = kind.tz is not None
    if aware:
        array = array.cast(pa.timestamp(kind.unit, "UTC"))
    if spec.timestamp_format:
        return pc.strftime(array, format=spec.timestamp_format)
    if kind.unit != "s":
        # no fraction of a second anywhere in the batch: write none
        ticks, per = array.cast(pa.int64()), _PER_SECOND[kind.unit]
        whole = pc.equal(pc.multiply(pc.divide(ticks, per), per), ticks)
        if pc.all(whole).as_py() is not False:
            array = array.cast(pa.timestamp("s", "UTC" if aware else None), safe=False)
    text = pc.strftime(array, format="%Y-%m-%d %H:%M:%S")
    return pc.binary_join_element_wise(text, "+00:00", "") if aware else text


_PER_SECOND = {"ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _json(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _unencodable(
    encoding: str, exc: UnicodeEncodeError, columns: list[tuple[str, pa.Array]], first_row: int
) -> DataError:
    """Which value the encoding cannot hold: column, row and value."""
    bad = exc.object[exc.start : exc.end]
    for name, column in columns:
        for index, value in enumerate(column.to_pylist()):
            if value is not None and bad in value:
                row = "the header" if name == "header" else f"row {first_row + index + 1}"
                return DataError(
                    f"column {name!r}, {row}: the value {value!r} holds {bad!r} "
                    f"(U+{ord(bad[0]):04X}), which encoding {encoding!r} cannot write; use encoding "
                    "utf-8 (or utf-8-sig for spreadsheet programs that want a BOM)"
                )
    return DataError(f"a value holds {bad!r}, which encoding {encoding!r} cannot write; use encoding utf-8")
