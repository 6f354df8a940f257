"""The partition manifest: what a run wrote, checked before ``_SUCCESS`` and by every reader."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from tributary import __version__

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

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.model_validate_json(text)


def encode_schema(schema: pa.Schema) -> str:
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def decode_schema(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def schema_fields(schema: pa.Schema) -> list[SchemaField]:
    return [SchemaField(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]
