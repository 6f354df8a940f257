"""Extract definitions: the strict models that the YAML files in ``include/pipelines/extracts/``
are read into (:mod:`tributary.extracts.loader` reads them, :mod:`tributary.extracts.file_names`
checks and renders the file names).

One file holds a list of extracts; each names its source object, the file it becomes and where
that file goes. Errors name the file, the line, the key path, the value and what is allowed, as
the pipeline configs' do. Parse time reads the YAML (and checks that a query file exists) and
nothing else.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from tributary.config.base import (
    LAKE_URLS,
    NAME_PATTERN,
    NAME_RULE,
    PROJECT_ROOT,
    StrictModel,
    config_error,
    first_repeat,
    show,
)
from tributary.errors import ConfigError
from tributary.extracts.file_names import (
    PATH_ALLOWED,
    TOKENS_ALLOWED,
    check_relative_path,
    sample_tokens,
    template_problem,
)
from tributary.hooks.warehouse import WAREHOUSE_CONN_ID

DEFAULT_GROUP = "default"
TARGET_SCHEMES = ("file", "s3", "gs")


class ObjectType(StrEnum):
    """What an extract reads."""

    table = "table"
    view = "view"
    query = "query"  # a SELECT in a .sql file next to the definitions
    function = "function"  # a set-returning function (PostgreSQL), table macro (DuckDB), TVF (SQL Server)
    procedure = "procedure"  # a stored procedure's first result set (SQL Server)


class ExtractFormat(StrEnum):
    """The format of the file an extract writes."""

    csv = "csv"
    tsv = "tsv"
    parquet = "parquet"


class Quoting(StrEnum):
    """When a CSV/TSV value is put in quotes. NULL is never quoted, so it stays apart from ``""``."""

    minimal = "minimal"  # only values holding the delimiter, the quote, a line break, or empty text
    all = "all"  # every value that is not NULL
    none = "none"  # never; a value that would need quotes fails the extract


class LineTerminator(StrEnum):
    lf = "lf"
    crlf = "crlf"


_TEXT_ONLY = (
    *("header", "delimiter", "quote_char", "quoting", "line_terminator", "encoding"),
    *("null_value", "date_format", "timestamp_format"),
)
QUERY_FILE_ALLOWED = "a .sql file in this YAML file's folder or a sub-folder of it: no absolute path, no '..'"
PARAMETER_TOKENS = ("{window_start}", "{window_end}", "{window_start_date}", "{window_end_date}")

Scalar = str | int | float | bool | dt.date | None
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SourceSpec(StrictModel):
    conn_id: Annotated[
        str,
        Field(
            min_length=1,
            description="an Airflow connection (duckdb, postgres, mssql or sqlite); default the "
            f"warehouse, {WAREHOUSE_CONN_ID}",
        ),
    ] = WAREHOUSE_CONN_ID
    object_type: ObjectType
    schema_: Annotated[str | None, Field(alias="schema", min_length=1)] = None
    name: Annotated[str | None, Field(min_length=1, max_length=128)] = None
    query_file: Annotated[
        str | None,
        Field(min_length=1, description="a .sql file with one SELECT, relative to this YAML file's folder"),
    ] = None
    parameters: Annotated[
        dict[str, Scalar],
        Field(
            description="a mapping of argument name to value, in the function's argument order; a value "
            "may be " + ", ".join(PARAMETER_TOKENS)
        ),
    ] = Field(default_factory=dict)
    columns: Annotated[list[str] | None, Field(min_length=1)] = None

    @field_validator("parameters", mode="before")
    @classmethod
    def _scalar_parameters(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key, item in value.items():
            if not isinstance(key, str) or not _PARAMETER_NAME.match(key):
                raise config_error(
                    f"parameter name {key!r} is not a plain name",
                    key=(str(key),),
                    got=show(key),
                    allowed="letters, digits and _, starting with a letter or _",
                )
            if isinstance(item, dict | list):
                raise config_error(
                    f"parameter {key!r} must be one value",
                    key=(key,),
                    got=show(item),
                    allowed="text, a number, true/false, a date, null, or " + ", ".join(PARAMETER_TOKENS),
                )
        return value

    @field_validator("query_file")
    @classmethod
    def _inside_the_folder(cls, value: str | None) -> str | None:
        if value is not None and (
            value.startswith(("/", "\\", "~"))
            or re.match(r"^[A-Za-z]:", value)
            or ".." in re.split(r"[/\\]", value)
        ):
            raise config_error(
                "the query file must be inside the extracts folder",
                got=show(value),
                allowed=QUERY_FILE_ALLOWED,
            )
        return value

    @model_validator(mode="after")
    def _keys_of_type(self) -> SourceSpec:
        kind = self.object_type
        if kind is ObjectType.query:
            if not self.query_file:
                raise config_error(
                    "object_type 'query' needs query_file, the .sql file that holds the SELECT",
                    key=("query_file",),
                    got="no query_file",
                    allowed="query_file: queries/<name>.sql (relative to this YAML file)",
                )
            for key in ("name", "schema_"):
                if getattr(self, key) is not None:
                    raise config_error(
                        "object_type 'query' reads its query_file and takes no " + key.rstrip("_"),
                        key=(key.rstrip("_"),),
                        got=show(getattr(self, key)),
                        allowed=f"remove {key.rstrip('_')}",
                    )
        else:
            if not self.name:
                raise config_error(
                    f"object_type {kind.value!r} needs name, the {kind.value}'s name in the source",
                    key=("name",),
                    got="no name",
                    allowed=f"name: <{kind.value} name> (and schema: <schema> if not the default)",
                )
            if self.query_file:
                raise config_error(
                    f"object_type {kind.value!r} takes no query_file",
                    key=("query_file",),
                    got=show(self.query_file),
                    allowed="remove query_file, or use object_type 'query'",
                )
        if self.parameters and kind not in (ObjectType.function, ObjectType.procedure):
            raise config_error(
                f"object_type {kind.value!r} takes no parameters",
                key=("parameters",),
                got=show(self.parameters),
                allowed="remove parameters (functions and procedures take them)",
            )
        if kind is ObjectType.procedure and self.columns:
            raise config_error(
                "a procedure's result set cannot be narrowed to columns",
                key=("columns",),
                got=show(self.columns),
                allowed="remove columns; select them in the procedure",
            )
        return self

    @property
    def label(self) -> str:
        if self.object_type is ObjectType.query:
            return f"query {self.query_file}"
        where = f"{self.schema_}." if self.schema_ else ""
        return f"{self.object_type.value} {where}{self.name}"


class Incremental(StrictModel):
    date_column: Annotated[
        str, Field(min_length=1, description="the date or timestamp column that places a row in a window")
    ]


class FileSpec(StrictModel):
    format: ExtractFormat
    name: Annotated[str, Field(min_length=1, description=TOKENS_ALLOWED)] = "{name}_{ds_nodash}.{ext}"
    header: bool = True
    delimiter: Annotated[
        str | None, Field(description="one character (default , for csv, a tab for tsv)")
    ] = None
    quote_char: Annotated[str, Field(description="one character")] = '"'
    quoting: Quoting = Quoting.minimal
    line_terminator: LineTerminator = LineTerminator.lf
    encoding: Annotated[
        str, Field(description="a Python codec name: utf-8, utf-8-sig (with a BOM), latin-1, cp1252, utf-16")
    ] = "utf-8"
    null_value: Annotated[str, Field(description="the text written for NULL (default: nothing)")] = ""
    date_format: Annotated[str | None, Field(description="a strftime format, e.g. %d/%m/%Y")] = None
    timestamp_format: Annotated[
        str | None, Field(description="a strftime format, e.g. %Y-%m-%dT%H:%M:%S")
    ] = None
    compression: Annotated[
        Literal["none", "gzip", "zstd", "snappy"] | None,
        Field(
            description="csv, tsv: none (default), gzip, zstd; parquet: snappy (default), zstd, gzip, none"
        ),
    ] = None

    @field_validator("delimiter", "quote_char")
    @classmethod
    def _one_character(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value in "\r\n"):
            raise config_error(
                "must be one character, not a line break", got=show(value), allowed="one character"
            )
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise config_error(
                f"unknown encoding {value!r}",
                got=show(value),
                allowed="a Python codec name: utf-8, utf-8-sig, latin-1, cp1252, utf-16",
            ) from None
        return value

    @model_validator(mode="after")
    def _format_keys(self) -> FileSpec:
        given = self.model_fields_set
        if self.format is ExtractFormat.parquet:
            text_only = sorted(k for k in _TEXT_ONLY if k in given)
            if text_only:
                raise config_error(
                    f"{text_only[0]} applies to csv and tsv files only",
                    key=(text_only[0],),
                    got=show(getattr(self, text_only[0])),
                    allowed="remove it: Parquet keeps each column's own type",
                )
            if self.compression not in (None, "snappy", "zstd", "gzip", "none"):
                raise config_error(  # pragma: no cover - the Literal admits nothing else
                    "unknown compression", key=("compression",), got=show(self.compression), allowed=""
                )
        elif self.compression == "snappy":
            raise config_error(
                "snappy compresses Parquet files only",
                key=("compression",),
                got="'snappy'",
                allowed="none, gzip or zstd for csv and tsv",
            )
        if self.format is ExtractFormat.tsv and self.delimiter not in (None, "\t"):
            raise config_error(
                "a tsv file is tab-delimited",
                key=("delimiter",),
                got=show(self.delimiter),
                allowed="remove delimiter, or use format 'csv' with this delimiter",
            )
        if self.delimiter is not None and self.delimiter == self.quote_char:
            raise config_error(
                "the delimiter and the quote character must differ",
                key=("quote_char",),
                got=show(self.quote_char),
                allowed="another character",
            )
        return self

    @property
    def separator(self) -> str:
        if self.delimiter is not None:
            return self.delimiter
        return "\t" if self.format is ExtractFormat.tsv else ","

    @property
    def codec(self) -> str | None:
        """The compression applied, ``None`` for none."""
        default = "snappy" if self.format is ExtractFormat.parquet else "none"
        chosen = self.compression or default
        return None if chosen == "none" else chosen

    @property
    def extension(self) -> str:
        suffix = {"gzip": ".gz", "zstd": ".zst"}.get(self.codec or "", "")
        return self.format.value + ("" if self.format is ExtractFormat.parquet else suffix)

    @property
    def newline(self) -> str:
        return "\r\n" if self.line_terminator is LineTerminator.crlf else "\n"


class TargetSpec(StrictModel):
    url: Annotated[str, Field(min_length=1, description=LAKE_URLS)]
    conn_id: Annotated[
        str | None,
        Field(description="an Airflow connection with the store's credentials (aws, google_cloud_platform)"),
    ] = None

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else "file"
        if scheme not in TARGET_SCHEMES:
            raise config_error(f"target scheme {scheme!r} is not supported", got=show(url), allowed=LAKE_URLS)
        return url.rstrip("/")

    def resolved_url(self) -> str:
        """The URL with a relative local path made absolute against the project root."""
        if "://" in self.url:
            return self.url
        path = Path(self.url).expanduser()
        return (path if path.is_absolute() else PROJECT_ROOT / path).resolve().as_uri()

    @property
    def is_local(self) -> bool:
        return self.resolved_url().startswith("file://")


class ExtractConfig(StrictModel):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE)]
    description: str = ""
    active: bool = True
    execution_group: Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE)] = DEFAULT_GROUP
    source: SourceSpec
    incremental: Incremental | None = None
    file: FileSpec
    target: TargetSpec
    batch_size: Annotated[int, Field(ge=1_000, le=1_000_000)] = 100_000

    @model_validator(mode="after")
    def _safe_file_name(self) -> ExtractConfig:
        problem = template_problem(self.file.name)
        if problem is None:
            try:
                tokens = sample_tokens(self.name, self.execution_group, self.file.extension)
                check_relative_path(self.file.name.format(**tokens))
            except ValueError as exc:
                problem = str(exc)
        if problem is not None:
            raise config_error(
                f"extract {self.name!r}: the file name {problem}",
                key=("file", "name"),
                got=show(self.file.name),
                allowed=TOKENS_ALLOWED + "; " + PATH_ALLOWED,
            )
        return self

    @model_validator(mode="after")
    def _incremental_fits(self) -> ExtractConfig:
        if self.incremental and self.source.object_type is ObjectType.procedure:
            raise config_error(
                "a procedure's rows cannot be filtered after it ran",
                key=("incremental",),
                got=show(self.incremental.model_dump()),
                allowed="remove incremental and pass the window as parameters: "
                "{from_date: '{window_start}', to_date: '{window_end}'}",
            )
        return self


class ExtractsFile(StrictModel):
    extracts: Annotated[list[ExtractConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_names(self) -> ExtractsFile:
        repeat = first_repeat(e.name for e in self.extracts)
        if repeat:
            index, first = repeat
            raise config_error(
                f"extract {self.extracts[index].name!r} is already defined as extracts[{first}]",
                key=("extracts", index, "name"),
                got=show(self.extracts[index].name),
                allowed="a name used once",
            )
        return self


class Extract(BaseModel):
    """An extract definition and the file it was read from (what a task receives)."""

    config: ExtractConfig
    path: Path

    @property
    def name(self) -> str:
        return self.config.name

    def query_path(self) -> Path:
        """The query file of an ``object_type: query`` extract, which must be inside the YAML
        file's folder once symbolic links are followed (``ConfigError`` if not)."""
        assert self.config.source.query_file is not None
        folder = self.path.parent
        path = folder / self.config.source.query_file
        if not path.resolve().is_relative_to(folder.resolve()):
            raise ConfigError(
                f"extract {self.name!r} ({self.path}): key source.query_file "
                f"{self.config.source.query_file!r} leads to {path.resolve()}, outside {folder}; "
                f"allowed: {QUERY_FILE_ALLOWED} (a symbolic link must point inside it too)"
            )
        return path

    def to_xcom(self) -> dict[str, Any]:
        return {
            "name": self.config.name,
            "path": str(self.path),
            "config": self.config.model_dump(mode="json", by_alias=True, exclude_unset=True),
        }

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> Extract:
        return cls(config=ExtractConfig.model_validate(value["config"]), path=Path(value["path"]))
