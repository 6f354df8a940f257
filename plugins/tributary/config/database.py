"""Models of database sources: the source, its lake, its tables, their QA checks, and the
pipeline that ties them together."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

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


class Mode(StrEnum):
    """How a table is read each run."""

    window = "window"  # rows whose date column falls in the run's window
    full = "full"  # the whole table, one snapshot per run
    watermark = "watermark"  # rows changed since the last committed high watermark
    cdc = "cdc"  # the changes the source's log recorded since the last committed position


class Deletes(StrEnum):
    """How rows deleted in the source reach the lake (a ``cdc`` table records them anyway)."""

    ignore = "ignore"  # a deleted row stays in bronze (soft deletes are the source's business)
    detect_by_keys = "detect_by_keys"  # tombstones for keys the lake has and the source lost


class SchemaDrift(StrEnum):
    """What a run does when the source's columns differ from the last committed partition's."""

    evolve = "evolve"  # new columns appear, dropped ones are written as nulls, types widen
    freeze = "freeze"  # any difference fails the extract, showing the difference
    discard_columns = "discard_columns"  # new columns are left out; dropped ones become nulls


class NullWatermark(StrEnum):
    """What a watermark run does with rows whose watermark column is NULL."""

    full_reload = "full_reload"  # read them in a full reload (first run, full_refresh) only
    ignore = "ignore"  # never read them


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


class CdcConfig(StrictModel):
    """Change capture of a source: where its ``cdc`` tables read their changes from."""

    # PostgreSQL: one logical replication slot and one publication per source, not per table
    slot: Annotated[str | None, Field(pattern=r"^[a-z0-9_]{1,63}$", description="slot name")] = None
    publication: Annotated[str | None, Field(min_length=1, max_length=63)] = None
    # the log warns when the slot holds back more WAL than this (a slot that is not read fills
    # the server's disk; see max_slot_wal_keep_size)
    warn_retained_wal_mb: Annotated[int, Field(ge=1)] = 1024


class SourceConfig(StrictModel):
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
    cdc: CdcConfig | None = None  # change capture settings; defaults when a table is in mode cdc

    @property
    def slot_name(self) -> str:
        """The PostgreSQL replication slot of the source's ``cdc`` tables."""
        return (self.cdc.slot if self.cdc else None) or f"tributary_{self.name}"

    @property
    def publication_name(self) -> str:
        """The PostgreSQL publication of the source's ``cdc`` tables."""
        return (self.cdc.publication if self.cdc else None) or f"tributary_{self.name}"


class LakeConfig(StrictModel):
    url: Annotated[str, Field(min_length=1, description=LAKE_URLS)]
    conn_id: str | None = None
    compression: Compression = Compression.snappy
    rows_per_file: Annotated[int, Field(ge=1_000)] = 1_000_000

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        return storage_url(url, "lake")

    def resolved_url(self) -> str:
        """The lake URL with a relative local path made absolute against the project root."""
        return resolve_url(self.url)


# --- QA checks ---------------------------------------------------------------------------------

CHECK_KINDS = ("not_null", "unique", "accepted_values", "row_count", "freshness")


class AcceptedValuesCheck(StrictModel):
    column: Annotated[str, Field(min_length=1, description="the name of a column")]
    values: Annotated[
        list[str | int | float | bool],
        Field(min_length=1, description="a list of the values the column may hold, e.g. [open, closed]"),
    ]


class RowCountCheck(StrictModel):
    min: Annotated[int | None, Field(ge=0, description="a whole number of at least 0")] = None
    max: Annotated[int | None, Field(ge=0, description="a whole number of at least 0")] = None

    @model_validator(mode="after")
    def _bounds(self) -> RowCountCheck:
        if self.min is None and self.max is None:
            raise config_error(
                "row_count needs min, max or both",
                got="neither",
                allowed="min: <rows>, max: <rows>, e.g. {min: 1, max: 1000000}",
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise config_error(
                "row_count min is above max",
                key=("min",),
                got=f"min {self.min}, max {self.max}",
                allowed="min <= max",
            )
        return self


class FreshnessCheck(StrictModel):
    column: Annotated[str, Field(min_length=1, description="the name of a timestamp or date column")]
    max_age: Annotated[str | int, Field(description="a duration like 30s, 15m, 2h or 1d")]

    @field_validator("max_age")
    @classmethod
    def _duration(cls, value: str | int) -> str | int:
        parse_duration(value)
        return value


class CheckConfig(StrictModel):
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
            raise config_error(
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


class TableConfig(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=128, description="the table's name in the source")]
    # Field(default=...) rather than Annotated: only there do type checkers take the alias as the
    # keyword, so TableConfig(schema=...) type-checks
    schema_: str | None = Field(default=None, alias="schema")
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
    deletes: Deletes = Deletes.ignore
    # detect_by_keys fails the run instead of writing tombstones for more than this share of the
    # keys the lake holds (a read that came back short must not delete half the lake)
    max_delete_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
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
            raise config_error(
                "mode 'window' needs date_column, the column that places a row in a window",
                key=("date_column",),
                got="mode 'window' and no date_column",
                allowed="add date_column: <column>, or use mode 'full' to copy the whole table",
            )
        if self.mode is Mode.full and self.date_column:
            raise config_error(
                "mode 'full' copies the whole table and takes no date_column",
                key=("date_column",),
                got=show(self.date_column),
                allowed="remove date_column, or use mode 'window' to copy one window per run",
            )
        if self.mode is Mode.watermark and not self.watermark_column:
            raise config_error(
                "mode 'watermark' needs watermark_column, the column a change moves forward",
                key=("watermark_column",),
                got="mode 'watermark' and no watermark_column",
                allowed="add watermark_column: <timestamp column>, e.g. modified_at",
            )
        if self.mode is not Mode.watermark and self.watermark_column:
            raise config_error(
                f"mode {self.mode.value!r} takes no watermark_column",
                key=("watermark_column",),
                got=show(self.watermark_column),
                allowed="remove watermark_column, or use mode 'watermark'",
            )
        if self.mode is Mode.watermark and self.date_column:
            raise config_error(
                "mode 'watermark' reads by watermark_column and takes no date_column",
                key=("date_column",),
                got=show(self.date_column),
                allowed="remove date_column",
            )
        return self

    @model_validator(mode="after")
    def _change_keys(self) -> TableConfig:
        if self.mode is Mode.cdc and not self.primary_key:
            raise config_error(
                "mode 'cdc' needs primary_key: silver applies the changes to the current row of each key",
                key=("primary_key",),
                got="mode 'cdc' and no primary_key",
                allowed="primary_key: [<column>, ...]",
            )
        if self.mode is Mode.cdc and (self.date_column or self.watermark_column):
            raise config_error(
                "mode 'cdc' reads the source's change log and takes no date_column or watermark_column",
                key=("date_column" if self.date_column else "watermark_column",),
                got=show(self.date_column or self.watermark_column),
                allowed="remove it",
            )
        if self.deletes is Deletes.detect_by_keys and not self.primary_key:
            raise config_error(
                "deletes 'detect_by_keys' compares the source's keys with the lake's: it needs primary_key",
                key=("deletes",),
                got="deletes 'detect_by_keys' and no primary_key",
                allowed="add primary_key: [<column>, ...], or remove deletes",
            )
        return self

    @property
    def filter_column(self) -> str | None:
        """The column a run's bounds apply to: the date column, or the watermark column."""
        return self.date_column or self.watermark_column

    @property
    def group_id(self) -> str:
        """A task-group id for the table: letters, digits and underscores only."""
        return task_group_id(self.name)


class PipelineConfig(StrictModel):
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
            raise config_error(
                f"table {table.name!r} is already listed as tables[{first}]{also}; "
                f"both would be task group {table.group_id!r}",
                key=("tables", index, "name"),
                got=show(table.name),
                allowed="each table once",
            )
        for index, table in enumerate(self.tables):
            if table.sessions > self.source.max_connections:
                raise config_error(
                    f"table {table.name!r} asks for {table.sessions} sessions, more than the source's "
                    f"pool has slots (max_connections: {self.source.max_connections})",
                    key=("tables", index, "sessions"),
                    got=show(table.sessions),
                    allowed=f"1 to {self.source.max_connections}, or raise source.max_connections",
                )
        if self.end_date and self.end_date <= self.start_date:
            raise config_error(
                "end_date must be after start_date",
                key=("end_date",),
                got=show(self.end_date),
                allowed=f"a date after start_date {self.start_date.isoformat()}, or no end_date",
            )
        return self

    @property
    def dag_id(self) -> str:
        return f"replicate_{self.source.name}"

    @property
    def pool(self) -> str:
        return f"source_{self.source.name}"
