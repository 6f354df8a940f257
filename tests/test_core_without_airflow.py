"""The core of the package imports no Airflow: config, dialects, readers, the lake and its commit
protocol, parts, manifests, checks, SQL, and the features' own logic run (and are tested)
without it. Only the Airflow glue and the features' Airflow adapters may import it.

The list is every module of the package minus the declared exceptions, so a new module is held
to the rule without anyone adding it here. The modules are imported one after another in a fresh
interpreter, so nothing imported by another test hides an import, and the first module that
brings Airflow in is named.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.package import ROOT, area, modules

# The Airflow glue every feature shares (tests/test_layout.py keeps the features off it).
# lineage: OpenLineage's facets; lake_view: the Lake view's FastAPI app (Airflow's auth manager
# and the lake hook).
GLUE = (
    "hooks", "dag_support", "timetable", "operators", "sensors", "triggers", "factory", "cli",
    "lineage", "lake_view",
)  # fmt: skip
# The features' own Airflow adapters: their DAGs, the Cosmos profile and the dbt report task.
ADAPTERS = {
    "tributary.extracts.dag",
    "tributary.transform.factory",
    "tributary.transform.profile",
    "tributary.transform.report",
    "tributary.transform.runs",
}

PROBE = """
import importlib, json, sys
found = {}
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    airflow = sorted(m for m in sys.modules if m.split('.')[0] == 'airflow')
    if airflow:
        found[name] = airflow[:5]
        break
print(json.dumps(found))
"""


def core_modules() -> list[str]:
    return [name for name in modules() if area(name) not in GLUE and name not in ADAPTERS]


def test_the_core_list_covers_the_package() -> None:
    core = core_modules()
    # the modules the issue names as core, and a feature's own logic, are all in it
    named = [
        "tributary.config.loader", "tributary.readers.postgres", "tributary.lake", "tributary.batches",
        "tributary.replication.extract", "tributary.files.read", "tributary.extracts.sources",
        "tributary.lake_status", "tributary.lake_calendar",
    ]  # fmt: skip
    assert set(named) <= set(core)
    assert "tributary.hooks.sources" not in core and "tributary.extracts.dag" not in core


def test_no_core_module_imports_airflow() -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(core_modules())],
        env={"PYTHONPATH": str(ROOT / "plugins"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == {}, f"a core module imports Airflow: {out.stdout.strip()}"
