"""Pipeline config: YAML files read with ``yaml.safe_load`` into strict, typed models.

A config error names the file, the line, the key path, the value received and what is allowed,
so that the import error Airflow shows is enough to fix the file. Nothing here touches a
database, the network or an Airflow connection: this runs at DAG parse time.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import os
import re
import types
import typing
import unicodedata
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from tributary.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PIPELINES_DIR = PROJECT_ROOT / "include" / "pipelines"
PIPELINES_DIR_ENV = "TRIBUTARY_PIPELINES_DIR"

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
NAME_RULE = "a lower-case letter, then lower-case letters, digits or _ (at most 63 characters)"
LAKE_SCHEMES = ("file", "s3", "gs")
LAKE_URLS = "file:///abs/path, a path relative to the project, s3://bucket/prefix, gs://bucket/prefix"


def _config_error(
    what: str, *, key: tuple[int | str, ...] = (), got: str, allowed: str
) -> PydanticCustomError:
    """A validation error of a cross-field rule, carrying what the message formatter needs:
    ``key`` is the offending key relative to the model that raises it, ``got`` the value as shown."""
    return PydanticCustomError(
        "tributary", "{what}", {"what": what, "key": key, "got": got, "allowed": allowed}
    )


def first_repeat(names: Iterable[str]) -> tuple[int, int] | None:
    """``(index, index of its first listing)`` of the first name listed twice, if any."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        first = seen.setdefault(name, index)
        if first != index:
            return index, first
    return None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Mode(StrEnum):
    """How a table is read each run."""

    window = "window"  # rows whose date column falls in the run's window
    full = "full"  # the whole table, one snapshot per run
    watermark = "watermark"  # rows changed since the last committed high watermark


class SchemaDrift(StrEnum):
    """What a run does when the source's columns differ from the last committed partition's."""

    evolve = "evolve"  # new columns appear, dropped ones are written as nulls, types widen
    freeze = "freeze"  # any difference fails the extract, showing the difference
    discard_columns = "discard_columns"  # new columns are left out; dropped ones become nulls


class NullWatermark(StrEnum):
    """What a watermark run does with rows whose watermark column is NULL."""

    full_reload = "full_reload"  # read them in a full reload (first run, full_refresh) only
    ignore = "ignore"  # never read them


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str | int) -> dt.timedelta:
    """``'2h'`` -> 2 hours; units s, m, h, d; a bare number is seconds."""
    if isinstance(text, int):
        return dt.timedelta(seconds=text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


class Schedule(StrEnum):
    """The window a DAG run covers; a backfill is a range of windows."""

    monthly = "@monthly"
    daily = "@daily"


class Compression(StrEnum):
    snappy = "snappy"
    zstd = "zstd"
    gzip = "gzip"
    none = "none"


class SourceType(StrEnum):
    """What a source is: a database read table by table, or a landing zone of files."""

    database = "database"
    files = "files"


class SourceConfig(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE)]
    # a files source has a model of its own (FileSourceConfig); left out of dumps, as before
    type: Annotated[SourceType, Field(exclude=True)] = SourceType.database
    conn_id: Annotated[str, Field(min_length=1, description="the id of an Airflow connection")]
    max_connections: Annotated[int, Field(ge=1, le=64)] = 2
    # transient source failures (unreachable, timeout, deadlock, connection cut) are retried
    # this many times, the delay doubling from retry_delay_seconds; permanent ones are not
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    retry_delay_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    require_read_replica: Annotated[
        bool,
        Field(
            description="true or false: true makes every extract and verify refuse to read unless "
            "the connection reaches a read-only replica (PostgreSQL standby, SQL Server read-only "
            "or secondary database, SQLite opened with mode=ro)"
        ),
    ] = False
    application_intent: Annotated[
        Literal["ReadOnly", "ReadWrite"] | None,
        Field(
            description="ReadOnly or ReadWrite, for SQL Server sources only: ReadOnly opens sessions "
            "with read intent, which an availability group listener routes to a readable secondary"
        ),
    ] = None


class LakeConfig(_Strict):
    url: Annotated[str, Field(min_length=1, description=LAKE_URLS)]
    conn_id: str | None = None
    compression: Compression = Compression.snappy
    rows_per_file: Annotated[int, Field(ge=1_000)] = 1_000_000

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        return _storage_url(url, "lake")

    def resolved_url(self) -> str:
        """The lake URL with a relative local path made absolute against the project root."""
        return _resolved_url(self.url)


def _storage_url(url: str, what: str) -> str:
    """A lake or landing URL of a supported scheme, without its trailing slash."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if scheme not in LAKE_SCHEMES:
        raise _config_error(f"{what} scheme {scheme!r} is not supported", got=_show(url), allowed=LAKE_URLS)
    return url.rstrip("/")


def _resolved_url(url: str) -> str:
    """``url`` with a relative local path made absolute against the project root."""
    if "://" in url:
        return url
    path = Path(url)
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve().as_uri()


# --- QA checks ---------------------------------------------------------------------------------

CHECK_KINDS = ("not_null", "unique", "accepted_values", "row_count", "freshness")


class AcceptedValuesCheck(_Strict):
    column: Annotated[str, Field(min_length=1, description="the name of a column")]
    values: Annotated[
        list[str | int | float | bool],
        Field(min_length=1, description="a list of the values the column may hold, e.g. [open, closed]"),
    ]


class RowCountCheck(_Strict):
    min: Annotated[int | None, Field(ge=0, description="a whole number of at least 0")] = None
    max: Annotated[int | None, Field(ge=0, description="a whole number of at least 0")] = None

    @model_validator(mode="after")
    def _bounds(self) -> RowCountCheck:
        if self.min is None and self.max is None:
            raise _config_error(
                "row_count needs min, max or both",
                got="neither",
                allowed="min: <rows>, max: <rows>, e.g. {min: 1, max: 1000000}",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise _config_error(
                "row_count min is above max",
                key=("min",),
                got=f"min {self.min}, max {self.max}",
                allowed="min <= max",
            )
        return self


class FreshnessCheck(_Strict):
    column: Annotated[str, Field(min_length=1, description="the name of a timestamp or date column")]
    max_age: Annotated[str | int, Field(description="a duration like 30s, 15m, 2h or 1d")]

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value


class CheckConfig(_Strict):
    """One QA check of a table, run on the partition a run wrote, before ``_SUCCESS``: a list
    item with exactly one of the keys below."""

    not_null: Annotated[
        list[str] | None, Field(min_length=1, description="a list of column names, e.g. [id, amount]")
    ] = None
    unique: Annotated[
        list[str] | None,
        Field(min_length=1, description="a list of column names whose combination is unique, e.g. [id]"),
    ] = None
    accepted_values: AcceptedValuesCheck | None = None
    row_count: RowCountCheck | None = None
    freshness: FreshnessCheck | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CheckConfig:
        given = [kind for kind in CHECK_KINDS if getattr(self, kind) is not None]
        if len(given) != 1:
            raise _config_error(
                "a check is a list item with exactly one key",
                got=", ".join(given) if given else "no check",
                allowed="one of " + ", ".join(CHECK_KINDS) + " per list item",
            )
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in CHECK_KINDS if getattr(self, kind) is not None)

    @property
    def columns(self) -> list[str]:
        """The columns the check reads."""
        if self.not_null is not None:
            return list(self.not_null)
        if self.unique is not None:
            return list(self.unique)
        if self.accepted_values is not None:
            return [self.accepted_values.column]
        if self.freshness is not None:
            return [self.freshness.column]
        return []

    def describe(self) -> str:
        """The check as a user wrote it, for logs and the manifest: ``unique(order_id)``."""
        if self.accepted_values is not None:
            values = ", ".join(map(str, self.accepted_values.values))
            return f"accepted_values({self.accepted_values.column}: {values})"
        if self.row_count is not None:
            return f"row_count(min={self.row_count.min}, max={self.row_count.max})"
        if self.freshness is not None:
            return f"freshness({self.freshness.column} within {self.freshness.max_age})"
        return f"{self.kind}({', '.join(self.columns)})"


class TableConfig(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=128, description="the table's name in the source")]
    schema_: Annotated[str | None, Field(alias="schema")] = None
    mode: Mode
    date_column: str | None = None
    watermark_column: str | None = None
    lookback: Annotated[str | int, Field(description="a duration like 30s, 15m, 2h or 1d")] = 0
    safety_lag: Annotated[str | int, Field(description="a duration like 30s, 15m, 2h or 1d")] = "5m"
    initial_watermark: Annotated[
        dt.datetime | None, Field(description="a timestamp like 2025-01-01T00:00:00+00:00")
    ] = None
    null_watermark: NullWatermark = NullWatermark.full_reload
    schema_drift: SchemaDrift = SchemaDrift.evolve
    primary_key: list[str] = Field(default_factory=list)
    columns: list[str] | None = None
    batch_size: Annotated[int, Field(ge=1_000, le=1_000_000)] = 100_000
    checks: list[CheckConfig] = Field(default_factory=list)
    sessions: Annotated[
        int,
        Field(
            ge=1,
            le=16,
            description="source sessions one extract may hold (PostgreSQL: a whole table as parallel "
            "ctid ranges, a window as that many slices); each is a slot of the source pool",
        ),
    ] = 1

    @field_validator("lookback", "safety_lag")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value

    @model_validator(mode="after")
    def _mode_keys(self) -> TableConfig:
        if self.mode is Mode.window and not self.date_column:
            raise _config_error(
                "mode 'window' needs date_column, the column that places a row in a window",
                key=("date_column",),
                got="mode 'window' and no date_column",
                allowed="add date_column: <column>, or use mode 'full' to copy the whole table",
            )
        if self.mode is Mode.full and self.date_column:
            raise _config_error(
                "mode 'full' copies the whole table and takes no date_column",
                key=("date_column",),
                got=_show(self.date_column),
                allowed="remove date_column, or use mode 'window' to copy one window per run",
            )
        if self.mode is Mode.watermark and not self.watermark_column:
            raise _config_error(
                "mode 'watermark' needs watermark_column, the column a change moves forward",
                key=("watermark_column",),
                got="mode 'watermark' and no watermark_column",
                allowed="add watermark_column: <timestamp column>, e.g. modified_at",
            )
        if self.mode is not Mode.watermark and self.watermark_column:
            raise _config_error(
                f"mode {self.mode.value!r} takes no watermark_column",
                key=("watermark_column",),
                got=_show(self.watermark_column),
                allowed="remove watermark_column, or use mode 'watermark'",
            )
        if self.mode is Mode.watermark and self.date_column:
            raise _config_error(
                "mode 'watermark' reads by watermark_column and takes no date_column",
                key=("date_column",),
                got=_show(self.date_column),
                allowed="remove date_column",
            )
        return self

    @property
    def filter_column(self) -> str | None:
        """The column a run's bounds apply to: the date column, or the watermark column."""
        return self.date_column or self.watermark_column

    @property
    def group_id(self) -> str:
        """A task-group id for the table: letters, digits and underscores only."""
        return _group_id(self.name)


def _group_id(name: str) -> str:
    """ASCII letters, digits and ``_`` (valid in Airflow ids, log paths and URLs): accents are
    dropped (``ünïcödé`` → ``unicode``), every other character becomes ``_``. Two tables that
    come out the same are refused by the pipeline's validation."""
    letters = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in letters if not unicodedata.combining(char))
    return re.sub(r"[^A-Za-z0-9_]", "_", plain)


class PipelineConfig(_Strict):
    source: SourceConfig
    lake: LakeConfig
    schedule: Schedule = Schedule.monthly
    start_date: dt.date
    end_date: dt.date | None = None
    max_active_runs: Annotated[int, Field(ge=1, le=64)] = 2
    tags: list[str] = Field(default_factory=list)
    tables: Annotated[list[TableConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_tables(self) -> PipelineConfig:
        repeat = first_repeat(t.group_id for t in self.tables)
        if repeat:
            index, first = repeat
            table = self.tables[index]
            also = "" if table.name == self.tables[first].name else f" ({self.tables[first].name!r})"
            raise _config_error(
                f"table {table.name!r} is already listed as tables[{first}]{also}; "
                f"both would be task group {table.group_id!r}",
                key=("tables", index, "name"),
                got=_show(table.name),
                allowed="each table once",
            )
        for index, table in enumerate(self.tables):
            if table.sessions > self.source.max_connections:
                raise _config_error(
                    f"table {table.name!r} asks for {table.sessions} sessions, more than the source's "
                    f"pool has slots (max_connections: {self.source.max_connections})",
                    key=("tables", index, "sessions"),
                    got=_show(table.sessions),
                    allowed=f"1 to {self.source.max_connections}, or raise source.max_connections",
                )
        if self.end_date and self.end_date <= self.start_date:
            raise _config_error(
                "end_date must be after start_date",
                key=("end_date",),
                got=_show(self.end_date),
                allowed=f"a date after start_date {self.start_date.isoformat()}, or no end_date",
            )
        return self

    @property
    def dag_id(self) -> str:
        return f"replicate_{self.source.name}"

    @property
    def pool(self) -> str:
        return f"source_{self.source.name}"


# --- file sources --------------------------------------------------------------------------------


class FileFormat(StrEnum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    parquet = "parquet"


class OnViolation(StrEnum):
    """What a run does when a file breaks the table's contract (the good files load either way)."""

    fail = "fail"  # the good files are committed, then the commit task fails naming the rejected ones
    warn = "warn"  # the good files are committed and the rejected ones are logged as warnings


class ExtraColumns(StrEnum):
    ignore = "ignore"  # columns a file has beyond the contract are left out
    reject = "reject"  # a file with columns beyond the contract is rejected


COLUMN_TYPE_PATTERN = (
    r"^(string|int8|int16|int32|int64|float32|float64|boolean|date|timestamp|timestamptz"
    r"|decimal\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\))$"
)
COLUMN_TYPES = (
    "string, int8, int16, int32, int64, float32, float64, boolean, date, timestamp (no time zone), "
    "timestamptz (UTC instant), decimal(p,s)"
)
DEFAULT_MAX_LINE_BYTES = 16 << 20  # a longer line rejects its file before it is held in memory
MAX_LINE_BYTES_LIMIT = 256 << 20
_CSV_ONLY_OPTIONS = ("delimiter", "header", "quote", "escape", "null_values", "true_values",
                     "false_values", "skip_rows", "newlines_in_values")  # fmt: skip


class FormatOptions(_Strict):
    """How the text of a file is read: csv and tsv take every key, jsonl takes encoding and the
    date and timestamp formats, parquet takes none."""

    delimiter: Annotated[str | None, Field(min_length=1, max_length=1, description="one character")] = None
    header: bool = True
    quote: Annotated[
        str | None,
        Field(
            max_length=1,
            description="one character, or '' for no quoting (default: \" for csv, none for tsv)",
        ),
    ] = None
    escape: Annotated[str | None, Field(min_length=1, max_length=1, description="one character")] = None
    encoding: Annotated[str, Field(min_length=1, description="a Python codec name, e.g. utf-8, latin-1")] = (
        "utf-8"
    )
    null_values: list[str] = Field(default_factory=lambda: [""])
    true_values: list[str] = Field(default_factory=lambda: ["true", "True", "TRUE", "1"])
    false_values: list[str] = Field(default_factory=lambda: ["false", "False", "FALSE", "0"])
    timestamp_formats: Annotated[
        list[str],
        Field(description="a list of strptime formats, e.g. ['%d/%m/%Y %H:%M:%S']; empty: ISO 8601"),
    ] = Field(default_factory=list)
    date_formats: Annotated[
        list[str], Field(description="a list of strptime formats, e.g. ['%d/%m/%Y']; empty: YYYY-MM-DD")
    ] = Field(default_factory=list)
    skip_rows: Annotated[int, Field(ge=0, le=1000)] = 0
    newlines_in_values: bool = False
    max_line_bytes: Annotated[
        int,
        Field(
            ge=1024,
            le=MAX_LINE_BYTES_LIMIT,
            description="the longest line read, in bytes (jsonl: characters), from 1024 to 268435456 "
            "(256 MiB); default 16777216 (16 MiB)",
        ),
    ] = DEFAULT_MAX_LINE_BYTES

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise _config_error(
                f"unknown encoding {value!r}", got=_show(value), allowed="a Python codec name, e.g. utf-8"
            ) from None
        return value


class ContractColumn(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=128, description="the column's name in the files")]
    type: Annotated[str, Field(pattern=COLUMN_TYPE_PATTERN, description=COLUMN_TYPES)]
    nullable: bool = True


class Contract(_Strict):
    """What every file of a table must hold: these columns with these types, no NULL where the
    column is not nullable (nor in the primary key), and no primary key twice in a file."""

    columns: Annotated[list[ContractColumn], Field(min_length=1)]
    primary_key: list[str] = Field(default_factory=list)
    extra_columns: ExtraColumns = ExtraColumns.ignore

    @model_validator(mode="after")
    def _names(self) -> Contract:
        repeat = first_repeat(c.name for c in self.columns)
        if repeat:
            index, first = repeat
            raise _config_error(
                f"column {self.columns[index].name!r} is already listed as columns[{first}]",
                key=("columns", index, "name"),
                got=_show(self.columns[index].name),
                allowed="each column once",
            )
        seen = [c.name for c in self.columns]
        for index, name in enumerate(self.primary_key):
            if name not in seen:
                raise _config_error(
                    f"primary key column {name!r} is not a column of the contract",
                    key=("primary_key", index),
                    got=_show(name),
                    allowed=", ".join(seen),
                )
        clash = sorted(n for n in seen if n.startswith("_") and n in _AUDIT_NAMES)
        if clash:
            raise _config_error(
                f"column {clash[0]!r} is one of Tributary's audit columns",
                key=("columns", seen.index(clash[0]), "name"),
                got=_show(clash[0]),
                allowed="a name other than " + ", ".join(sorted(_AUDIT_NAMES)),
            )
        return self

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


# the audit columns of tributary.audit, named here so that parse time imports no pyarrow
_AUDIT_NAMES = frozenset(
    {"_batch_id", "_ingestion_time", "_source_system", "_source_file", "_file_modified_time"}
)


class FileSourceConfig(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE)]
    type: SourceType
    url: Annotated[
        str,
        Field(
            min_length=1,
            description="the landing location: " + LAKE_URLS.replace("/prefix", "/prefix of the files"),
        ),
    ]
    conn_id: Annotated[
        str | None, Field(description="the id of an Airflow connection (aws, google_cloud_platform)")
    ] = None
    max_connections: Annotated[
        int,
        Field(
            ge=1, le=64, description="a whole number from 1 to 64: the most files read at once (pool slots)"
        ),
    ] = 2
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    retry_delay_seconds: Annotated[int, Field(ge=1, le=3600)] = 60

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        return _storage_url(url, "landing")

    def resolved_url(self) -> str:
        """The landing URL with a relative local path made absolute against the project root."""
        return _resolved_url(self.url)


def _relative_pattern(value: str, what: str, example: str) -> str:
    if value.startswith("/") or "://" in value or ".." in value.split("/"):
        raise _config_error(
            f"{what} is relative to source.url",
            got=_show(value),
            allowed=f"a path under the landing location without '..', e.g. {example}",
        )
    return value


class FileTableConfig(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=128, description="the table's name in the lake")]
    glob: Annotated[
        str,
        Field(min_length=1, description="a glob under source.url, e.g. orders/*.csv or orders/**/*.jsonl"),
    ]
    format: FileFormat
    options: FormatOptions = Field(default_factory=FormatOptions)
    contract: Annotated[
        Contract,
        Field(
            description="a mapping with keys columns, primary_key, extra_columns, or the path of a "
            "schema YAML file (relative to this config file)"
        ),
    ]
    on_violation: OnViolation = OnViolation.fail
    quarantine: Annotated[
        str | None,
        Field(description="a prefix under source.url that rejected files are moved to, e.g. quarantine"),
    ] = None
    batch_size: Annotated[int, Field(ge=1_000, le=1_000_000)] = 100_000
    checks: list[CheckConfig] = Field(default_factory=list)
    quiet_period: Annotated[
        str | int,
        Field(
            description="a landing file is loaded once it has not changed for this long (its modified "
            "time is older), e.g. 60s, 5m; a younger file may still be being written and waits for a "
            "later run; 0s loads every file listed"
        ),
    ] = "60s"

    @field_validator("quiet_period")
    @classmethod
    def _quiet_period(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value

    @field_validator("glob")
    @classmethod
    def _glob_under_root(cls, value: str) -> str:
        return _relative_pattern(value, "glob", "orders/*.csv")

    @field_validator("quarantine")
    @classmethod
    def _quarantine_under_root(cls, value: str | None) -> str | None:
        return None if value is None else _relative_pattern(value, "quarantine", "quarantine").strip("/")

    @model_validator(mode="after")
    def _format_keys(self) -> FileTableConfig:
        given = [key for key in self.options.model_fields_set if key in FormatOptions.model_fields]
        if self.format is FileFormat.parquet and given:
            raise _config_error(
                "format 'parquet' is self-describing and takes no options",
                key=("options", sorted(given)[0]),
                got=_show(sorted(given)[0]),
                allowed="remove options",
            )
        csv_only = sorted(set(given) & set(_CSV_ONLY_OPTIONS))
        if self.format is FileFormat.jsonl and csv_only:
            raise _config_error(
                f"format 'jsonl' takes no option {csv_only[0]!r}",
                key=("options", csv_only[0]),
                got=_show(csv_only[0]),
                allowed="encoding, timestamp_formats, date_formats",
            )
        known = {*self.contract.names, *_AUDIT_NAMES}
        for index, check in enumerate(self.checks):
            for column in check.columns:
                if column not in known:
                    raise _config_error(
                        f"check {check.kind} names column {column!r}, which is not in the contract",
                        key=("checks", index, check.kind),
                        got=_show(column),
                        allowed=", ".join([*self.contract.names, *sorted(_AUDIT_NAMES)]),
                    )
        return self

    @property
    def group_id(self) -> str:
        """A task-group id for the table: letters, digits and underscores only."""
        return _group_id(self.name)

    @property
    def sessions(self) -> int:
        """Pool slots an extract holds: a file table reads one file at a time."""
        return 1


class FilesPipelineConfig(PipelineConfig):
    """A pipeline whose source is a landing zone of files (``source.type: files``): each run
    loads the files that are new or changed since the last committed run."""

    source: FileSourceConfig  # type: ignore[assignment]
    tables: Annotated[list[FileTableConfig], Field(min_length=1)]  # type: ignore[assignment]


def _model_for(data: dict[str, Any]) -> type[PipelineConfig]:
    """The model of a config: a files source by ``source.type``, a database source otherwise."""
    source = data.get("source")
    if isinstance(source, dict) and source.get("type") == SourceType.files.value:
        return FilesPipelineConfig
    return PipelineConfig


# --- reading YAML with line numbers -----------------------------------------------------------

Loc = tuple[int | str, ...]


# libyaml's parser when PyYAML was built with it: parse time stays small for big configs
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """A safe loader that keeps a date it cannot construct (``2025-13-01``) as text, so the
    model reports it against its key instead of PyYAML raising a bare ``ValueError``."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _parse(text: str) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML document and its node tree (for line numbers), from one parse."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    finally:
        loader.dispose()


def _duplicate_key(
    node: yaml.Node | None, loc: Loc = (), visited: set[int] | None = None
) -> tuple[Loc, yaml.Node, yaml.Node] | None:
    """The first key that appears twice in one mapping: PyYAML silently keeps the last one."""
    visited = set() if visited is None else visited
    if id(node) in visited:  # an alias: already checked, and it may point back at itself
        return None
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, yaml.Node] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else None
            if name is not None and name in seen:
                return (*loc, name), seen[name], key
            seen.setdefault(name, key)
            found = _duplicate_key(value, (*loc, name) if name is not None else loc, visited)
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _duplicate_key(item, (*loc, index), visited)
            if found:
                return found
    return None


def _line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """1-based line of the deepest key (or list item) of ``loc`` present in the YAML tree."""
    if root is None:
        return None
    node: yaml.Node | None = root
    line = root.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _key_path(loc: Loc) -> str:
    path = ""
    for key in loc:
        path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
    return path or "(top level)"


# --- what a key allows, read from the models ------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _field_at(loc: Loc, model: type[BaseModel] | None = None) -> tuple[Any, FieldInfo | None]:
    """The type annotation and field of the key at ``loc`` (``None``, ``None`` if unknown)."""
    annotation: Any = model or PipelineConfig
    field: FieldInfo | None = None
    for key in loc:
        annotation = _unwrap(annotation)
        if isinstance(key, int):
            if typing.get_origin(annotation) is not list:
                return None, None
            annotation, field = typing.get_args(annotation)[0], None
        elif _is_model(annotation):
            by_key = {f.alias or n: f for n, f in annotation.model_fields.items()}
            if key not in by_key:
                return None, None
            field = by_key[key]
            annotation = field.annotation
        else:
            return None, None
    return annotation, field


def _bounds(field: FieldInfo | None) -> tuple[Any, Any]:
    low = high = None
    for rule in field.metadata if field else ():
        if isinstance(rule, annotated_types.Ge):
            low = rule.ge
        elif isinstance(rule, annotated_types.Le):
            high = rule.le
    return low, high


def _allowed(annotation: Any, field: FieldInfo | None) -> str:
    """What a key accepts, in the words of the YAML file."""
    if field is not None and field.description:
        return field.description
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ", ".join(str(member.value) for member in annotation)
    if _is_model(annotation):
        return "a mapping with keys " + ", ".join(_keys(annotation))
    if annotation is bool:
        return "true or false"
    if annotation is int:
        low, high = _bounds(field)
        if low is not None and high is not None:
            return f"a whole number from {low} to {high}"
        return f"a whole number of at least {low}" if low is not None else "a whole number"
    if annotation is dt.date:
        return "a date as YYYY-MM-DD"
    if annotation is str:
        return "text"
    if origin is list:
        item = typing.get_args(annotation)[0]
        if _is_model(item):
            return "a list of mappings with keys " + ", ".join(_keys(item))
        return "a list of names, e.g. [id, created_at]"
    return str(annotation)


# --- messages ------------------------------------------------------------------------------

_PROBLEMS = {
    "missing": "required key is missing",
    "enum": "not one of the allowed values",
    "literal_error": "not one of the allowed values",
    "string_pattern_mismatch": "not a valid name",
    "greater_than_equal": "out of range",
    "less_than_equal": "out of range",
    "greater_than": "out of range",
    "less_than": "out of range",
    "int_parsing": "not a whole number",
    "int_type": "not a whole number",
    "int_from_float": "not a whole number",
    "bool_parsing": "not true or false",
    "bool_type": "not true or false",
    "string_type": "not text",
    "string_too_short": "must not be empty",
    "string_too_long": "too long",
    "date_parsing": "not a date",
    "date_type": "not a date",
    "date_from_datetime_parsing": "not a date",
    "date_from_datetime_inexact": "a date without a time of day is expected",
    "list_type": "not a list",
    "too_short": "the list is too short",
    "model_type": "not a mapping",
    "model_attributes_type": "not a mapping",
    "dict_type": "not a mapping",
}


def _show(value: Any) -> str:
    """A received value as the user wrote it, shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = (
        repr(value)
        if isinstance(value, str | int | float)
        else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    )
    return text if len(text) <= 80 else text[:77] + "..."


def _error_line(path: Path, line: int | None, key: str, what: str, got: str | None, allowed: str) -> str:
    """One line of a config error:
    ``<file>, line <n>, key <path>: <what is wrong>; got <value>; allowed: <...>``."""
    received = f"; got {got}" if got is not None else ""
    return f"  {path.name}, line {line or '?'}, key {key}: {what}{received}; allowed: {allowed}"


def _describe(
    path: Path, root: yaml.Node | None, error: Any, model: type[BaseModel] | None = None
) -> tuple[int, str]:
    """(line, message line) of one pydantic error."""
    kind, ctx = error["type"], error.get("ctx") or {}
    loc: Loc = tuple(error["loc"])
    got: str | None = _show(error.get("input"))
    if kind == "tributary":
        loc = (*loc, *ctx["key"])
        what, got, allowed = ctx["what"], ctx["got"], ctx["allowed"]
    elif kind == "extra_forbidden":
        parent, _ = _field_at(loc[:-1], model)
        keys = _keys(_unwrap(parent)) if _is_model(_unwrap(parent)) else []
        near = difflib.get_close_matches(str(loc[-1]), keys, n=1)
        what = "unknown key" + (f" (did you mean {near[0]!r}?)" if near else "")
        got, allowed = repr(loc[-1]), ", ".join(keys) or "no other keys"
    else:
        annotation, field = _field_at(loc, model)
        what = _PROBLEMS.get(kind) or str(error["msg"]).removeprefix("Value error, ")
        if kind == "string_pattern_mismatch" and loc and loc[-1] == "type":
            what = "not a known column type"
        allowed = _allowed(annotation, field) if annotation is not None else str(ctx or "see the docs")
        if kind == "missing":
            got = None
        elif kind in ("enum", "literal_error") and isinstance(error.get("input"), str):
            choices = [c.strip() for c in allowed.split(",")]
            near = difflib.get_close_matches(error["input"], choices, n=1)
            what += f" (did you mean {near[0]!r}?)" if near else ""
        elif kind == "too_short":
            what = f"needs at least {ctx.get('min_length', 1)} item(s)"
    line = _line_of(root, loc) or 0
    return line, _error_line(path, line, _key_path(loc), what, got, allowed)


def _format_errors(
    path: Path,
    root: yaml.Node | None,
    exc: ValidationError,
    model: type[BaseModel] | None = None,
    what: str = "pipeline config",
) -> str:
    described = sorted((_describe(path, root, e, model) for e in exc.errors()), key=lambda d: d[0])
    count = len(described)
    header = f"{path}: invalid {what} ({count} error{'s' if count > 1 else ''})"
    return "\n".join([header, *(text for _, text in described)])


def _read(path: Path) -> tuple[PipelineConfig, yaml.Node]:
    """The validated config of a file and its YAML node tree."""
    data, root = _read_yaml(path, "pipeline config")
    if not isinstance(data, dict) or root is None:
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"{path}: invalid pipeline config (1 error)\n"
            + _error_line(
                path,
                root.start_mark.line + 1 if root is not None else 1,
                "(top level)",
                "a pipeline config is a mapping of keys",
                got,
                "a mapping with keys " + ", ".join(_keys(PipelineConfig)),
            )
        )
    model = _model_for(data)
    if model is FilesPipelineConfig:
        data = _with_contract_files(path, root, data)
    try:
        return model.model_validate(data), root
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, root, exc, model)) from exc


def _with_contract_files(path: Path, root: yaml.Node, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every ``contract: <file>`` of a table replaced by that schema file's
    contract, validated on its own so that its errors name the schema file, line and key."""
    tables = data.get("tables")
    if not isinstance(tables, list):
        return data
    resolved = []
    for index, table in enumerate(tables):
        reference = table.get("contract") if isinstance(table, dict) else None
        if isinstance(reference, str):
            table = {**table, "contract": _contract_file(path, root, index, reference)}
        resolved.append(table)
    return {**data, "tables": resolved}


def _contract_file(path: Path, root: yaml.Node, index: int, reference: str) -> dict[str, Any]:
    schema_path = Path(reference).expanduser()
    schema_path = schema_path if schema_path.is_absolute() else path.parent / schema_path
    key = ("tables", index, "contract")
    try:
        data, schema_root = _read_yaml(schema_path, "schema file")
    except ConfigError as exc:
        raise ConfigError(
            f"{path}: invalid pipeline config (1 error)\n"
            + _error_line(path, _line_of(root, key), _key_path(key), str(exc).replace("\n", ";"),
                          _show(reference), "the path of a schema YAML file, relative to this config file")
        ) from exc  # fmt: skip
    if not isinstance(data, dict) or schema_root is None:
        raise ConfigError(
            f"{schema_path}: invalid schema file (1 error)\n"
            + _error_line(schema_path, 1, "(top level)", "a schema file is a mapping of keys",
                          "an empty file" if data is None else f"a {type(data).__name__}",
                          "a mapping with keys " + ", ".join(_keys(Contract)))
        )  # fmt: skip
    try:
        return Contract.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        message = _format_errors(schema_path, schema_root, exc, Contract, "schema file")
        raise ConfigError(f"{message}\n  (the contract of {path.name}, key {_key_path(key)})") from exc


def _read_yaml(path: Path, what: str) -> tuple[Any, yaml.Node | None]:
    """The data and node tree of a YAML file, or a ``ConfigError`` naming its line and column."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM, as some Windows editors write
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        noun = "config file" if what == "pipeline config" else what
        raise ConfigError(f"{path}: cannot read the {noun}: {reason}") from exc
    try:
        data, root = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "line ?"
        problem = ", ".join(p for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "\t" in lines[mark.line]:
            hint = "YAML indents with spaces, not tabs"
        else:
            hint = "check the indentation, and quote values that hold ': ' or start with @, *, & or ["
        raise ConfigError(
            f"{path}: not valid YAML\n  {path.name}, {where}: not valid YAML: {problem or exc}; {hint}"
        ) from exc
    duplicate = _duplicate_key(root)
    if duplicate:
        loc, first, again = duplicate
        raise ConfigError(
            f"{path}: invalid {what} (1 error)\n"
            + _error_line(
                path,
                again.start_mark.line + 1,
                _key_path(loc),
                f"key is given twice (first on line {first.start_mark.line + 1}); YAML would keep "
                "only the last",
                repr(loc[-1]),
                "each key once per mapping",
            )
        )
    return data, root


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    """Read and validate one pipeline config file; raise ``ConfigError`` with a precise message."""
    return _read(Path(path))[0]


def pipelines_dir() -> Path:
    """The folder of pipeline configs: ``$TRIBUTARY_PIPELINES_DIR`` (a relative path is taken
    from the project root, as the DAG processor's working directory is not known) or
    ``include/pipelines``."""
    folder = Path(os.environ.get(PIPELINES_DIR_ENV) or DEFAULT_PIPELINES_DIR).expanduser()
    return folder if folder.is_absolute() else PROJECT_ROOT / folder


def config_files(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Pipeline config files in ``folder``, sorted so generation is deterministic."""
    folder = Path(folder) if folder is not None else pipelines_dir()
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_all(
    folder: str | os.PathLike[str] | None = None,
) -> tuple[list[tuple[Path, PipelineConfig]], list[ConfigError]]:
    """Every valid config in ``folder`` and every error, so one bad file hides no good one."""
    folder = Path(folder) if folder is not None else pipelines_dir()
    if not folder.is_dir():
        # a mistyped $TRIBUTARY_PIPELINES_DIR must not make every DAG vanish without a word
        return [], [
            ConfigError(f"{folder}: the pipeline config folder does not exist (${PIPELINES_DIR_ENV})")
        ]
    configs: list[tuple[Path, PipelineConfig]] = []
    errors: list[ConfigError] = []
    names: dict[str, Path] = {}
    for path in config_files(folder):
        try:
            config, root = _read(path)
        except ConfigError as exc:
            errors.append(exc)
            continue
        except Exception as exc:  # whatever went wrong, it is this file's error, not every file's
            errors.append(ConfigError(f"{path}: cannot be loaded: {type(exc).__name__}: {exc}"))
            continue
        name = config.source.name
        if name in names:
            errors.append(
                ConfigError(
                    f"{path}: invalid pipeline config (1 error)\n"
                    + _error_line(
                        path,
                        _line_of(root, ("source", "name")),
                        "source.name",
                        f"source name {name!r} is already used by {names[name].name} "
                        f"(it names the DAG {config.dag_id} and the pool {config.pool})",
                        repr(name),
                        f"a name that no other config file in {folder} uses",
                    )
                )
            )
            continue
        names[name] = path
        configs.append((path, config))
    return configs, errors


SourceKind = Literal["sqlite", "postgres", "mssql"]
