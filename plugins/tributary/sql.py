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
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
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
            if _PYMSSQL_PLACEHOLDER.search(name):
                raise ConfigError(
                    f"identifier {name!r} contains {_PYMSSQL_PLACEHOLDER.search(name)[0]!r}, which "
                    "pymssql would replace as a query parameter; leave the column out with the "
                    "table's `columns:` list or read the table through a view that renames it"
                )
            return dialect.quote(name)

        return quote
    return dialect.quote


def render(dialect: Dialect, statement: str, **context: Any) -> str:
    """The text of ``statement`` for ``dialect``; values stay out of it (see ``bind``)."""
    template = _environment().get_template(f"{dialect.name}/{statement}.sql")
    return template.render(
        ident=_ident_filter(dialect),
        bind=dialect.placeholder,
        **context,
    ).strip()
