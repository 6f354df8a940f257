"""The ``extracts`` DAG: every active extract in one run, each in a task of its own.

``list_extracts`` picks the active extracts of the run (the ``execution_group`` and ``extracts``
params of the trigger form), ``run_extract`` is mapped over them (dynamic task mapping: one task
instance per extract, so one failing extract fails only its own), and ``summary`` (trigger rule
``all_done``) writes every outcome to the extract history in the warehouse and logs the batch
summary with the success rate; it fails the run when an extract failed.

Parse time reads the extract definitions' YAML and nothing else; the definitions travel to
``list_extracts`` as its argument, so a run uses the definitions the DAG was parsed with.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from functools import partial
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from tributary.config import Schedule
from tributary.dag_support import collect_dags, run_window
from tributary.errors import TributaryError
from tributary.extracts.config import Extract
from tributary.extracts.history import HISTORY, history_rows, summary_text, write_history
from tributary.extracts.loader import load_extracts
from tributary.extracts.run import FAILED, Outcome, run_extract
from tributary.hooks.warehouse import POOL, WAREHOUSE_CONN_ID, warehouse_queue, warehouse_settings
from tributary.timetable import CRON, WindowTimetable
from tributary.windows import Window

log = logging.getLogger(__name__)

DAG_ID = "extracts"
ERRORS_DAG_ID = "tributary_extract_config_errors"
OUTCOME_KEY = "extract_outcome"
SUMMARY_KEY = "extract_summary"


# --- run time ---------------------------------------------------------------------------------


def _open_rows(extract: Extract, window: Window) -> Any:
    """A function that opens the extract's source and gives its rows."""
    from tributary.extracts.sources import database_rows, duckdb_rows
    from tributary.hooks.sources import conn_type_of

    conn_id = extract.config.source.conn_id
    conn_type = conn_type_of(conn_id)  # "" when undefined: open_reader says what to do about it
    if conn_type == "duckdb" or (conn_id == WAREHOUSE_CONN_ID and not conn_type):
        path, lock_wait = warehouse_settings(conn_id)
        return lambda: duckdb_rows(path, extract, window, lock_wait=lock_wait)
    return lambda: database_rows(conn_id, extract, window)


def execute_extract(definition: dict[str, Any]) -> dict[str, Any]:
    """The mapped task's work: one extract; its outcome is pushed whether it succeeds or not."""
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    context["extract_name"] = definition["name"]  # type: ignore[typeddict-unknown-key]
    ti = context["ti"]
    extract = Extract.from_xcom(definition)
    window = run_window(context, Schedule.daily, logical_date_required=False)
    outcome = Outcome.start(extract, window)
    outcome.try_number = ti.try_number
    try:
        run_extract(extract, window, _open_rows(extract, window), outcome=outcome)
    except Exception as exc:
        message = f"extract {extract.name!r} ({extract.path}): {exc}"
        ti.xcom_push(key=OUTCOME_KEY, value=outcome.finish(FAILED, error=message).to_dict())
        if getattr(exc, "permanent", False):
            raise AirflowFailException(message) from exc
        raise ExtractFailedError(message) from exc
    ti.xcom_push(key=OUTCOME_KEY, value=outcome.to_dict())
    return outcome.to_dict()


class ExtractFailedError(TributaryError):
    """An extract failed for a reason a retry may fix (a lock, a connection cut, a timeout)."""


def select_extracts(definitions: list[dict[str, Any]], params: Any) -> list[dict[str, Any]]:
    """The active extracts of the run's ``execution_group`` (all groups if empty), or only the
    named ``extracts``; an unknown group or name fails the run, naming the known ones."""
    from airflow.sdk.exceptions import AirflowFailException

    group = (params.get("execution_group") or "").strip() or None
    names = [n for n in (params.get("extracts") or []) if n]
    groups = sorted({d["config"].get("execution_group", "default") for d in definitions})
    if group is not None and group not in groups:
        raise AirflowFailException(
            f"execution_group {group!r} has no extract; the groups are {', '.join(groups) or '(none)'}"
        )
    known = {d["name"] for d in definitions}
    unknown = sorted(set(names) - known)
    if unknown:
        raise AirflowFailException(f"no extract is named {unknown}; the extracts are {sorted(known)}")
    selected = []
    for definition in definitions:
        config = definition["config"]
        in_group = group is None or config.get("execution_group", "default") == group
        named = not names or definition["name"] in names
        if in_group and named:
            if config.get("active", True):
                selected.append(definition)
            else:
                log.info("extract %s is not active: skipped", definition["name"])
    log.info(
        "%d extract(s) to run (execution group %s): %s",
        len(selected),
        group or "(all)",
        ", ".join(d["name"] for d in selected) or "none",
    )
    return selected


def summarize(warehouse_conn_id: str) -> dict[str, Any]:
    """Every outcome of the run into the history, the batch summary into the log."""
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    ti = context["ti"]
    window = run_window(context, Schedule.daily, logical_date_required=False)
    group = (context["params"].get("execution_group") or "").strip() or None
    listed = ti.xcom_pull(task_ids="list_extracts")
    if listed is None:
        raise AirflowFailException("list_extracts did not finish: no extract ran, see its log")
    pushed = ti.xcom_pull(task_ids="run_extract", key=OUTCOME_KEY)
    pushed = [pushed] if isinstance(pushed, dict) else [p for p in (pushed or []) if p]
    by_name = {p["extract_name"]: p for p in pushed}
    outcomes = []
    for definition in listed:
        found = by_name.get(definition["name"])
        if found is None:
            extract = Extract.from_xcom(definition)
            found = (
                Outcome.start(extract, window)
                .finish(
                    FAILED,
                    error=f"extract {extract.name!r} ({extract.path}): no outcome recorded: its task was "
                    "killed, timed out or never ran; see the log of run_extract for this extract",
                )
                .to_dict()
            )
            found["started_at"] = found["finished_at"] = None
            found["duration_seconds"] = None
        outcomes.append(found)
    run_id = context["run_id"]
    dag_id = context["dag"].dag_id
    path, lock_wait = warehouse_settings(warehouse_conn_id)
    write_history(
        path,
        history_rows(outcomes, dag_id=dag_id, run_id=run_id, requested_group=group),
        dag_id=dag_id,
        run_id=run_id,
        lock_wait=lock_wait,
    )
    bounds = (window.start.isoformat() if window.start else None, window.end.isoformat())
    text = summary_text(
        outcomes, run_id=run_id, window=bounds, requested_group=group, history=f"{path} {HISTORY}"
    )
    log.info("%s", text)
    ti.xcom_push(key=SUMMARY_KEY, value=text)
    failed = [o["extract_name"] for o in outcomes if o["status"] != "success"]
    if failed:
        raise AirflowFailException(
            f"{len(failed)} of {len(outcomes)} extract(s) failed: {', '.join(failed)}; their outcomes "
            f"and errors are in {HISTORY} (written) and in the summary above"
        )
    return {"extracts": len(outcomes), "failed": 0}


# --- parse time -------------------------------------------------------------------------------


def _doc(extracts: list[Extract]) -> str:
    lines = [
        "Writes every active extract (CSV, TSV, Parquet) of the definitions in "
        "`include/pipelines/extracts/`, one mapped task per extract, then records each outcome in "
        f"`{HISTORY}` of the warehouse. Trigger with `execution_group` to run one group.",
        "",
    ]
    for extract in extracts:
        config = extract.config
        state = "" if config.active else " (inactive)"
        lines.append(
            f"- `{config.name}`{state}: {config.source.label} → {config.file.format.value}, "
            f"group `{config.execution_group}`"
        )
    return "\n".join(lines)


def _params(extracts: list[Extract]) -> dict[str, Param]:
    groups = sorted({e.config.execution_group for e in extracts if e.config.active})
    names = sorted(e.name for e in extracts if e.config.active)
    group_param: dict[str, Any] = {
        "type": ["null", "string"],
        "title": "Execution group",
        "description": "Run the active extracts of this group only (empty: every group). Groups: "
        + (", ".join(groups) or "none"),
    }
    if groups:
        group_param["examples"] = groups
    return {
        "execution_group": Param(None, **group_param),
        "extracts": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Extracts",
            description="Run only these extracts (empty: every active extract of the group): "
            + (", ".join(names) or "none"),
        ),
    }


def _queue_of(extracts: list[Extract], warehouse_conn_id: str) -> dict[str, Any]:
    """The queue of the mapped extract task, one for all its instances: the warehouse's when any
    extract reads the warehouse file (on that queue's worker only), else Airflow's default."""
    reads_warehouse = any(e.config.source.conn_id == warehouse_conn_id for e in extracts)
    return {"queue": warehouse_queue()} if reads_warehouse else {}


def build_extracts_dag(
    extracts: list[Extract],
    *,
    dag_id: str = DAG_ID,
    retries: int = 2,
    retry_delay: dt.timedelta = dt.timedelta(minutes=2),
    max_parallel: int = 4,
    warehouse_conn_id: str = WAREHOUSE_CONN_ID,
) -> DAG:
    """The extracts DAG over ``extracts`` (valid definitions, sorted by name).

    :param retries: Airflow retries of an extract that failed for a transient reason (a locked
        warehouse, a cut connection); permanent failures (a missing table, bad data) do not retry
    :param max_parallel: extracts running at once in one run
    :param warehouse_conn_id: the DuckDB warehouse (the default source, and the history's home)
    """
    with DAG(
        dag_id=dag_id,
        schedule=WindowTimetable(CRON["@daily"], timezone="UTC"),
        start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        default_args={"owner": "tributary", "retries": 0},
        tags=["tributary", "extracts"],
        doc_md=_doc(extracts),
        params=_params(extracts),
    ) as dag:

        @task(task_id="list_extracts")
        def list_extracts(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return select_extracts(definitions, get_current_context()["params"])

        @task(
            task_id="run_extract",
            map_index_template="{{ extract_name }}",
            retries=retries,
            retry_delay=retry_delay,
            retry_exponential_backoff=2.0,
            max_retry_delay=dt.timedelta(minutes=30),
            max_active_tis_per_dagrun=max_parallel,
            **_queue_of(extracts, warehouse_conn_id),
        )
        def run_one(extract: dict[str, Any]) -> dict[str, Any]:
            return execute_extract(extract)

        @task(
            task_id="summary",
            trigger_rule="all_done",
            pool=POOL,  # the history is a write to the DuckDB file: one writer, as the dbt tasks
            queue=warehouse_queue(),
            retries=retries,
            retry_delay=dt.timedelta(minutes=1),
        )
        def summary() -> dict[str, Any]:
            return summarize(warehouse_conn_id)

        listed = list_extracts([e.to_xcom() for e in sorted(extracts, key=lambda e: e.name)])
        ran = run_one.expand(extract=listed)
        listed >> ran >> summary()
    return dag


def build_extract_dags(folder: str | os.PathLike[str] | None = None, **options: Any) -> dict[str, DAG]:
    """The extracts DAG of the definitions in ``folder`` (``$TRIBUTARY_EXTRACTS_DIR`` or
    ``include/pipelines/extracts``); broken files become one import error that hides no valid
    extract."""
    extracts, errors = load_extracts(folder)
    builders = [("the extracts DAG", partial(build_extracts_dag, extracts, **options))]
    return collect_dags(builders, errors, errors_dag_id=ERRORS_DAG_ID)
