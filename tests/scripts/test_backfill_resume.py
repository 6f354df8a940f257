"""A failed backfill resumes with `--reprocess-behavior failed`, on a real scheduler and API server
(`airflow standalone`), through `scripts/backfill_resume.py`, which a user can run as well."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(1200)
def test_a_failed_backfill_resumes_by_itself() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "backfill_resume.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    first = lines.index("== backfill 2025-01 .. 2025-03 (February's source has a broken row)")
    assert "2025-02-01: failed" in lines[first + 2]
    assert "2025-01-01: success" in lines[first + 1] and "2025-03-01: success" in lines[first + 3]
    assert sum("month=" in line and line.endswith("OK") for line in lines) == 3
    assert lines[-1].startswith("== the failed backfill resumed")
