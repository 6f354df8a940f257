"""DbtReportOperator: the last task of a dbt DAG, whatever happened before it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator, TriggerRule
from airflow.sdk.exceptions import AirflowFailException

from tributary.transform.callbacks import RUN_RESULTS_KEY
from tributary.transform.results import Step, TaskRun, format_report, run_failed, tests_from_manifest

log = logging.getLogger(__name__)

REPORT_KEY = "dbt_report"


class DbtReportOperator(BaseOperator):
    """Print per step its status, timing, rows and nodes, then the test failures by severity, from
    the run results each dbt task kept; fail, naming them, if an error-level test failed or a step
    failed. Warn-level failures are reported and do not fail the run.

    Runs whatever the upstream tasks did (trigger rule ``all_done``), so a failed run is reported too.

    :param steps: the DAG's steps in order: step name → the task ids of its dbt tasks
    :param manifest_path: the dbt manifest, for what each failing test checks (optional)
    """

    ui_color = "#f4e3c1"

    def __init__(
        self,
        *,
        steps: dict[str, list[str]],
        manifest_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", TriggerRule.ALL_DONE)
        super().__init__(**kwargs)
        self.steps = steps
        self.manifest_path = manifest_path

    def _tests(self) -> dict[str, Any]:
        if not self.manifest_path:
            return {}
        try:
            return tests_from_manifest(json.loads(Path(self.manifest_path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            self.log.warning("cannot read the manifest %s: %s", self.manifest_path, exc)
            return {}

    def execute(self, context: Any) -> None:
        ti = context["ti"]
        # the report is also an XCom (key dbt_report), for whoever triggered the run
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {})
        steps = []
        for name, task_ids in self.steps.items():
            step = Step(name)
            for task_id in task_ids:
                results = ti.xcom_pull(task_ids=task_id, key=RUN_RESULTS_KEY)
                step.tasks.append(TaskRun(task_id, states.get(task_id), results))
            steps.append(step)
        title = f"dbt report of {ti.dag_id}, run {ti.run_id}"
        text = format_report(title, steps, self._tests())
        log.info("\n%s", text)
        ti.xcom_push(key=REPORT_KEY, value=text)
        reasons = run_failed(steps)
        if reasons:
            raise AirflowFailException("the dbt run failed:\n  " + "\n  ".join(reasons) + "\n\n" + text)
