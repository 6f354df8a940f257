"""The extract history in the warehouse, and the batch summary a run prints.

``tributary.extract_history`` holds one row per extract per run of the extracts DAG. The summary
task writes a run's rows in one transaction, replacing the rows that run wrote before (a cleared
summary task writes them again, it does not add more).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tributary.dialects import DUCKDB
from tributary.hooks import warehouse
from tributary.sql import render

HISTORY_SCHEMA = "tributary"
HISTORY_TABLE = "extract_history"
HISTORY = f"{HISTORY_SCHEMA}.{HISTORY_TABLE}"
COLUMNS = (
    "dag_id",
    "run_id",
    "extract_name",
    "execution_group",
    "requested_group",
    "config_file",
    "source",
    "format",
    "status",
    "rows",
    "bytes",
    "file",
    "window_start",
    "window_end",
    "started_at",
    "finished_at",
    "duration_seconds",
    "try_number",
    "error",
    "recorded_at",
)
_TIMES = ("window_start", "window_end", "started_at", "finished_at", "recorded_at")


def history_rows(
    outcomes: Sequence[dict[str, Any]], *, dag_id: str, run_id: str, requested_group: str | None
) -> list[dict[str, Any]]:
    """The history rows of a run's outcomes."""
    recorded = dt.datetime.now(dt.UTC)
    rows = []
    for outcome in outcomes:
        row = {column: outcome.get(column) for column in COLUMNS}
        row.update(dag_id=dag_id, run_id=run_id, requested_group=requested_group, recorded_at=recorded)
        for column in _TIMES:
            value = row[column]
            if isinstance(value, str):
                row[column] = dt.datetime.fromisoformat(value)
        rows.append(row)
    return rows


def write_history(
    path: Path, rows: list[dict[str, Any]], *, dag_id: str, run_id: str, lock_wait: float
) -> None:
    """Replace the run's rows of the history table with ``rows``, in one transaction."""
    names: dict[str, Any] = {"schema": HISTORY_SCHEMA, "table": HISTORY_TABLE}
    con = warehouse.connect(path, read_only=False, lock_wait=lock_wait)
    try:
        con.execute(render(DUCKDB, "extract_history_create", **names))
        con.begin()
        try:
            con.execute(
                render(DUCKDB, "extract_history_delete", **names), {"dag_id": dag_id, "run_id": run_id}
            )
            if rows:
                con.executemany(render(DUCKDB, "extract_history_insert", columns=COLUMNS, **names), rows)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    finally:
        con.close()


def summary_text(
    outcomes: Sequence[dict[str, Any]],
    *,
    run_id: str,
    window: tuple[str | None, str],
    requested_group: str | None,
    history: str,
) -> str:
    """The batch summary: one line per extract, the errors, the success rate."""
    succeeded = sum(1 for o in outcomes if o.get("status") == "success")
    total = len(outcomes)
    head = (
        f"extracts of run {run_id}, window {window[0]} to {window[1]}, "
        f"execution group {requested_group or '(all)'}"
    )
    if not total:
        return f"{head}\nno active extract to run: nothing written to {history}"
    width = max(len("extract"), *(len(o["extract_name"]) for o in outcomes))
    lines = [head, f"{'extract':<{width}}  {'status':<8}{'rows':>12}{'bytes':>14}{'seconds':>9}  file"]
    for o in outcomes:
        rows = f"{o['rows']:,}" if o.get("rows") is not None else "-"
        size = f"{o['bytes']:,}" if o.get("bytes") is not None else "-"
        seconds = f"{o['duration_seconds']:.1f}" if o.get("duration_seconds") is not None else "-"
        name, status, file = o["extract_name"], o["status"], o.get("file") or "-"
        lines.append(f"{name:<{width}}  {status:<8}{rows:>12}{size:>14}{seconds:>9}  {file}")
    for o in outcomes:
        if o.get("error"):
            lines.append(f"  {o['extract_name']} failed: {o['error']}")
    rate = 100.0 * succeeded / total
    lines.append(f"success rate: {succeeded} of {total} extracts ({rate:.1f}%); history in {history}")
    return "\n".join(lines)
