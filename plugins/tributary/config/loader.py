"""The one config loader: YAML read safely with line marks, then validated into the strict
models of :mod:`.database` and :mod:`.files`.

A config error names the file, the line, the key path, the value received and what is allowed,
so that the import error Airflow shows is enough to fix the file. Nothing here touches a
database, the network or an Airflow connection: this runs at DAG parse time. The extract
definitions (:mod:`tributary.extracts.loader`) word their errors with the same helpers.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import os
import types
import typing
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from tributary.config.base import PROJECT_ROOT, show
from tributary.config.database import PipelineConfig, SourceType
from tributary.config.files import Contract, FilesPipelineConfig
from tributary.errors import ConfigError

DEFAULT_PIPELINES_DIR = PROJECT_ROOT / "include" / "pipelines"
PIPELINES_DIR_ENV = "TRIBUTARY_PIPELINES_DIR"


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


def line_of(root: yaml.Node | None, loc: Loc) -> int | None:
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


def key_path(loc: Loc) -> str:
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


def error_line(path: Path, line: int | None, key: str, what: str, got: str | None, allowed: str) -> str:
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
    got: str | None = show(error.get("input"))
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
    line = line_of(root, loc) or 0
    return line, error_line(path, line, key_path(loc), what, got, allowed)


def format_errors(
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
    data, root = read_yaml(path, "pipeline config")
    if not isinstance(data, dict) or root is None:
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ConfigError(
            f"{path}: invalid pipeline config (1 error)\n"
            + error_line(
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
        raise ConfigError(format_errors(path, root, exc, model)) from exc


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
        data, schema_root = read_yaml(schema_path, "schema file")
    except ConfigError as exc:
        raise ConfigError(
            f"{path}: invalid pipeline config (1 error)\n"
            + error_line(path, line_of(root, key), key_path(key), str(exc).replace("\n", ";"),
                          show(reference), "the path of a schema YAML file, relative to this config file")
        ) from exc  # fmt: skip
    if not isinstance(data, dict) or schema_root is None:
        raise ConfigError(
            f"{schema_path}: invalid schema file (1 error)\n"
            + error_line(schema_path, 1, "(top level)", "a schema file is a mapping of keys",
                          "an empty file" if data is None else f"a {type(data).__name__}",
                          "a mapping with keys " + ", ".join(_keys(Contract)))
        )  # fmt: skip
    try:
        return Contract.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        message = format_errors(schema_path, schema_root, exc, Contract, "schema file")
        raise ConfigError(f"{message}\n  (the contract of {path.name}, key {key_path(key)})") from exc


def read_yaml(path: Path, what: str) -> tuple[Any, yaml.Node | None]:
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
            + error_line(
                path,
                again.start_mark.line + 1,
                key_path(loc),
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
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, it is this file's error, not every file's
            errors.append(ConfigError(f"{path}: cannot be loaded: {type(exc).__name__}: {exc}"))
            continue
        name = config.source.name
        if name in names:
            errors.append(
                ConfigError(
                    f"{path}: invalid pipeline config (1 error)\n"
                    + error_line(
                        path,
                        line_of(root, ("source", "name")),
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
