"""A running `make airflow`, as the tests of the paths users take drive it: the CLI of a second
shell (only ``AIRFLOW_HOME`` and ``PATH``), the REST API the UI calls, backfills, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
DONE = ("success", "failed")


@dataclass
class Airflow:
    """The running `make airflow`: its process, home, URL and login, and the lakes of the test
    pipelines."""

    process: subprocess.Popen[str]
    home: Path
    url: str
    password: str
    lakes: dict[str, Path]
    source: Path
    pipelines: Path
    output: list[str] = field(default_factory=list)
    reader: Any = None  # the thread that reads the rest of its output
    _token: str | None = None

    # --- a second shell -----------------------------------------------------------------------

    @property
    def cli_env(self) -> dict[str, str]:
        """What the README tells a second shell to export, and nothing else of Airflow's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.pop("PYTHONPATH", None)
        env.update({"AIRFLOW_HOME": str(self.home), "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"})
        env["TRIBUTARY_PIPELINES_DIR"] = str(self.pipelines)  # the test pipelines, not the project's
        return env

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["airflow", *args], env=self.cli_env, cwd="/", capture_output=True, text=True, timeout=300
        )
        if check and out.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out

    def trigger(self, dag_id: str, logical_date: str) -> dict[str, Any]:
        """``airflow dags trigger DAG -l DATE``, and the run it created, once it has finished."""
        out = self.cli("dags", "trigger", dag_id, "-l", logical_date, "-o", "json")
        (created,) = json.loads(next(ln for ln in out.stdout.splitlines() if ln.startswith("[")))
        return self.wait_run(dag_id, created["dag_run_id"])

    # --- the REST API the UI calls ------------------------------------------------------------

    def token(self) -> str:
        if self._token is None:
            body = json.dumps({"username": "admin", "password": self.password}).encode()
            request = urllib.request.Request(
                f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                self._token = json.load(response)["access_token"]
        return self._token

    def api(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Authorization": f"Bearer {self.token()}",
                "Content-Type": "application/json",
                **(headers or {}),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        status, run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")
        assert status == 200, run
        return run

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 420) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in DONE:
                return run
            time.sleep(2)
        raise AssertionError(f"run {run_id} of {dag_id} did not finish in {timeout:.0f}s: {run}")

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        status, page = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")
        assert status == 200, page
        return page["dag_runs"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        quoted = urllib.parse.quote(run_id, safe="")
        status, body = self.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}"
        )
        assert status == 200, body
        content = body.get("content") if isinstance(body, dict) else body
        if isinstance(content, list):
            # structured events: the message, and the exception's details where there is one
            return "\n".join(json.dumps(e, ensure_ascii=False, default=str) for e in content)
        return str(content)

    def wait_dag(self, dag_id: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, _ = self.api("GET", f"/api/v2/dags/{dag_id}")
            if status == 200:
                return
            time.sleep(2)
        raise AssertionError(f"DAG {dag_id} was not parsed in {timeout:.0f}s")

    # --- Ctrl-C ---------------------------------------------------------------------------------

    def interrupt(self, timeout: float = 120) -> int:
        """Ctrl-C, as a terminal sends it: SIGINT to the foreground process group."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            raise
        if self.reader is not None:
            self.reader.join(10)  # the last lines it printed
        return self.process.returncode


def committed(lake: Path, source: str, table: str) -> list[str]:
    """The partitions of a table that have ``_SUCCESS``."""
    folder = lake / source / table
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / "_SUCCESS").exists())
