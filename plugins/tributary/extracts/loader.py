"""Reading extract definitions: one YAML file, or every file of the extracts folder, with the
pipeline configs' messages (the helpers of :mod:`tributary.config.loader` word them)."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from tributary.config.base import PROJECT_ROOT, show
from tributary.config.loader import error_line, format_errors, key_path, line_of, read_yaml
from tributary.errors import ConfigError
from tributary.extracts.config import QUERY_FILE_ALLOWED, Extract, ExtractsFile, ObjectType

DEFAULT_EXTRACTS_DIR = PROJECT_ROOT / "include" / "pipelines" / "extracts"
EXTRACTS_DIR_ENV = "TRIBUTARY_EXTRACTS_DIR"


def _invalid(path: Path, lines: list[str]) -> ConfigError:
    count = len(lines)
    return ConfigError(
        f"{path}: invalid extract definitions ({count} error{'s' if count > 1 else ''})\n" + "\n".join(lines)
    )


def _read(path: Path) -> tuple[ExtractsFile, yaml.Node]:
    data, root = read_yaml(path, "extract definitions")
    if not isinstance(data, dict) or root is None:
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise _invalid(
            path,
            [
                error_line(
                    path,
                    1,
                    "(top level)",
                    "an extracts file is a mapping",
                    got,
                    "a mapping with key extracts",
                )
            ],
        )
    try:
        parsed = ExtractsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(path, root, exc, ExtractsFile, "extract definitions")) from exc
    missing = []
    for index, extract in enumerate(parsed.extracts):
        if extract.source.object_type is ObjectType.query:
            loc = ("extracts", index, "source", "query_file")
            try:
                query = Extract(config=extract, path=path).query_path()
            except ConfigError:
                outside = (path.parent / str(extract.source.query_file)).resolve()
                what, allowed = f"the query file leads outside the folder, to {outside}", QUERY_FILE_ALLOWED
            else:
                if query.is_file():
                    continue
                what, allowed = f"the query file {query} does not exist", QUERY_FILE_ALLOWED
            missing.append(
                error_line(
                    path, line_of(root, loc), key_path(loc), what, show(extract.source.query_file), allowed
                )
            )
    if missing:
        raise _invalid(path, missing)
    return parsed, root


def load_extracts_file(path: str | os.PathLike[str]) -> list[Extract]:
    """The extracts of one file; ``ConfigError`` with a precise message when it is invalid."""
    file = Path(path)
    return [Extract(config=c, path=file) for c in _read(file)[0].extracts]


def extracts_dir() -> Path:
    """``$TRIBUTARY_EXTRACTS_DIR`` (relative to the project root) or ``include/pipelines/extracts``."""
    folder = Path(os.environ.get(EXTRACTS_DIR_ENV) or DEFAULT_EXTRACTS_DIR).expanduser()
    return folder if folder.is_absolute() else PROJECT_ROOT / folder


def load_extracts(
    folder: str | os.PathLike[str] | None = None,
) -> tuple[list[Extract], list[ConfigError]]:
    """Every valid extract of the folder's YAML files, and every error: a broken file hides no
    other file's extracts. Names are unique across files."""
    folder = Path(folder) if folder is not None else extracts_dir()
    if not folder.is_dir():
        if folder == DEFAULT_EXTRACTS_DIR and EXTRACTS_DIR_ENV not in os.environ:
            return [], []
        return [], [
            ConfigError(f"{folder}: the extract definitions folder does not exist (${EXTRACTS_DIR_ENV})")
        ]
    extracts: list[Extract] = []
    errors: list[ConfigError] = []
    owners: dict[str, Path] = {}
    files = sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p.is_file())
    for path in files:
        try:
            parsed, root = _read(path)
        except ConfigError as exc:
            errors.append(exc)
            continue
        except Exception as exc:  # noqa: BLE001 - this file's problem, not every file's; recorded as its ConfigError
            errors.append(ConfigError(f"{path}: cannot be loaded: {type(exc).__name__}: {exc}"))
            continue
        clashes = []
        for index, config in enumerate(parsed.extracts):
            if config.name in owners:
                loc = ("extracts", index, "name")
                clashes.append(
                    error_line(
                        path,
                        line_of(root, loc),
                        key_path(loc),
                        f"extract {config.name!r} is already defined in {owners[config.name].name}",
                        repr(config.name),
                        f"a name no other file in {folder} uses",
                    )
                )
        if clashes:
            errors.append(_invalid(path, clashes))
            continue
        for config in parsed.extracts:
            owners[config.name] = path
            extracts.append(Extract(config=config, path=path))
    return extracts, errors
