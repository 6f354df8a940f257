"""What a source's catalog says about its tables, for a first pipeline config (``tributary
discover``): primary keys, a suggested mode, row estimates and the columns Tributary cannot map
yet. Reads the catalog through a :class:`~tributary.readers.base.SourceReader`; no Airflow.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
from dataclasses import dataclass

import pyarrow as pa

from tributary.config import TableConfig
from tributary.dialects.columns import Column, SourceColumn
from tributary.errors import CatalogError, TypeMappingError
from tributary.readers.base import SourceReader
from tributary.sql import render

# the dialects with discover_tables and discover_keys templates in include/sql
CATALOGS = ("sqlite", "postgres")
# a table this small is read whole each run: a window or a watermark would save little
SMALL_TABLE_ROWS = 100_000
_MODIFIED_AT = re.compile(
    r"^(last_)?(modified|updated|changed)(_at|_on|_time|_ts|_date)?$|^date_(modified|updated|changed)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DiscoveredColumn:
    source: SourceColumn
    arrow_type: pa.DataType | None  # None: Tributary cannot map the source type yet
    key_position: int  # position in the primary key, 1-based; 0 if not part of it
    indexed: bool  # an index leads with the column
    problem: str | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def temporal(self) -> bool:
        return self.arrow_type is not None and (
            pa.types.is_timestamp(self.arrow_type) or pa.types.is_date(self.arrow_type)
        )


@dataclass(frozen=True)
class Suggestion:
    mode: str
    column: str | None  # the date column (window) or the watermark column
    reason: str


@dataclass(frozen=True)
class DiscoveredTable:
    schema: str
    name: str
    rows: int | None
    columns: list[DiscoveredColumn]
    small_rows: int = SMALL_TABLE_ROWS

    @property
    def primary_key(self) -> list[str]:
        keyed = sorted((c.key_position, c.name) for c in self.columns if c.key_position)
        return [name for _, name in keyed]

    @property
    def unmappable(self) -> list[DiscoveredColumn]:
        return [c for c in self.columns if c.arrow_type is None]

    def suggestion(self) -> Suggestion:
        """A date or timestamp column with an index → ``window``; a modified-at timestamp (with a
        primary key to merge on) → ``watermark``; else ``full``."""
        rows = f"~{self.rows:,} rows" if self.rows is not None else "row count unknown"
        if self.rows is not None and self.rows < self.small_rows:
            return Suggestion("full", None, f"small table ({rows}): read whole each run")
        modified = [c for c in self.columns if c.temporal and _MODIFIED_AT.match(c.name)]
        dated = [c for c in self.columns if c.temporal and c.indexed and c not in modified]
        if dated:
            return Suggestion("window", dated[0].name, f"{dated[0].name} is a date with an index ({rows})")
        if modified and self.primary_key:
            return Suggestion(
                "watermark", modified[0].name, f"{modified[0].name} looks like a modified-at ({rows})"
            )
        return Suggestion("full", None, f"no indexed date and no modified-at column ({rows}): review")


def _column(reader: SourceReader, source: SourceColumn, key_position: int, indexed: bool) -> DiscoveredColumn:
    try:
        arrow = type(reader).arrow_type(source)
    except TypeMappingError as exc:
        return DiscoveredColumn(source, None, int(key_position or 0), bool(indexed), str(exc).split(";")[0])
    return DiscoveredColumn(source, arrow, int(key_position or 0), bool(indexed))


def _rows(
    reader: SourceReader, schema: str, name: str, estimate: int | None, columns: list[DiscoveredColumn]
) -> int | None:
    if estimate is not None and estimate > 0:
        return int(estimate)
    mapped = [Column(c.source, c.arrow_type) for c in columns if c.arrow_type is not None]
    table = TableConfig.model_validate({"name": name, "schema": schema, "mode": "full"})
    return reader.count(table, mapped, None)


def discover(
    reader: SourceReader, schema: str | None = None, tables: str = "*", *, small_rows: int = SMALL_TABLE_ROWS
) -> list[DiscoveredTable]:
    """The tables of ``schema`` (the dialect's default) whose names match the glob ``tables``,
    sorted by name. Row counts are the catalog's estimates, or a count where it has none; a table
    of fewer than ``small_rows`` rows is suggested ``full``."""
    if reader.dialect.name not in CATALOGS:
        raise CatalogError(
            f"discover reads the catalogs of {' and '.join(CATALOGS)}, not yet {reader.dialect.name}'s "
            f"(connection {reader.conn_id!r}); write the pipeline config by hand"
        )
    schema = schema or reader.dialect.default_schema or ""
    found = []
    for name, estimate in reader.fetch_all(render(reader.dialect, "discover_tables"), {"schema": schema}):
        if not fnmatch.fnmatchcase(name, tables):
            continue
        keys = {
            row[0]: (row[1], row[2])
            for row in reader.fetch_all(
                render(reader.dialect, "discover_keys"), {"schema": schema, "table": name}
            )
        }
        columns = [_column(reader, c, *keys.get(c.name, (0, False))) for c in reader.catalog(schema, name)]
        rows = _rows(reader, schema, name, estimate, columns)
        found.append(DiscoveredTable(schema, name, rows, columns, small_rows))
    return found


_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_YAML_WORDS = frozenset({"true", "false", "null", "yes", "no", "on", "off", "y", "n"})


def _scalar(text: str) -> str:
    """A name as YAML: plain when it is a plain identifier, else a quoted string (JSON's quoting
    is YAML's)."""
    plain = _PLAIN.match(text) and text.lower() not in _YAML_WORDS
    return text if plain else json.dumps(text)


def _names(names: list[str]) -> str:
    return "[" + ", ".join(_scalar(n) for n in names) + "]"


def source_name(conn_id: str) -> str:
    """A source name (lower case, digits, underscores) from a connection id."""
    name = re.sub(r"[^a-z0-9_]+", "_", conn_id.lower()).strip("_")
    return name if name and name[0].isalpha() else f"source_{name}"


def _table_yaml(table: DiscoveredTable, default_schema: str | None) -> list[str]:
    suggestion = table.suggestion()
    lines = [f"  # {table.name}: {suggestion.mode}, {suggestion.reason}", f"  - name: {_scalar(table.name)}"]
    if table.schema != default_schema:
        lines.append(f"    schema: {_scalar(table.schema)}")
    lines.append(f"    mode: {suggestion.mode}")
    if suggestion.mode == "window":
        lines.append(f"    date_column: {_scalar(str(suggestion.column))}")
    elif suggestion.mode == "watermark":
        lines.append(f"    watermark_column: {_scalar(str(suggestion.column))}")
    if table.primary_key:
        lines.append(f"    primary_key: {_names(table.primary_key)}")
    else:
        lines.append(
            "    # no primary key in the catalog: name one (primary_key: [...]) for merges and deletes"
        )
    if table.unmappable:
        for column in table.unmappable:
            lines.append(f"    # cannot map yet: {column.name} ({column.source.data_type})")
        mapped = [c.name for c in table.columns if c.arrow_type is not None]
        lines.append("    # the columns it can read (cast the others in a view to read them too):")
        lines.append(f"    columns: {_names(mapped)}")
    return lines


def pipeline_yaml(
    conn_id: str, tables: list[DiscoveredTable], *, default_schema: str | None, today: dt.date | None = None
) -> str:
    """A pipeline config for ``tables``, with the reasons of its choices as comments: a draft to
    review, which ``tributary validate`` accepts as it is."""
    today = today or dt.date.today()
    schemas = sorted({t.schema for t in tables}) or [default_schema or ""]
    lines = [
        f"# Drafted by `tributary discover --conn-id {conn_id}` from the catalog of {', '.join(schemas)}",
        f"# on {today.isoformat()}: review the modes, keys and columns, then save it in include/pipelines/.",
        "source:",
        f"  name: {source_name(conn_id)}",
        f"  conn_id: {_scalar(conn_id)}",
        "lake:",
        "  url: data/lake",
        'schedule: "@daily"',
        f"start_date: {today.replace(day=1).isoformat()}",
        "tables:",
    ]
    for table in tables:
        lines.extend(_table_yaml(table, default_schema))
    return "\n".join(lines) + "\n"
