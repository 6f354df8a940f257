"""Models of file sources: a landing zone of files, each table a glob of one format read
against a contract."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from tributary.config.base import (
    LAKE_URLS,
    NAME_PATTERN,
    NAME_RULE,
    StrictModel,
    config_error,
    first_repeat,
    parse_duration,
    resolve_url,
    show,
    storage_url,
    task_group_id,
)
from tributary.config.database import CheckConfig, PipelineConfig, SourceType


class LandingFormat(StrEnum):
    """The format of the files a file table loads from the landing zone."""

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


class FormatOptions(StrictModel):
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
            raise config_error(
                f"unknown encoding {value!r}", got=show(value), allowed="a Python codec name, e.g. utf-8"
            ) from None
        return value


class ContractColumn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=128, description="the column's name in the files")]
    type: Annotated[str, Field(pattern=COLUMN_TYPE_PATTERN, description=COLUMN_TYPES)]
    nullable: bool = True


class Contract(StrictModel):
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
            raise config_error(
                f"column {self.columns[index].name!r} is already listed as columns[{first}]",
                key=("columns", index, "name"),
                got=show(self.columns[index].name),
                allowed="each column once",
            )
        seen = [c.name for c in self.columns]
        for index, name in enumerate(self.primary_key):
            if name not in seen:
                raise config_error(
                    f"primary key column {name!r} is not a column of the contract",
                    key=("primary_key", index),
                    got=show(name),
                    allowed=", ".join(seen),
                )
        clash = sorted(n for n in seen if n.startswith("_") and n in _AUDIT_NAMES)
        if clash:
            raise config_error(
                f"column {clash[0]!r} is one of Tributary's audit columns",
                key=("columns", seen.index(clash[0]), "name"),
                got=show(clash[0]),
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


class FileSourceConfig(StrictModel):
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
        return storage_url(url, "landing")

    def resolved_url(self) -> str:
        """The landing URL with a relative local path made absolute against the project root."""
        return resolve_url(self.url)


def _relative_pattern(value: str, what: str, example: str) -> str:
    if value.startswith("/") or "://" in value or ".." in value.split("/"):
        raise config_error(
            f"{what} is relative to source.url",
            got=show(value),
            allowed=f"a path under the landing location without '..', e.g. {example}",
        )
    return value


class FileTableConfig(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=128, description="the table's name in the lake")]
    glob: Annotated[
        str,
        Field(min_length=1, description="a glob under source.url, e.g. orders/*.csv or orders/**/*.jsonl"),
    ]
    format: LandingFormat
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
        if self.format is LandingFormat.parquet and given:
            raise config_error(
                "format 'parquet' is self-describing and takes no options",
                key=("options", sorted(given)[0]),
                got=show(sorted(given)[0]),
                allowed="remove options",
            )
        csv_only = sorted(set(given) & set(_CSV_ONLY_OPTIONS))
        if self.format is LandingFormat.jsonl and csv_only:
            raise config_error(
                f"format 'jsonl' takes no option {csv_only[0]!r}",
                key=("options", csv_only[0]),
                got=show(csv_only[0]),
                allowed="encoding, timestamp_formats, date_formats",
            )
        known = {*self.contract.names, *_AUDIT_NAMES}
        for index, check in enumerate(self.checks):
            for column in check.columns:
                if column not in known:
                    raise config_error(
                        f"check {check.kind} names column {column!r}, which is not in the contract",
                        key=("checks", index, check.kind),
                        got=show(column),
                        allowed=", ".join([*self.contract.names, *sorted(_AUDIT_NAMES)]),
                    )
        return self

    @property
    def group_id(self) -> str:
        """A task-group id for the table: letters, digits and underscores only."""
        return task_group_id(self.name)

    @property
    def sessions(self) -> int:
        """Pool slots an extract holds: a file table reads one file at a time."""
        return 1


class FilesPipelineConfig(PipelineConfig):
    """A pipeline whose source is a landing zone of files (``source.type: files``): each run
    loads the files that are new or changed since the last committed run."""

    source: FileSourceConfig  # type: ignore[assignment]
    tables: Annotated[list[FileTableConfig], Field(min_length=1)]  # type: ignore[assignment]
