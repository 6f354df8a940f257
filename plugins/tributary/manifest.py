"""The partition manifest: what a run wrote, checked before ``_SUCCESS`` and by every reader."""

from __future__ import annotations

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

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.model_validate_json(text)


def schema_fields(schema: pa.Schema) -> list[SchemaField]:
    return [SchemaField(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]
