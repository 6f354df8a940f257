"""What every dbt task does after dbt returns: keep its run results, and name a lock's holder.

Cosmos runs dbt in a temporary copy of the project and calls the operator's ``callback`` with
that folder after dbt returns, before it turns dbt's outcome into the task's: the one moment
``target/run_results.json`` and ``logs/dbt.log`` can be read.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

from tributary.hooks.warehouse import WarehouseLockedError, raise_if_locked, warehouse_file
from tributary.transform.results import slim_run_results

log = logging.getLogger(__name__)

RUN_RESULTS_KEY = "dbt_run_results"
_LOG_TAIL = 256 << 10


def _log_tail(project_dir: Path) -> str:
    path = project_dir / "logs" / "dbt.log"
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - _LOG_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _task_seconds(context: Any) -> float | None:
    start = getattr(context.get("ti"), "start_date", None) if context else None
    if start is None:
        return None
    return round((dt.datetime.now(dt.UTC) - start).total_seconds(), 3)


def _last_error(log_text: str) -> str | None:
    lines = [line.strip() for line in log_text.splitlines() if "error" in line.lower()]
    return lines[-1][-500:] if lines else None


def count_rows(warehouse: Path, nodes: list[dict[str, Any]]) -> None:
    """Fill in the rows of the tables dbt built, where dbt's adapter gives none (dbt-duckdb never
    does): one ``count(*)`` per table, on a read-only connection opened after dbt let go of the
    file, while this task still holds the pool's slot."""
    built = [
        n
        for n in nodes
        if n["resource_type"] in ("model", "seed", "snapshot")
        and n["status"] == "success"
        and n.get("rows") is None
        and n.get("relation")
    ]
    if not built or not warehouse.is_file():
        return
    import duckdb

    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        log.info("rows not counted: %s", exc)
        return
    try:
        for node in built:
            try:
                # relation_name is dbt's own rendering of the table, quoted identifiers
                counted = con.execute(f"select count(*) from {node['relation']}").fetchone()
                node["rows"] = counted[0] if counted else None
            except duckdb.Error as exc:  # a view over a missing table, a dropped relation
                log.info("rows of %s not counted: %s", node["relation"], exc)
    finally:
        con.close()


def keep_run_results(
    project_dir: str, context: Any = None, warehouse_conn_id: str | None = None, **_: Any
) -> None:
    """Push the slim run results to XCom (key ``dbt_run_results``) for the report; raise
    ``WarehouseLockedError`` with the holder's PID when dbt met DuckDB's lock, and fail without
    retries, naming them, when error-level tests failed.

    ``warehouse_conn_id``: the warehouse's connection, to count the rows of the tables dbt built."""
    folder = Path(project_dir)
    path = folder / "target" / "run_results.json"
    slim: dict[str, Any] | None = None
    if path.is_file():
        try:
            slim = slim_run_results(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s: %s", path, exc)
    texts = [node.get("message") for node in (slim or {}).get("nodes", [])]
    if slim is None or any(node["status"] == "error" for node in slim["nodes"]):
        # an error outside any node (e.g. connecting to DuckDB) is only in dbt's log
        tail = _log_tail(folder)
        texts.append(tail)
        if slim is None:
            slim = {"command": "", "elapsed": 0.0, "nodes": [], "error": _last_error(tail)}
    elif warehouse_conn_id:
        count_rows(warehouse_file(warehouse_conn_id), slim["nodes"])
    locked: WarehouseLockedError | None = None
    try:
        raise_if_locked(*texts)
    except WarehouseLockedError as exc:
        locked = exc
        slim["error"] = str(exc)
    slim["task_seconds"] = _task_seconds(context)
    if context is not None:
        context["ti"].xcom_push(key=RUN_RESULTS_KEY, value=slim)
    if locked is not None:
        raise locked
    failed_tests = [
        n["name"] for n in slim["nodes"] if n["resource_type"] == "test" and n["status"] == "fail"
    ]
    if failed_tests:
        from airflow.sdk.exceptions import AirflowFailException

        # the data does not change by running the tests again: no retries
        raise AirflowFailException(
            f"{len(failed_tests)} error-level dbt test(s) failed: {', '.join(failed_tests)}; "
            "the report task lists them with their failing rows"
        )
