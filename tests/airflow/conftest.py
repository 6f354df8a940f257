"""One real Airflow for the tests of the paths users take: `make airflow`, started once.

The fixture runs `make airflow` as a user does (a subprocess in its own process group, so that
Ctrl-C can be sent to it as a terminal would), in a throwaway Airflow home, with a pipelines
folder of two small test pipelines over a generated SQLite source. ``tests.support.stack`` has
the helpers that trigger runs through the CLI, the REST API and backfills, and wait for them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.stack import Airflow

ROOT = Path(__file__).resolve().parents[2]
START, END = "2025-01-01", "2025-07-01"  # the test pipelines' start_date and end_date


def _pipeline(name: str, lake: Path) -> str:
    return (
        f"source: {{name: {name}, conn_id: rp_db, max_connections: 2, retries: 0}}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        f"schedule: '@monthly'\nstart_date: {START}\nend_date: {END}\nmax_active_runs: 3\n"
        "tables:\n"
        "  - {name: sales, mode: window, date_column: sales_date, primary_key: [id]}\n"
        "  - {name: items, mode: full, primary_key: [item_id]}\n"
    )


@pytest.fixture(scope="session")
def real_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    """`make airflow` in a throwaway home, with the test pipelines ``rp`` and ``rpbf``."""
    from scripts.demo_source import generate

    work = tmp_path_factory.mktemp("real-airflow")
    source = work / "rp.sqlite"
    generate(source, months=6, scale=0.02)
    pipelines = work / "pipelines"
    pipelines.mkdir()
    lakes = {name: work / f"lake-{name}" for name in ("rp", "rpbf")}
    for name, lake in lakes.items():
        (pipelines / f"{name}.yaml").write_text(_pipeline(name, lake))
    # the metadata database's server runs as OS user postgres (when the tests run as root), which
    # must reach the home: not under pytest's private temporary folder
    home = Path(tempfile.mkdtemp(prefix="tributary-airflow-home-"))
    home.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["TRIBUTARY_PIPELINES_DIR"] = str(pipelines)
    process = subprocess.Popen(
        ["make", "-s", "airflow", f"AIRFLOW_ARGS=--home {home}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    url = password = None
    deadline = time.monotonic() + 480
    assert process.stdout is not None
    while time.monotonic() < deadline and password is None:
        line = process.stdout.readline()
        if not line:  # it exited
            break
        output.append(line.rstrip("\n"))
        if m := re.search(r"Airflow is up: (http://\S+)", line):
            url = m.group(1)
        if m := re.search(r"login: admin / (\S+)", line):
            password = m.group(1)
    if url is None or password is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("`make airflow` did not start:\n" + "\n".join(output[-60:]))
    stack = Airflow(process, home, url, password, lakes, source, pipelines, output)
    # the rest of its output is read in the background, so that the pipe never fills
    stack.reader = threading.Thread(
        target=lambda: stack.output.extend(ln.rstrip("\n") for ln in process.stdout), daemon=True
    )
    stack.reader.start()
    try:
        # as a user adds a source: a connection and a pool, from a second shell
        stack.cli("connections", "add", "rp_db", "--conn-type", "sqlite", "--conn-host", str(source))
        stack.cli("pools", "set", "source_rp", "2", "test pipeline rp")
        stack.cli("pools", "set", "source_rpbf", "2", "test pipeline rpbf")
        for dag_id in ("replicate_rp", "replicate_rpbf"):
            stack.wait_dag(dag_id)
            status, body = stack.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            assert status == 200, body
        yield stack
    finally:
        if process.poll() is None:
            stack.interrupt()
        shutil.rmtree(home, ignore_errors=True)
