"""Reading a finished dbt DAG run from the metadata database: what ``make demo`` and the tests
print and check after ``dag.test()``."""

from __future__ import annotations

from typing import Any

from tributary.transform.callbacks import RUN_RESULTS_KEY
from tributary.transform.report import REPORT_KEY


def xcom_value(dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    """The XCom ``key`` of a task in a run, or ``None``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids=task_id, key=key, limit=1)
        ).first()
        return XComModel.deserialize_value(row) if row is not None else None


def run_report(dag_id: str, run_id: str) -> str | None:
    """The text the report task printed for a run (also when the run failed)."""
    return xcom_value(dag_id, run_id, "report", REPORT_KEY)


def run_results(dag_id: str, run_id: str, task_id: str) -> dict[str, Any] | None:
    """The slim dbt run results a dbt task of the run kept."""
    return xcom_value(dag_id, run_id, task_id, RUN_RESULTS_KEY)
