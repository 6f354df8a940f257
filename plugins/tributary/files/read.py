"""Read one landing file as record batches of its table's contract, or reject it.

``read_file`` streams: a batch at a time (``batch_size`` rows; pyarrow's block reader for csv,
tsv and Parquet, one line at a time for JSON Lines), each converted to the contract's schema and
checked (types, NULLs, the primary key within the file) before it is yielded. The first batch
with a violation raises :class:`FileRejected` with up to ``MAX_VIOLATIONS`` of them, each with
its line (csv, tsv, jsonl) or row (parquet), column and reason.

The primary key is checked when the whole file has been read, in bounded memory
(:class:`PrimaryKeys`): a repeated key rejects the file after its batches were yielded, so the
caller discards what it wrote of the file when :class:`FileRejected` comes. Any other error of
reading a file (a corrupt Parquet page, a byte the encoding cannot decode, JSON nested too deep)
rejects the file too, with the error as its reason. A line of csv, tsv or jsonl longer than the
table's ``options.max_line_bytes`` rejects the file naming the line, before it is held in memory.

Line numbers of csv and tsv files count the skipped rows and the header; with
``newlines_in_values`` (quoted values over several lines) only the row is known.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable, Container, Iterator
from pathlib import Path
from typing import Any, NoReturn, TextIO

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from tributary.config import ExtraColumns, FileTableConfig, FormatOptions, LandingFormat
from tributary.files.contract import (
    MAX_VIOLATIONS,
    BadColumn,
    FileRejected,
    PrimaryKeys,
    arrow_to_type,
    contract_schema,
    json_to_type,
    null_violations,
    strings_to_type,
)
from tributary.manifest import Violation

# (the converted batch, the 1-based file line of a row index of the batch, or None)
Chunk = tuple[pa.RecordBatch, Callable[[int], int | None]]


def read_file(path: Path, table: FileTableConfig, *, workdir: Path | None = None) -> Iterator[pa.RecordBatch]:
    """The rows of ``path`` as batches of the contract schema; :class:`FileRejected` if the
    file breaks the contract (raised before the batch that shows it is yielded; for a repeated
    primary key, after the last batch).

    :param workdir: a folder for the file's keys while they are checked (default: a temporary one)
    """
    chunks = {
        LandingFormat.csv: _text_chunks,
        LandingFormat.tsv: _text_chunks,
        LandingFormat.jsonl: _jsonl_chunks,
        LandingFormat.parquet: _parquet_chunks,
    }[table.format](path, table)
    with contextlib.ExitStack() as stack:
        if workdir is None and table.contract.primary_key:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tributary-keys-")))
        keys = PrimaryKeys(table.contract.primary_key, workdir or Path(tempfile.gettempdir()))
        stack.callback(keys.close)
        rows_before = 0
        for batch, line_of in _readable(chunks, table):
            found = [
                _violation(rows_before, index, line_of, column, reason)
                for index, column, reason in null_violations(batch, table.contract)
            ]
            if found:
                raise FileRejected(found[:MAX_VIOLATIONS])
            if keys.columns:
                keys.add(batch, rows_before, [line_of(index) for index in range(batch.num_rows)])
            rows_before += batch.num_rows
            yield batch
        duplicates = keys.duplicates()
        if duplicates:
            raise FileRejected(duplicates)


def _readable(chunks: Iterator[Chunk], table: FileTableConfig) -> Iterator[Chunk]:
    """The chunks; any error of reading the file (not only the ones the readers expect) rejects
    the file with the error as its reason, instead of failing the whole table."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except (FileRejected, MemoryError):
            raise
        except Exception as exc:
            raise FileRejected([Violation(reason=_unreadable(table, exc))]) from exc
        yield chunk


def _violation(
    rows_before: int, index: int, line_of: Callable[[int], int | None], column: str | None, reason: str
) -> Violation:
    return Violation(line=line_of(index), row=rows_before + index + 1, column=column, reason=reason)


def _convert(
    columns: dict[str, Callable[..., pa.Array]],
    schema: pa.Schema,
    rows_before: int,
    line_of: Callable[[int], int | None],
) -> pa.RecordBatch:
    """The batch of the converted columns, or every bad value of every column as violations."""
    arrays: list[pa.Array] = []
    found: list[Violation] = []
    for name, convert in columns.items():
        try:
            arrays.append(convert())
        except BadColumn as bad:
            for value in bad.bad:
                if value.index < 0:  # the whole column: its type cannot become the contract's
                    found.append(Violation(column=name, reason=value.reason))
                else:
                    found.append(_violation(rows_before, value.index, line_of, name, value.reason))
    if found:
        found.sort(key=lambda v: (v.row or 0, v.column or ""))
        raise FileRejected(found[:MAX_VIOLATIONS])
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _columns_rule(table: FileTableConfig, names: list[str], line: int | None) -> list[Violation]:
    """Missing columns, and extra ones when the contract rejects them."""
    have = ", ".join(names) or "none"
    found = [
        Violation(line=line, column=name, reason=f"column is missing (the file has: {have})")
        for name in table.contract.names
        if name not in names
    ]
    if table.contract.extra_columns is ExtraColumns.reject:
        found += [
            Violation(line=line, column=name, reason="column is not in the contract (extra_columns: reject)")
            for name in names
            if name not in table.contract.names
        ]
    return found


# -- csv and tsv ---------------------------------------------------------------------------------


def _text_chunks(path: Path, table: FileTableConfig) -> Iterator[Chunk]:
    options = table.options
    invalid: list[Violation] = []
    parse = _parse_options(table, _invalid_rows(invalid))
    # pyarrow needs a row to fit in one block: blocks grow for long lines, up to the line cap
    longest = _longest_line(path, table)
    read = pcsv.ReadOptions(
        encoding=options.encoding,
        skip_rows=options.skip_rows,
        column_names=None if options.header else table.contract.names,
        block_size=max(_BLOCK_SIZE, 1 << (2 * longest + 2).bit_length()),
    )
    names = _text_header(path, table, read, parse, invalid)
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        include_columns=table.contract.names,
        null_values=options.null_values,
        strings_can_be_null=True,
    )
    schema = contract_schema(table.contract)
    first_line = options.skip_rows + (1 if options.header else 0) + 1
    rows_before = 0
    try:
        reader = pcsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise FileRejected([Violation(reason=_unreadable(table, exc))]) from exc
    with reader:
        while True:
            try:
                raw = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise FileRejected([*invalid, Violation(reason=_unreadable(table, exc))]) from exc
            if invalid:
                raise FileRejected(invalid)
            if raw.num_rows == 0:
                continue

            def line_of(index: int, start: int = first_line + rows_before) -> int | None:
                return None if options.newlines_in_values else start + index

            columns = {
                c.name: (lambda c=c, raw=raw: strings_to_type(raw.column(c.name), c, options))
                for c in table.contract.columns
            }
            yield _convert(columns, schema, rows_before, line_of), line_of
            rows_before += raw.num_rows
    if invalid:
        raise FileRejected(invalid)


def _text_header(
    path: Path,
    table: FileTableConfig,
    read: pcsv.ReadOptions,
    parse: pcsv.ParseOptions,
    invalid: list[Violation],
) -> list[str]:
    """The file's column names, checked against the contract's."""
    options = table.options
    header_line = options.skip_rows + 1 if options.header else None
    try:
        with pcsv.open_csv(path, read_options=read, parse_options=parse) as probe:
            names = list(probe.schema.names)
        invalid.clear()  # the probe parsed the first block: the read after it reports its rows again
    except pa.ArrowInvalid as exc:
        raise FileRejected([Violation(line=header_line, reason=_unreadable(table, exc))]) from exc
    problems = _columns_rule(table, names, header_line)
    if problems:
        raise FileRejected(problems[:MAX_VIOLATIONS])
    return names


def _parse_options(table: FileTableConfig, on_invalid: Callable[[Any], str]) -> pcsv.ParseOptions:
    """How pyarrow splits the file's rows: the table's delimiter, quote and escape, or the format's."""
    options = table.options
    tsv = table.format is LandingFormat.tsv
    quote = options.quote if options.quote is not None else ("" if tsv else '"')
    return pcsv.ParseOptions(
        delimiter=options.delimiter or ("\t" if tsv else ","),
        quote_char=quote or False,
        escape_char=options.escape or False,
        newlines_in_values=options.newlines_in_values,
        invalid_row_handler=on_invalid,
    )


def _invalid_rows(invalid: list[Violation]) -> Callable[[Any], str]:
    """pyarrow's handler of a row with more or fewer fields than the header: the row is noted in
    ``invalid`` (up to ``MAX_VIOLATIONS`` of them) and skipped."""

    def on_invalid(row: Any) -> str:
        if len(invalid) < MAX_VIOLATIONS:
            text = row.text if len(row.text) <= 60 else row.text[:57] + "..."
            where = {"line": row.number} if row.number and row.number > 0 else {}
            invalid.append(
                Violation(
                    **where,
                    reason=f"{row.actual_columns} field(s) where the header has {row.expected_columns}: "
                    f"{text!r}",
                )
            )
        return "skip"

    return on_invalid


def _unreadable(table: FileTableConfig, exc: Exception) -> str:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return f"not {table.options.encoding} text ({detail})"
    if isinstance(exc, RecursionError):
        return f"not a readable {table.format.value} file (nested too deep: {detail})"
    return f"not a readable {table.format.value} file ({detail})"


def _longest_line(path: Path, table: FileTableConfig) -> int:
    """The length in bytes of the file's longest line (after decompression); a line longer than
    ``max_line_bytes`` rejects the file naming it, having held no more than a chunk of it."""
    cap = table.options.max_line_bytes
    chunk_size = min(_SCAN_CHUNK, cap)  # a line inside one chunk is then never over the cap
    longest = current = 0
    line = 1
    with pa.input_stream(str(path), compression="detect") as stream:
        while chunk := stream.read(chunk_size):
            end = chunk.find(b"\n")
            if end < 0:
                current += len(chunk)
            else:
                current += end
                if current > cap:
                    break
                longest = max(longest, current)
                line += chunk.count(b"\n")
                current = len(chunk) - chunk.rfind(b"\n") - 1
            if current > cap:
                break
    if current > cap:
        raise FileRejected([_too_long(line, cap)])
    return max(longest, current)


def _too_long(line: int, cap: int) -> Violation:
    return Violation(
        line=line,
        reason=f"the line is longer than {cap:,} bytes (options.max_line_bytes); not read further",
    )


_SCAN_CHUNK = 1 << 19
_BLOCK_SIZE = 1 << 20


# -- JSON Lines ----------------------------------------------------------------------------------


class _JsonlRows:
    """The rows of a JSON Lines file read since the last batch, by contract column, with their
    lines."""

    def __init__(self, table: FileTableConfig) -> None:
        self.table = table
        self.schema = contract_schema(table.contract)
        self.values: dict[str, list[Any]] = {name: [] for name in table.contract.names}
        self.lines: list[int] = []
        self.rows_before = 0

    def add(self, record: dict[str, Any], number: int) -> None:
        for name, column in self.values.items():
            column.append(record.get(name))
        self.lines.append(number)

    def chunk(self) -> Chunk:
        """The rows as a batch of the contract; :class:`FileRejected` with their violations."""
        taken = {name: list(column) for name, column in self.values.items()}
        at = list(self.lines)

        def line_of(index: int) -> int | None:
            return at[index]

        options = self.table.options
        columns = {
            c.name: (lambda c=c: json_to_type(taken[c.name], c, options)) for c in self.table.contract.columns
        }
        return _convert(columns, self.schema, self.rows_before, line_of), line_of

    def take(self) -> Chunk:
        """The rows as a batch, and start the next batch."""
        chunk = self.chunk()
        self.rows_before += len(self.lines)
        for column in self.values.values():
            column.clear()
        self.lines.clear()
        return chunk


def _jsonl_chunks(path: Path, table: FileTableConfig) -> Iterator[Chunk]:
    options = table.options
    reject_extra = table.contract.extra_columns is ExtraColumns.reject
    rows = _JsonlRows(table)
    problems: list[Violation] = []
    with path.open(encoding=options.encoding, newline="\n") as fh:
        for number, text in _jsonl_lines(fh, options, problems):
            record = _jsonl_object(text, number)
            if isinstance(record, Violation):
                problems.append(record)
            else:
                if reject_extra:
                    problems += _extra_keys(record, rows.values, number)
                rows.add(record, number)
            if len(problems) >= MAX_VIOLATIONS:
                break
            if len(rows.lines) >= table.batch_size and not problems:
                yield rows.take()
    if problems:
        _reject_jsonl(problems, rows.chunk if rows.lines else None)
    if rows.lines:
        yield rows.take()


def _reject_jsonl(problems: list[Violation], flush: Callable[[], Chunk] | None) -> NoReturn:
    """Reject the file with its broken lines and, through ``flush``, the violations of the rows
    read but not yet converted."""
    if flush is not None:  # the rows before and around the broken lines may break the contract too
        try:
            flush()
        except FileRejected as rejected:
            problems += rejected.violations
    problems.sort(key=lambda v: (v.line or 0, v.column or ""))
    raise FileRejected(problems[:MAX_VIOLATIONS])


def _extra_keys(record: dict[str, Any], contract: Container[str], number: int) -> list[Violation]:
    return [
        Violation(line=number, column=key, reason="key is not in the contract (extra_columns: reject)")
        for key in record
        if key not in contract
    ]


def _jsonl_lines(fh: TextIO, options: FormatOptions, problems: list[Violation]) -> Iterator[tuple[int, str]]:
    """The file's lines that are not blank, with their 1-based numbers; a line that cannot be
    decoded, or is longer than ``max_line_bytes``, is noted in ``problems`` and ends the file."""
    number = 0
    while True:
        try:
            text = fh.readline(options.max_line_bytes + 1)
        except UnicodeDecodeError as exc:
            problems.append(Violation(line=number + 1, reason=f"not {options.encoding} text ({exc.reason})"))
            return
        if not text:
            return
        number += 1
        if len(text) > options.max_line_bytes and not text.endswith("\n"):
            problems.append(_too_long(number, options.max_line_bytes))
            return
        if text.strip():
            yield number, text


def _jsonl_object(text: str, number: int) -> dict[str, Any] | Violation:
    """The JSON object of line ``number``, or what makes it not one."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        return Violation(line=number, reason=f"not valid JSON ({getattr(exc, 'msg', exc)})")
    except RecursionError:
        return Violation(line=number, reason="not valid JSON (nested too deep)")
    if not isinstance(record, dict):
        return Violation(line=number, reason="a JSON Lines row must be an object {...}")
    return record


# -- Parquet -------------------------------------------------------------------------------------


def _parquet_chunks(path: Path, table: FileTableConfig) -> Iterator[Chunk]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileRejected([Violation(reason=_unreadable(table, exc))]) from exc
    with parquet:
        names = list(parquet.schema_arrow.names)
        problems = _columns_rule(table, names, None)
        if problems:
            raise FileRejected(problems[:MAX_VIOLATIONS])
        schema = contract_schema(table.contract)
        rows_before = 0

        def no_line(index: int) -> int | None:
            return None

        for raw in parquet.iter_batches(batch_size=table.batch_size, columns=table.contract.names):
            columns = {
                c.name: (lambda c=c, raw=raw: arrow_to_type(raw.column(c.name), c))
                for c in table.contract.columns
            }
            yield _convert(columns, schema, rows_before, no_line), no_line
            rows_before += raw.num_rows
