"""What every config model shares: the strict base model, the cross-field error that the
loader's messages word, how a received value is shown, and the rules of names, durations and
storage URLs. Database sources (:mod:`.database`), file sources (:mod:`.files`), the loader
(:mod:`.loader`) and the extract definitions (:mod:`tributary.extracts.config`) build on it.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError

# the package is plugins/tributary/config/: three levels below the project
PROJECT_ROOT = Path(__file__).resolve().parents[3]

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
NAME_RULE = "a lower-case letter, then lower-case letters, digits or _ (at most 63 characters)"
LAKE_SCHEMES = ("file", "s3", "gs")
LAKE_URLS = "file:///abs/path, a path relative to the project, s3://bucket/prefix, gs://bucket/prefix"


def config_error(
    what: str, *, key: tuple[int | str, ...] = (), got: str, allowed: str
) -> PydanticCustomError:
    """A validation error of a cross-field rule, carrying what the message formatter needs:
    ``key`` is the offending key relative to the model that raises it, ``got`` the value as shown."""
    return PydanticCustomError(
        "tributary", "{what}", {"what": what, "key": key, "got": got, "allowed": allowed}
    )


def first_repeat(names: Iterable[str]) -> tuple[int, int] | None:
    """``(index, index of its first listing)`` of the first name listed twice, if any."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        first = seen.setdefault(name, index)
        if first != index:
            return index, first
    return None


class StrictModel(BaseModel):
    """The base of every config model: an unknown key is an error, and a loaded config is frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str | int) -> dt.timedelta:
    """``'2h'`` -> 2 hours; units s, m, h, d; a bare number is seconds."""
    if isinstance(text, int):
        return dt.timedelta(seconds=text)
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 2h or 1d")
    return dt.timedelta(**{_DURATION_UNITS[match.group(2)]: int(match.group(1))})


def show(value: Any) -> str:
    """A received value as the user wrote it, shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = (
        repr(value)
        if isinstance(value, str | int | float)
        else yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    )
    return text if len(text) <= 80 else text[:77] + "..."


def storage_url(url: str, what: str) -> str:
    """A lake or landing URL of a supported scheme, without its trailing slash."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if scheme not in LAKE_SCHEMES:
        raise config_error(f"{what} scheme {scheme!r} is not supported", got=show(url), allowed=LAKE_URLS)
    return url.rstrip("/")


def resolve_url(url: str) -> str:
    """``url`` with a relative local path made absolute against the project root."""
    if "://" in url:
        return url
    path = Path(url)
    return (path if path.is_absolute() else PROJECT_ROOT / path).resolve().as_uri()


def task_group_id(name: str) -> str:
    """ASCII letters, digits and ``_`` (valid in Airflow ids, log paths and URLs): accents are
    dropped (``ünïcödé`` → ``unicode``), every other character becomes ``_``. Two tables that
    come out the same are refused by the pipeline's validation."""
    letters = unicodedata.normalize("NFKD", name)
    plain = "".join(char for char in letters if not unicodedata.combining(char))
    return re.sub(r"[^A-Za-z0-9_]", "_", plain)
