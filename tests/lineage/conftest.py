"""A replication DAG run with ``dag.test()`` in a process of its own whose Airflow has the
OpenLineage provider's file transport configured, and the events it wrote, read back.

A process of its own: the provider decides when its plugin is imported whether to register its
listener (no transport: no listener), and the test session imports Airflow's plugins once, without
a transport, for every other test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

REPLICATE = """
import datetime as dt, sys
from pathlib import Path
from tributary.config import load_config
from tributary.factory import build_dag

config = Path(sys.argv[1])
dag = build_dag(load_config(config), config)
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]))
print("RUN_STATE=" + str(run.state))
"""


@dataclass
class LineageRun:
    state: str
    events: list[dict[str, Any]]
    log: str

    def completed(self, job_suffix: str) -> dict[str, Any]:
        """The COMPLETE event of the task whose job name ends with ``job_suffix``."""
        found = [
            e for e in self.events if e["eventType"] == "COMPLETE" and e["job"]["name"].endswith(job_suffix)
        ]
        expired = [line for line in self.log.splitlines() if "expired" in line]
        assert len(found) == 1, f"{len(found)} COMPLETE events of *{job_suffix}: {self.job_names()} {expired}"
        return found[0]

    def job_names(self) -> list[str]:
        return sorted({e["job"]["name"] for e in self.events})


def run_with_lineage(
    config_file: Path, logical_date: str, events_file: Path | None, env: dict[str, str]
) -> LineageRun:
    """``dag.test()`` of the pipeline ``config_file`` in a new process; with ``events_file``, the
    provider writes its events there (the file transport), one JSON object a line."""
    # dag.test syncs the dags folder, which reads the pipelines there
    env = {"TRIBUTARY_PIPELINES_DIR": str(config_file.parent), **env}
    return run_script(REPLICATE, [str(config_file), logical_date], events_file, env)


def run_script(script: str, args: list[str], events_file: Path | None, env: dict[str, str]) -> LineageRun:
    """``script`` (which prints ``RUN_STATE=<state>`` of its ``dag.test()``) in a new process."""
    environ = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "tributary-test",
        # the provider kills its emitting process after 10 s; a loaded test machine may need more
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "120",
        **env,
    }
    environ.pop("AIRFLOW__OPENLINEAGE__TRANSPORT", None)
    if events_file is not None:
        transport = {"type": "file", "log_file_path": str(events_file), "append": True}
        environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(transport)
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = done.stdout + done.stderr
    if events_file is not None:
        events_file.with_suffix(".log").write_text(log)  # for a failing test's reader
    assert done.returncode == 0, log[-4000:]
    (state,) = [line.split("=", 1)[1] for line in done.stdout.splitlines() if line.startswith("RUN_STATE=")]
    events = []
    if events_file is not None and events_file.exists():
        events = [json.loads(line) for line in events_file.read_text().splitlines() if line.strip()]
    return LineageRun(state=state, events=events, log=log)
