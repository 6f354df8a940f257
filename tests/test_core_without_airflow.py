"""The core of the package imports no Airflow: config, dialects, readers, the lake and its commit
protocol, parts, manifests, checks and SQL run (and are tested) without it. Each module is
imported in a fresh interpreter, so nothing imported by another test hides an import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = [
    "tributary.config", "tributary.dialects", "tributary.readers", "tributary.lake",
    "tributary.lake_io", "tributary.parts", "tributary.manifest", "tributary.checks",
    "tributary.sql", "tributary.audit", "tributary.drift", "tributary.windows", "tributary.errors",
    "tributary.replication", "tributary.batches", "tributary.failures", "tributary.files.read",
    "tributary.files.contract", "tributary.files.extract", "tributary.files.verify",
]  # fmt: skip


@pytest.mark.parametrize("module", CORE)
def test_a_core_module_imports_no_airflow(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(ROOT / "plugins"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]", f"{module} imports Airflow: {out.stdout.strip()}"
