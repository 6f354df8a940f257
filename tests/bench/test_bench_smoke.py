"""The benchmark runs end to end on a small table, and every method's output is verified.

Not a timed test: the figures of a 20,000-row run mean nothing. It checks that `make bench`
works: the throwaway cluster, the data, every method of bench/methods/ for the whole table and
a month, the fingerprints, the sessions each Tributary setting holds, the results files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("initdb") is None or shutil.which("psql") is None,
    reason="needs the PostgreSQL server binaries and psql",
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--rows",
            "20000",
            "--runs",
            "1",
            "--skip",
            "parse",
            "--work",
            str(work),
            "--no-warmup",
            # the children's bytecode, kept between test runs (git-ignored)
            "--pycache",
            str(ROOT / "bench" / "work" / "pycache"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (work / "results.md").read_text().startswith("### Full table and one month")
    return json.loads((work / "results.json").read_text())


METHODS = {
    "floor",
    "tributary",
    "tributary-2",
    "tributary-stream",
    "sqltos3",
    "duckdb-query",
    "duckdb-scan",
    "connectorx",
    "adbc",
}


def test_every_method_ran_on_both_scenarios(results: dict) -> None:
    assert set(results["methods"]) == METHODS
    ran = {(r["method"], r["scenario"]) for r in results["results"] if r["summary"]}
    assert ran == {(m, s) for m in METHODS for s in ("full", "month")}
    assert results["info"]["rows"] == {"full": 20000, "month": results["info"]["rows"]["month"]}
    assert 0 < results["info"]["rows"]["month"] < 20000


def test_every_output_has_the_source_values(results: dict) -> None:
    outputs = [r for r in results["results"] if r["method"] != "floor"]
    assert outputs
    for r in outputs:
        assert r["verify"]["values_ok"], (r["method"], r["scenario"], r["verify"])
        assert r["verify"]["rows"] == results["info"]["rows"][r["scenario"]]


def test_tributary_types_are_exact_and_it_holds_its_sessions(results: dict) -> None:
    tributary = [r for r in results["results"] if r["role"] == "tributary"]
    assert {r["method"] for r in tributary} == {"tributary", "tributary-2", "tributary-stream"}
    for r in tributary:
        assert r["verify"]["types_exact"], (r["method"], r["verify"]["type_changes"])
        assert r["verify"]["problems"] == []  # audit columns, manifest rows, sha256
        if r["method"] != "tributary-stream":  # DuckDB writes: no pandas in the process
            assert [run["report"]["pandas_imported"] for run in r["runs"]] == [False], r["method"]
        # `sessions: 2` holds 2 pool slots; the others 1
        expected = 2 if r["method"] == "tributary-2" else 1
        assert 1 <= r["summary"]["sessions_max"] <= expected, (r["method"], r["scenario"], r["summary"])


def test_the_lossy_paths_are_reported_as_such(results: dict) -> None:
    by = {(r["method"], r["scenario"]): r["verify"] for r in results["results"] if r["verify"]}
    assert "total_amount: decimal128(15, 2) -> double" in by[("sqltos3", "full")]["type_changes"]
    assert (
        "total_amount: decimal128(15, 2) -> decimal128(38, 10)" in by[("connectorx", "full")]["type_changes"]
    )
