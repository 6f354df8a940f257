"""How the Lake view writes numbers, sizes, times and links (the templates' filters)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, urlencode

from markupsafe import Markup, escape

from tributary.lake import segment_name
from tributary.lake_calendar import CELL_OF_STATE, FAILED, Cell

if TYPE_CHECKING:
    from tributary.lake_view.reader import TableView

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def size(value: int | None) -> str:
    """``1536`` -> ``1.5 KiB``."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in _UNITS:
        if amount < 1024 or unit == _UNITS[-1]:
            return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def clock(value: dt.datetime | None) -> str:
    """A UTC time as ``2025-03-01 04:05:06 UTC``."""
    if value is None:
        return "-"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def decode_partition(folder: str) -> tuple[str, str]:
    """A partition's folder name (``key=value``, each side a lake path segment) as its key and
    value; :class:`ValueError` when it is not of that form."""
    key, sep, value = folder.partition("=")
    if not (key and sep and value):
        raise ValueError(f"{folder!r} is not a partition (key=value)")
    return segment_name(key), segment_name(value)


def state_kind(state: str) -> str:
    """The colour class of a partition state (as its calendar cell)."""
    return CELL_OF_STATE.get(state, FAILED)


def cell_tip(cell: Cell) -> str:
    """The text a cell shows on hover: its window, state, and what its partition holds."""
    parts = [f"{cell.period}: {cell.label}"]
    if len(cell.partitions) == 1:
        status = cell.partitions[0]
        parts += [f"{number(status.rows)} rows", size(status.bytes)]
        if status.batch_id:
            parts.append(f"batch {status.batch_id}")
        if status.run_id:
            parts.append(f"run {status.run_id}")
        parts += status.problems[:3]
    elif cell.partitions:
        parts.append(f"{len(cell.partitions)} batches")
        parts.append(f"{number(sum(s.rows or 0 for s in cell.partitions))} rows")
    return "; ".join(parts)


def strip_html(links: Links, source: str, table: TableView) -> Markup:
    """A table's calendar strip: a cell per window, linked to its partition's page (to the table's
    page for a month of several batches). Made once per read of the table and page root: the
    overview of 200 tables draws 12,000 cells, too many for a template macro each time."""
    key = f"strip:{links.root}"
    if key not in table.memo:
        table_page = links.table(source, table.name)
        prefix = links.partition(source, table.name, "")
        out = [f'<div class="strip" data-table="{escape(table.name)}">']
        for cell in table.cells:
            if len(cell.partitions) == 1:
                href = prefix + quote_plus(cell.partitions[0].partition)
            else:
                href = f"{table_page}#{cell.period}" if cell.partitions else ""
            tag = "a" if href else "span"
            period, kind = escape(cell.period), cell.kind
            out.append(
                f'<{tag} class="cell {kind}" data-period="{period}" data-state="{kind}"'
                + (f' href="{escape(href)}"' if href else "")
                + f' title="{escape(cell_tip(cell))}"></{tag}>'
            )
        if table.cells:  # the strip's first and last windows, as text
            out.insert(1, f'<span class="ends">{escape(table.cells[0].period)}</span>')
            out.append(f'<span class="ends">{escape(table.cells[-1].period)}</span>')
        out.append("</div>")
        table.memo[key] = Markup("".join(out))  # every value in it is escaped above
    return table.memo[key]


class Links:
    """The app's URLs under its mount point (``root``, e.g. ``/lake``), and the Airflow UI's
    URLs beside it (a run's page), which open in the whole window, not the view's frame."""

    def __init__(self, root: str, prefix: str) -> None:
        self.root = root.rstrip("/")
        self.airflow = self.root.removesuffix(prefix)

    def home(self) -> str:
        return f"{self.root}/"

    def table(self, source: str, table: str) -> str:
        return f"{self.root}/table?{urlencode({'source': source, 'table': table})}"

    def partition(self, source: str, table: str, folder: str) -> str:
        query = urlencode({"source": source, "table": table, "partition": folder})
        return f"{self.root}/partition?{query}"

    def lake_dag(self, dag_id: str) -> str:
        """The view of one source, as on its DAG's tab."""
        return f"{self.root}/dags/{quote(dag_id, safe='')}"

    def dag(self, dag_id: str) -> str:
        return f"{self.airflow}/dags/{quote(dag_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> str:
        return f"{self.dag(dag_id)}/runs/{quote(run_id, safe='')}"


__all__ = ["Links", "cell_tip", "clock", "decode_partition", "number", "size", "state_kind", "strip_html"]
