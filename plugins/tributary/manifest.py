"""The partition manifest: what a run wrote, checked before ``_SUCCESS`` and by every reader."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from tributary import __version__

if TYPE_CHECKING:  # pyarrow only where a schema is decoded: a commit task never loads it
    import pyarrow as pa

MANIFEST_VERSION = 1


class ManifestFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    rows: int
    bytes: int
    sha256: str


class SchemaField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    nullable: bool


class LandingFile(BaseModel):
    """A file of a landing zone as a run listed it: what the state of a file source compares."""

    model_config = ConfigDict(extra="forbid")

    path: str  # relative to the landing location
    size: int
    modified: dt.datetime | None = None
    # what the store says about the content: the ETag (S3), the MD5 (GCS), or the modification
    # time (local files); a file is unchanged when its path, size and version are the same
    version: str | None = None


class LoadedFile(LandingFile):
    """A file a run loaded: the rows read from it and the parts they went to."""

    rows: int
    parts: list[str] = Field(default_factory=list)


class Violation(BaseModel):
    """One way a file breaks its table's contract: where (line or row, column) and why."""

    model_config = ConfigDict(extra="forbid")

    line: int | None = None  # 1-based line of the file (csv, tsv, jsonl)
    row: int | None = None  # 1-based data row
    column: str | None = None
    reason: str

    def describe(self, path: str = "") -> str:
        where = [path] if path else []
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return ", ".join(where) + (": " if where else "") + self.reason


class RejectedFile(LandingFile):
    """A file that broke the contract: not loaded; moved to the quarantine prefix if set."""

    violations: list[Violation]
    quarantined_to: str | None = None


class CheckResult(BaseModel):
    """The outcome of one QA check on the partition (``tributary.checks``)."""

    model_config = ConfigDict(extra="forbid")

    check: str
    passed: bool
    detail: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    manifest_version: int = MANIFEST_VERSION
    tributary_version: str = __version__
    source: str
    table: str
    mode: str
    partition: str
    batch_id: str
    dag_id: str | None = None
    run_id: str | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    created_at: dt.datetime
    rows: int
    files: list[ManifestFile]
    schema_: list[SchemaField] = Field(alias="schema")
    source_query_rows: int | None = None  # the source count taken by verify
    verified_at: dt.datetime | None = None
    # the Arrow schema written (without audit columns), for schema-drift checks of later runs
    arrow_schema: str | None = None
    schema_changes: list[str] = Field(default_factory=list)
    # watermark tables: the bounds read, the highest watermark written, NULL-watermark rows
    watermark_column: str | None = None
    watermark_low: dt.datetime | None = None
    watermark_high_bound: dt.datetime | None = None
    high_watermark: dt.datetime | None = None
    full_refresh: bool = False
    null_watermark_rows: int | None = None
    # watermark and file tables: the committed batch whose state this run planned from (None: it
    # found none); the commit refuses when another batch has been committed since (overlapping runs)
    planned_from: str | None = None
    # cdc tables: the change positions read, from (exclusive) and up to (inclusive), as the
    # source writes them (PostgreSQL LSN 0/16B3748, SQL Server change version or LSN)
    change_position_from: str | None = None
    change_position_to: str | None = None
    # tombstone partitions (deletes: detect_by_keys): the keys the lake held and the source did not
    lake_keys: int | None = None
    deleted_keys: int | None = None
    # QA checks run by verify (any table)
    checks: list[CheckResult] = Field(default_factory=list)
    # file sources: the files loaded, rejected and skipped as unchanged, and the state (every
    # landing file loaded so far and still there) that the next run compares with
    landing_url: str | None = None
    source_files: list[LoadedFile] = Field(default_factory=list)
    rejected_files: list[RejectedFile] = Field(default_factory=list)
    unchanged_files: int | None = None
    # files modified within the table's quiet period (maybe still being written): left for a later run
    waiting_files: list[LandingFile] = Field(default_factory=list)
    on_violation: str | None = None
    landing_state: list[LandingFile] = Field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        return cls.model_validate_json(text)


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str) -> pa.Schema:
    import pyarrow as pa

    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def schema_fields(schema: pa.Schema) -> list[SchemaField]:
    return [SchemaField(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]
