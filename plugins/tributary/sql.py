"""Render the SQL statements of ``include/sql/<dialect>/<statement>.sql``.

Identifiers go through the ``ident`` filter (the dialect's quoting rules); values go through
``bind(name)``, which writes the dialect's placeholder, never the value: the caller passes the
values to the driver as parameters.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

from tributary.dialects import Dialect

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql"


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


def render(dialect: Dialect, statement: str, **context: Any) -> str:
    """The text of ``statement`` for ``dialect``; values stay out of it (see ``bind``)."""
    template = _environment().get_template(f"{dialect.name}/{statement}.sql")
    return template.render(
        ident=dialect.quote,
        bind=dialect.placeholder,
        **context,
    ).strip()
