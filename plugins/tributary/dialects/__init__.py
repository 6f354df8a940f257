"""SQL dialects: identifier quoting, bind placeholders and the Airflow connection types they serve."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tributary.errors import ConfigError


def _quote_double(identifier: str) -> str:
    if "\x00" in identifier:
        raise ConfigError(f"identifier {identifier!r} contains a NUL character")
    return '"' + identifier.replace('"', '""') + '"'


def _quote_bracket(identifier: str) -> str:
    if "\x00" in identifier:
        raise ConfigError(f"identifier {identifier!r} contains a NUL character")
    return "[" + identifier.replace("]", "]]") + "]"


@dataclass(frozen=True)
class Dialect:
    """What differs between the SQL of two databases, as far as Tributary writes SQL."""

    name: str
    quote: Callable[[str], str]
    placeholder: Callable[[str], str]
    default_schema: str | None


SQLITE = Dialect("sqlite", _quote_double, lambda name: f":{name}", "main")
POSTGRES = Dialect("postgres", _quote_double, lambda name: f"%({name})s", "public")
MSSQL = Dialect("mssql", _quote_bracket, lambda name: f"%({name})s", "dbo")
DUCKDB = Dialect("duckdb", _quote_double, lambda name: f"${name}", "main")

_BY_CONN_TYPE = {
    "sqlite": SQLITE,
    "postgres": POSTGRES,
    "postgresql": POSTGRES,
    "mssql": MSSQL,
    "duckdb": DUCKDB,
}


def dialect_for_conn_type(conn_type: str | None) -> Dialect:
    """The dialect of an Airflow connection type; a clear error names the supported ones."""
    try:
        return _BY_CONN_TYPE[(conn_type or "").lower()]
    except KeyError:
        raise ConfigError(
            f"connection type {conn_type!r} is not a supported source; "
            f"use one of {sorted(set(_BY_CONN_TYPE) - {'postgresql', 'duckdb'})}"
        ) from None
