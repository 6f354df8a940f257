"""The file names of extracts: the tokens a ``file.name`` template may use, the checks that keep
a rendered name a relative path of plain names, and the name of one run's file."""

from __future__ import annotations

import datetime as dt
import re
import string
from typing import TYPE_CHECKING, Any

from tributary.errors import ConfigError

if TYPE_CHECKING:
    from tributary.extracts.config import ExtractConfig

FILE_TOKENS = {
    "name": "the extract's name",
    "group": "its execution group",
    "ext": "csv, tsv or parquet, plus .gz or .zst when compressed",
    "ds": "the window's first day, YYYY-MM-DD (Airflow's ds)",
    "ds_nodash": "the window's first day, YYYYMMDD",
    "run_date": "the window's first day, a date: {run_date:%Y%m%d}",
    "window_start": "the window's start, a UTC datetime: {window_start:%Y-%m-%d}",
    "window_end": "the window's end (exclusive), a UTC datetime",
}
DATE_TOKENS = ("run_date", "window_start", "window_end")
# strftime directives whose text is letters, digits or a sign, whatever the date: a date spec
# made of them and of plain characters renders the same folders and dots on every day
DATE_DIRECTIVES = "aAbBdHIjmMpSUwWyYGuVfzZ%"
_SPEC_TEXT = re.compile(r"[A-Za-z0-9_.\-/]")
TOKENS_ALLOWED = (
    "tokens " + ", ".join("{" + t + "}" for t in FILE_TOKENS) + "; only the dates take a format, "
    "a strftime one ({run_date:%Y%m%d}, {run_date:%Y/%m}) of %"
    + ", %".join(DATE_DIRECTIVES[:-1])
    + " and letters, digits, _ . - /; no conversion (!r), attribute (.x) or index ([0])"
)
PATH_ALLOWED = (
    "a relative name: '/' makes sub-folders; no '..', '\\', empty or dot-leading folder or file names"
)


def sample_tokens(name: str, group: str, ext: str) -> dict[str, Any]:
    """The tokens of a sample window, to check that a template renders a relative path."""
    start = dt.datetime(2025, 1, 31, tzinfo=dt.UTC)
    return file_tokens(name, group, ext, start, start + dt.timedelta(days=1))


def file_tokens(
    name: str, group: str, ext: str, window_start: dt.datetime, window_end: dt.datetime
) -> dict[str, Any]:
    """The values of the file-name tokens for one run of one extract."""
    return {
        "name": name,
        "group": group,
        "ext": ext,
        "ds": window_start.strftime("%Y-%m-%d"),
        "ds_nodash": window_start.strftime("%Y%m%d"),
        "run_date": window_start.date(),
        "window_start": window_start,
        "window_end": window_end,
    }


def template_problem(template: str) -> str | None:
    """What makes a file-name template more than the documented tokens and date formats, or
    ``None``. ``str.format`` would walk attributes (``{name.__class__}``), index, convert, and
    evaluate a replacement field nested in a format (``{name:.>{run_date.day}}``), whose text then
    changes with the date: none of that is allowed."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}; write {{{{ and }}}} for a literal brace)"
    for _text, field, spec, conversion in fields:
        if field is None:
            continue
        shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if field not in FILE_TOKENS:
            if re.match(r"^\w+[.\[]", field):
                return f"has {shown}: attribute or index access is not allowed"
            return f"has an unknown token {shown}"
        if conversion:
            return f"has {shown}: a conversion (!{conversion}) is not allowed"
        if not spec:
            continue
        if "{" in spec or "}" in spec:
            return f"has {shown}: a token inside a format is not allowed"
        if field not in DATE_TOKENS:
            return f"has {shown}: only the dates take a format"
        problem = _date_format_problem(spec)
        if problem:
            return f"has {shown}: {problem}"
    return None


def _date_format_problem(spec: str) -> str | None:
    index = 0
    while index < len(spec):
        char = spec[index]
        if char == "%":
            directive = spec[index + 1 : index + 2]
            if not directive or directive not in DATE_DIRECTIVES:
                return f"the strftime directive %{directive} is not allowed"
            index += 2
            continue
        if not _SPEC_TEXT.fullmatch(char):
            return f"the character {char!r} is not allowed in a date format"
        index += 1
    return None


def check_relative_path(rendered: str) -> str:
    """``rendered`` if it is a relative path of plain names; ``ValueError`` saying why not."""
    if rendered.startswith("/"):
        raise ValueError(f"renders {rendered!r}, which starts with '/'")
    for part in rendered.split("/"):
        if not part:
            raise ValueError(f"renders {rendered!r}, which has an empty folder or file name")
        if part in (".", ".."):
            raise ValueError(f"renders {rendered!r}, whose part {part!r} leaves its folder")
        if part.startswith("."):
            raise ValueError(f"renders {rendered!r}, whose part {part!r} starts with '.'")
        if "\\" in part or any(ord(c) < 32 or c == "\x7f" for c in part):
            raise ValueError(f"renders {rendered!r}, whose part {part!r} holds a '\\' or a control character")
    return rendered


def file_name(extract: ExtractConfig, window_start: dt.datetime, window_end: dt.datetime) -> str:
    """The file's name (a relative path) for a run's window."""
    template = extract.file.name
    tokens = file_tokens(
        extract.name, extract.execution_group, extract.file.extension, window_start, window_end
    )
    # the definition was checked when it was loaded; this run's date is checked here, before
    # anything is written
    try:
        problem = template_problem(template)
        if problem:
            raise ValueError(problem)
        return check_relative_path(template.format(**tokens))
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(
            f"extract {extract.name!r}: key file.name {template!r} for the window starting "
            f"{window_start:%Y-%m-%d}: the file name {exc}; allowed: {TOKENS_ALLOWED}; {PATH_ALLOWED}"
        ) from None
