"""Render the SQL statements of ``include/sql/<dialect>/<statement>.sql``.

Identifiers go through the ``ident`` filter (the dialect's quoting rules); values go through
``bind(name)``, which writes the dialect's placeholder, never the value: the caller passes the
values to the driver as parameters.

A quoted identifier is safe from the SQL parser but not from the driver: the pyformat drivers
scan the statement text for placeholders before the server sees it. psycopg2 (and psycopg 3) run
the text through Python's ``%`` formatting whenever parameters are passed -- the readers always
pass a mapping, if an empty one -- so a ``%`` in a PostgreSQL identifier is written ``%%``.
pymssql replaces ``%(name)s`` by a regular expression and leaves any other ``%`` alone, with no
way to escape one: an identifier that contains something shaped like a placeholder is refused.
SQLite (``:name``) and DuckDB (``$name``) parse parameters themselves, outside quoted names.

DuckDB statements may instead be rendered with ``values=``: ``bind(name)`` then writes the value
as a typed SQL literal. DuckDB's Python module imports pandas (~35 MiB) the first time a statement
is given parameters, and the values bound here are Tributary's own (window bounds, audit values,
paths), all of types with an exact literal form.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from tributary.dialects import Dialect
from tributary.errors import ConfigError

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"

# what pymssql's _substitute_params takes for a named placeholder
_PYMSSQL_PLACEHOLDER = re.compile(r"%\([^)]+\)[sd]")


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(SQL_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _ident_filter(dialect: Dialect) -> Callable[[str], str]:
    """The dialect's quoting, plus what its driver needs to leave the quoted name alone."""
    if dialect.name == "postgres":
        return lambda name: dialect.quote(name).replace("%", "%%")
    if dialect.name == "mssql":

        def quote(name: str) -> str:
            if placeholder := _PYMSSQL_PLACEHOLDER.search(name):
                raise ConfigError(
                    f"identifier {name!r} contains {placeholder[0]!r}, which "
                    "pymssql would replace as a query parameter; leave the column out with the "
                    "table's `columns:` list or read the table through a view that renames it"
                )
            return dialect.quote(name)

        return quote
    return dialect.quote


def duckdb_literal(value: Any) -> str:
    """``value`` as a DuckDB SQL literal of its own type."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | decimal.Decimal):
        return str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
        return f"TIMESTAMPTZ '{value.astimezone(dt.UTC).isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    raise TypeError(f"no DuckDB literal for a {type(value).__name__}: {value!r}")


def render(
    dialect: Dialect, statement: str, *, values: Mapping[str, Any] | None = None, **context: Any
) -> str:
    """The text of ``statement`` for ``dialect``; values stay out of it (see ``bind``), unless
    ``values`` are given for a DuckDB statement: then they are written as literals."""
    template = _environment().get_template(f"{dialect.name}/{statement}.sql")
    bind = dialect.placeholder
    if values is not None:
        if dialect.name != "duckdb":
            raise ValueError(f"values are written into {dialect.name} SQL only as bind parameters")
        bind = lambda name: duckdb_literal(values[name])  # noqa: E731
    return template.render(ident=_ident_filter(dialect), bind=bind, **context).strip()
