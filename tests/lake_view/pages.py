"""Reading the Lake view's HTML as a browser's DOM would: the cells of each table's strip."""

from __future__ import annotations

from html.parser import HTMLParser


class _Strips(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.source: str | None = None
        self.table: str | None = None
        self.cells: dict[tuple[str | None, str, str], str] = {}
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and found.get("data-source"):
            self.source = found["data-source"]
            self.sources.append(self.source or "")
        elif tag == "div" and "strip" in (found.get("class") or "").split():
            self.table = found.get("data-table")
        elif "cell" in (found.get("class") or "").split() and found.get("data-period") and self.table:
            self.cells[(self.source, self.table, found["data-period"] or "")] = found.get("data-state") or ""


def strips(html: str) -> _Strips:
    parser = _Strips()
    parser.feed(html)
    return parser


def cells(html: str, table: str, source: str | None = None) -> dict[str, str]:
    """``{period: state}`` of ``table``'s strip (of ``source``'s section, when given)."""
    found = strips(html).cells
    return {p: s for (src, t, p), s in found.items() if t == table and (source is None or src == source)}
