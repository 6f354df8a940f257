"""A table's contract as Arrow: the schema every file is converted to, value conversions that
say which row failed and why, and the nullability and primary-key rules.

Text formats (csv, tsv) arrive as strings and JSON Lines as JSON values; each column is converted
to its contract type with vectorised Arrow kernels, and only when a conversion fails are its
values tried one by one to name the rows that broke it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tributary.config import Contract, ContractColumn, FormatOptions
from tributary.manifest import Violation

MAX_VIOLATIONS = 10  # per file: enough to see the pattern, short enough for a log

_SIMPLE: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
_JSON_KINDS = {
    bool: "true/false",
    int: "a number",
    float: "a number",
    str: "text",
    dict: "an object",
    list: "an array",
}
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def arrow_type(name: str) -> pa.DataType:
    """``'decimal(10,2)'`` → ``decimal128(10, 2)``; the names of ``COLUMN_TYPES``."""
    if name in _SIMPLE:
        return _SIMPLE[name]
    match = _DECIMAL.match(name)
    if not match:
        raise ValueError(f"unknown column type {name!r}")
    return pa.decimal128(int(match.group(1)), int(match.group(2)))


def contract_schema(contract: Contract) -> pa.Schema:
    """The Arrow schema of the contract: its columns, in its order (all nullable in Arrow; the
    contract's nullability is checked row by row so that a violation names the row)."""
    return pa.schema([pa.field(c.name, arrow_type(c.type)) for c in contract.columns])


class FileRejected(Exception):
    """A file breaks the contract; ``violations`` say where and why."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("; ".join(v.describe() for v in violations))
        self.violations = list(violations)


@dataclass(frozen=True)
class BadValue:
    index: int  # in the array
    reason: str


def _describe_value(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _type_label(column: ContractColumn) -> str:
    return column.type


# -- strings (csv, tsv) --------------------------------------------------------------------------


def _parse_times(strings: pa.Array, formats: Sequence[str], target: pa.DataType) -> pa.Array:
    """Strings parsed with the first of ``formats`` that fits (null where none does)."""
    parsed: pa.Array | None = None
    for fmt in formats:
        attempt = pc.strptime(strings, format=fmt, unit="us", error_is_null=True)
        if attempt.type.tz is not None and (not pa.types.is_timestamp(target) or target.tz is None):
            attempt = attempt.cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us"))
        elif attempt.type.tz is None and pa.types.is_timestamp(target) and target.tz is not None:
            attempt = attempt.cast(target)  # a time without an offset is taken as UTC
        parsed = attempt if parsed is None else pc.coalesce(parsed, attempt.cast(parsed.type))
    assert parsed is not None
    return parsed if pa.types.is_timestamp(target) else parsed.cast(pa.timestamp("us")).cast(target)


def _from_strings(strings: pa.Array, column: ContractColumn, options: FormatOptions) -> pa.Array:
    """Strings → the column's type; raises ``pa.ArrowInvalid`` (or ``ValueError``) if any fails."""
    target = arrow_type(column.type)
    if pa.types.is_string(target):
        return strings
    if pa.types.is_boolean(target):
        trues = pc.is_in(strings, pa.array(options.true_values, pa.string()))
        falses = pc.is_in(strings, pa.array(options.false_values, pa.string()))
        bad = pc.and_(pc.is_valid(strings), pc.invert(pc.or_(trues, falses)))
        if pc.any(bad).as_py():
            raise ValueError("not a boolean")
        return pc.if_else(trues, True, pc.if_else(falses, False, pa.nulls(len(strings), pa.bool_())))
    formats = options.date_formats if pa.types.is_date(target) else options.timestamp_formats
    if (pa.types.is_date(target) or pa.types.is_timestamp(target)) and formats:
        parsed = _parse_times(strings, formats, target)
        if pc.any(pc.and_(pc.is_valid(strings), pc.is_null(parsed))).as_py():
            raise ValueError("does not match " + " or ".join(formats))
        return parsed
    if pa.types.is_timestamp(target) and target.tz is not None:
        # a time without an offset is UTC, and a date alone its midnight
        date_only = pc.match_substring_regex(strings, r"^\d{4}-\d\d-\d\d$")
        strings = pc.if_else(
            date_only, pc.binary_join_element_wise(strings, pa.scalar("T00:00:00"), ""), strings
        )
        has_offset = pc.match_substring_regex(strings, r"(Z|[+-]\d\d(:?\d\d)?)$")
        utc = pc.binary_join_element_wise(strings, pa.scalar("+00:00"), "")
        return pc.cast(pc.if_else(has_offset, strings, utc), target)
    return pc.cast(strings, target)


def _reason(value: Any, column: ContractColumn, exc: Exception) -> str:
    detail = str(exc).split("\n")[0]
    if "Rescaling" in detail or "precision" in detail.lower():
        detail = "too many digits"
    elif "Failed to parse" in detail or "Invalid" in detail or "not a" in detail or "does not" in detail:
        detail = ""
    elif "out of bounds" in detail.lower() or "overflow" in detail.lower():
        detail = "out of range"
    elif "Could not convert" in detail or "Expected" in detail:
        detail = f"{_JSON_KINDS.get(type(value), type(value).__name__)} in the file"
    return f"{_describe_value(value)} is not of type {_type_label(column)}" + (
        f" ({detail})" if detail else ""
    )


def _locate(
    values: pa.Array | Sequence[Any], column: ContractColumn, convert: Callable[[Any], Any]
) -> list[BadValue]:
    """The values that fail ``convert`` one at a time (at most ``MAX_VIOLATIONS``)."""
    found: list[BadValue] = []
    items = values.to_pylist() if isinstance(values, pa.Array) else list(values)
    for index, value in enumerate(items):
        if value is None:
            continue
        try:
            convert(value)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            found.append(BadValue(index, _reason(value, column, exc)))
            if len(found) >= MAX_VIOLATIONS:
                break
    return found


class BadColumn(Exception):
    """Values of one column of a batch that cannot be converted."""

    def __init__(self, column: str, bad: list[BadValue]) -> None:
        super().__init__(column)
        self.column = column
        self.bad = bad


def strings_to_type(strings: pa.Array, column: ContractColumn, options: FormatOptions) -> pa.Array:
    """A column of strings converted to the contract type, or ``BadColumn`` naming the rows."""
    try:
        return _from_strings(strings, column, options)
    except (pa.ArrowException, ValueError) as exc:
        bad = _locate(strings, column, lambda v: _from_strings(pa.array([v], pa.string()), column, options))
        raise BadColumn(column.name, bad or [BadValue(0, str(exc))]) from exc


# -- JSON values (jsonl) -------------------------------------------------------------------------


def _json_one(value: Any, column: ContractColumn, options: FormatOptions) -> pa.Array:
    return json_to_type([value], column, options, locate=False)


def json_to_type(
    values: list[Any], column: ContractColumn, options: FormatOptions, *, locate: bool = True
) -> pa.Array:
    """JSON values of one column converted to the contract type, or ``BadColumn``.

    Numbers go to number columns, text to string columns, true/false to boolean columns; dates,
    timestamps and decimals come as text (decimals also as numbers) and are parsed as in csv.
    """
    target = arrow_type(column.type)
    try:
        if pa.types.is_decimal(target) or pa.types.is_date(target) or pa.types.is_timestamp(target):
            texts = []
            for value in values:
                ok = isinstance(value, str) or (
                    pa.types.is_decimal(target)
                    and isinstance(value, int | float)
                    and not isinstance(value, bool)
                )
                if value is not None and not ok:
                    raise TypeError(f"{_JSON_KINDS.get(type(value), type(value).__name__)}, not text")
                texts.append(None if value is None else str(value))
            return _from_strings(pa.array(texts, pa.string()), column, options)
        if any(isinstance(v, dict | list) for v in values):
            raise TypeError("an object or array")
        return pa.array(values, target)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        if not locate:
            raise
        bad = _locate(values, column, lambda v: _json_one(v, column, options))
        raise BadColumn(column.name, bad or [BadValue(0, str(exc))]) from exc


# -- arrow values (parquet) ----------------------------------------------------------------------


def arrow_to_type(values: pa.Array, column: ContractColumn) -> pa.Array:
    """An Arrow column cast to the contract type (a safe cast: no overflow, no lost digits)."""
    target = arrow_type(column.type)
    if values.type == target:
        return values
    try:
        if pa.types.is_timestamp(values.type) and pa.types.is_timestamp(target):
            if values.type.tz is None and target.tz is not None:
                return pc.cast(values, pa.timestamp("us")).cast(target)  # naive times are UTC
            if values.type.tz is not None and target.tz is None:
                return pc.cast(values, pa.timestamp("us", tz="UTC")).cast(target)
        return pc.cast(values, target, safe=True)
    except (pa.ArrowException, ValueError) as exc:
        bad = _locate(values, column, lambda v: pc.cast(pa.array([v], values.type), target, safe=True))
        reason = f"a {values.type} column, not castable to {column.type}"
        raise BadColumn(column.name, bad or [BadValue(-1, reason)]) from exc


# -- rules on converted batches ------------------------------------------------------------------


def null_violations(batch: pa.RecordBatch, contract: Contract) -> list[tuple[int, str, str]]:
    """``(row index, column, reason)`` of NULLs where the contract allows none."""
    required = {c.name for c in contract.columns if not c.nullable} | set(contract.primary_key)
    found: list[tuple[int, str, str]] = []
    for name in [c.name for c in contract.columns if c.name in required]:
        column = batch.column(name)
        if column.null_count:
            rows = pc.indices_nonzero(pc.is_null(column)).to_pylist()[:MAX_VIOLATIONS]
            why = "is in the primary key" if name in contract.primary_key else "is not nullable"
            found.extend((row, name, f"NULL, and the column {why}") for row in rows)
    return sorted(found)[:MAX_VIOLATIONS]


class PrimaryKeys:
    """The primary keys of one file, checked for repeats in bounded memory.

    As the batches stream by, the key columns (with each row's number and file line) are
    appended to a Parquet file in ``workdir``; when the file has been read, DuckDB finds the rows
    whose key an earlier row has (``GROUP BY key HAVING count(*) > 1``) under a memory limit,
    spilling to ``workdir`` beyond it. A file of millions of keys costs disk, not memory (a dict
    of the keys of a 2M-row file took half a gigabyte).
    """

    ROW, LINE = "_tributary_row", "_tributary_line"
    MEMORY_LIMIT = "32MB"

    def __init__(self, columns: Sequence[str], workdir: Path) -> None:
        self.columns = list(columns)
        self.path = workdir / f"keys-{uuid.uuid4().hex[:12]}.parquet"
        self.workdir = workdir
        self._writer: pq.ParquetWriter | None = None
        self._key_schema: pa.Schema | None = None

    def add(self, batch: pa.RecordBatch, first_row: int, lines: Sequence[int | None]) -> None:
        """Remember the keys of ``batch``, whose first row is row ``first_row + 1`` of the file."""
        if not self.columns or not batch.num_rows:
            return
        keys = batch.select(self.columns)
        rows = pa.array(range(first_row + 1, first_row + batch.num_rows + 1), pa.int64())
        aside = pa.RecordBatch.from_arrays(
            [*keys.columns, rows, pa.array(lines, pa.int64())],
            names=[*self.columns, self.ROW, self.LINE],
        )
        if self._writer is None:
            self._key_schema = keys.schema
            self._writer = pq.ParquetWriter(str(self.path), aside.schema, compression="none")
        self._writer.write_batch(aside)

    def duplicates(self) -> list[Violation]:
        """The rows (at most ``MAX_VIOLATIONS``, in file order) whose key an earlier row has."""
        self.close()
        if self._key_schema is None:
            return []
        import duckdb

        from tributary.dialects import DUCKDB
        from tributary.sql import render

        sql = render(
            DUCKDB,
            "file_duplicate_keys",
            values={"keys": str(self.path)},
            columns=self.columns,
            row=self.ROW,
            line=self.LINE,
            limit=MAX_VIOLATIONS,
        )
        config: dict[str, str | bool | int | float | list[str]] = {
            "memory_limit": self.MEMORY_LIMIT,
            "threads": 1,
            "temp_directory": str(self.workdir),
        }
        with duckdb.connect(":memory:", config=config) as con:
            con.execute(render(DUCKDB, "extract_session"))  # UTC, so timestamptz keys read back as written
            found = con.execute(sql).fetch_arrow_table()
        keys = found.select(self.columns).cast(self._key_schema).to_pylist()
        result = []
        for key, row, line, first in zip(
            keys,
            found.column(self.ROW).to_pylist(),
            found.column(self.LINE).to_pylist(),
            found.column("first_row").to_pylist(),
            strict=True,
        ):
            shown = ", ".join(f"{c}={key[c]!r}" for c in self.columns)
            result.append(
                Violation(line=line, row=row, reason=f"duplicate primary key ({shown}), first in row {first}")
            )
        return result

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
