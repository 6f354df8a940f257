"""Pipeline config: YAML files read with ``yaml.safe_load`` into strict, typed models.

A config error names the file, the line, the key path, the value received and what is allowed,
so that the import error Airflow shows is enough to fix the file. Nothing here touches a
database, the network or an Airflow connection: this runs at DAG parse time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tributary.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PIPELINES_DIR = PROJECT_ROOT / "include" / "pipelines"
PIPELINES_DIR_ENV = "TRIBUTARY_PIPELINES_DIR"

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
LAKE_SCHEMES = ("file", "s3", "gs")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Mode(StrEnum):
    """How a table is read each run."""

    window = "window"  # rows whose date column falls in the run's window
    full = "full"  # the whole table, one snapshot per run


class Schedule(StrEnum):
    """The window a DAG run covers; a backfill is a range of windows."""

    monthly = "@monthly"
    daily = "@daily"


class Compression(StrEnum):
    snappy = "snappy"
    zstd = "zstd"
    gzip = "gzip"
    none = "none"


class SourceConfig(_Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    conn_id: Annotated[str, Field(min_length=1)]
    max_connections: Annotated[int, Field(ge=1, le=64)] = 2
    retries: Annotated[int, Field(ge=0, le=20)] = 3
    retry_delay_seconds: Annotated[int, Field(ge=1, le=3600)] = 60


class LakeConfig(_Strict):
    url: Annotated[str, Field(min_length=1)]
    conn_id: str | None = None
    compression: Compression = Compression.snappy
    rows_per_file: Annotated[int, Field(ge=1_000)] = 1_000_000

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else "file"
        if scheme not in LAKE_SCHEMES:
            raise ValueError(
                f"scheme {scheme!r} is not supported; use file:///abs/path, a path relative to "
                "the project, s3://bucket/prefix or gs://bucket/prefix"
            )
        return url.rstrip("/")

    def resolved_url(self) -> str:
        """The lake URL with a relative local path made absolute against the project root."""
        if "://" in self.url:
            return self.url
        path = Path(self.url)
        return (path if path.is_absolute() else PROJECT_ROOT / path).resolve().as_uri()


class TableConfig(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=128)]
    schema_: Annotated[str | None, Field(alias="schema")] = None
    mode: Mode
    date_column: str | None = None
    primary_key: list[str] = Field(default_factory=list)
    columns: list[str] | None = None
    batch_size: Annotated[int, Field(ge=1_000, le=1_000_000)] = 100_000

    @model_validator(mode="after")
    def _mode_keys(self) -> TableConfig:
        if self.mode is Mode.window and not self.date_column:
            raise ValueError("mode 'window' needs date_column: the column that places a row in a window")
        if self.mode is Mode.full and self.date_column:
            raise ValueError("mode 'full' reads the whole table; remove date_column or use mode 'window'")
        return self

    @property
    def group_id(self) -> str:
        """A task-group id for the table: letters, digits and underscores only."""
        return re.sub(r"[^A-Za-z0-9_]", "_", self.name)


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
        seen: dict[str, str] = {}
        for table in self.tables:
            if table.group_id in seen:
                raise ValueError(
                    f"tables {seen[table.group_id]!r} and {table.name!r} map to the same task group "
                    f"{table.group_id!r}; each table may appear once"
                )
            seen[table.group_id] = table.name
        if self.end_date and self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self

    @property
    def dag_id(self) -> str:
        return f"replicate_{self.source.name}"

    @property
    def pool(self) -> str:
        return f"source_{self.source.name}"


# --- loading with line numbers ---------------------------------------------------------------


def _line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest YAML node on the path ``loc`` (a pydantic error location)."""
    node, line = root, None
    for key in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
            if node is None:  # the key itself may be the culprit (extra key): find its key node
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _key_line(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """Line of the offending key for 'extra key' errors (the key has no value node in the model)."""
    parent_line = _line_of(root, loc[:-1])
    node = root
    for key in loc[:-1]:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == loc[-1]:
                return k.start_mark.line + 1
    return parent_line


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for key in loc:
        path += f"[{key}]" if isinstance(key, int) else (f".{key}" if path else str(key))
    return path


def _allowed(error: dict[str, Any]) -> str:
    ctx = error.get("ctx") or {}
    if error["type"] == "enum":
        return f"allowed: {ctx.get('expected')}"
    if error["type"] == "extra_forbidden":
        return "remove it or fix its spelling (unknown key)"
    if error["type"] == "missing":
        return "add this key"
    if error["type"] == "string_pattern_mismatch":
        return f"allowed: lower-case letters, digits and _ (pattern {ctx.get('pattern')})"
    if error["type"] == "literal_error":
        return f"allowed: {ctx.get('expected')}"
    return ""


def _format_errors(path: Path, root: yaml.Node | None, exc: ValidationError) -> str:
    lines = [f"{path}: invalid pipeline config ({exc.error_count()} error(s))"]
    for error in exc.errors():
        loc = tuple(k for k in error["loc"] if not (isinstance(k, str) and k.startswith("function-")))
        # pydantic reports model-level checks against the model itself; drop its synthetic tail
        loc = tuple(k for k in loc if k not in ("__root__",))
        line = _key_line(root, loc) if error["type"] == "extra_forbidden" else _line_of(root, loc)
        where = f"line {line}" if line else "line ?"
        received = "" if error["type"] == "missing" else f"; got {error.get('input')!r}"
        msg = error["msg"].removeprefix("Value error, ")
        hint = _allowed(error)
        key = _key_path(loc) or "(top level)"
        lines.append(f"  {path.name}, {where}, key {key}: {msg}{received}" + (f"; {hint}" if hint else ""))
    return "\n".join(lines)


def load_config(path: str | os.PathLike[str]) -> PipelineConfig:
    """Read and validate one pipeline config file; raise ``ConfigError`` with a precise message."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "line ?"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: not valid YAML at {where}: {problem}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}, line 1: a pipeline config is a mapping with keys source, lake, schedule, "
            f"start_date and tables; got {type(data).__name__}"
        )
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_errors(path, root, exc)) from exc


def pipelines_dir() -> Path:
    """The folder of pipeline configs: ``$TRIBUTARY_PIPELINES_DIR`` or ``include/pipelines``."""
    return Path(os.environ.get(PIPELINES_DIR_ENV) or DEFAULT_PIPELINES_DIR)


def config_files(folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Pipeline config files in ``folder``, sorted so generation is deterministic."""
    folder = Path(folder) if folder is not None else pipelines_dir()
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_all(
    folder: str | os.PathLike[str] | None = None,
) -> tuple[list[tuple[Path, PipelineConfig]], list[ConfigError]]:
    """Every valid config in ``folder`` and every error, so one bad file hides no good one."""
    configs: list[tuple[Path, PipelineConfig]] = []
    errors: list[ConfigError] = []
    names: dict[str, Path] = {}
    for path in config_files(folder):
        try:
            config = load_config(path)
        except ConfigError as exc:
            errors.append(exc)
            continue
        if config.source.name in names:
            errors.append(
                ConfigError(
                    f"{path}: source.name {config.source.name!r} is already used by "
                    f"{names[config.source.name].name}; each source needs its own name (it is the DAG id)"
                )
            )
            continue
        names[config.source.name] = path
        configs.append((path, config))
    return configs, errors


SourceKind = Literal["sqlite", "postgres", "mssql"]
