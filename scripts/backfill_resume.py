"""A failed backfill resumes by itself: shown against a real scheduler and API server.

What it does, in a throwaway Airflow home with its own PostgreSQL as the metadata database
(nothing of the project's .airflow/ or data/ is touched):

1. generates a small demo source (3 months) and breaks one row of February so that February's
   extract fails (a value that is not a decimal in a DECIMAL column);
2. starts Airflow as `make airflow` does (scheduler, DAG processor, triggerer and API server,
   scripts/local_airflow.py) with a pool for the source;
3. `airflow backfill create --dag-id replicate_bf --from-date 2025-01-01 --to-date 2025-03-01`:
   January and March commit, February fails;
4. repairs the source row and creates the backfill again with `--reprocess-behavior failed`:
   only February runs again, January and March are left as they are;
5. checks the lake: every window committed, parity OK, no duplicates; prints the runs.

Usage: `.venv/bin/python scripts/backfill_resume.py` (about 2-4 minutes). Exit code 0 when the
backfill resumed as described.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
DAG_ID = "replicate_bf"
WINDOWS = ("2025-01-01", "2025-02-01", "2025-03-01")


def airflow(env: dict[str, str], *args: str, check: bool = True) -> str:
    out = subprocess.run(
        [str(VENV_BIN / "airflow"), *args], env=env, capture_output=True, text=True, check=False
    )
    if check and out.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def runs(env: dict[str, str]) -> dict[str, dict[str, str]]:
    text = airflow(env, "dags", "list-runs", DAG_ID, "-o", "json")
    line = next((ln for ln in text.splitlines() if ln.startswith("[{") or ln == "[]"), "[]")
    rows = json.loads(line)
    return {r["logical_date"][:10]: r for r in rows}


def wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(3)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def settled(env: dict[str, str], expected: set[str]) -> bool:
    current = runs(env)
    return expected <= set(current) and all(current[d]["state"] in ("success", "failed") for d in expected)


def broken_source(work: Path) -> tuple[Path, int, object]:
    """The demo source (3 months) with one row of February broken: its path, the row's id and the
    value to put back."""
    from scripts.demo_source import generate

    source = work / "pos.sqlite"
    generate(source, months=3, scale=0.05)
    with sqlite3.connect(source) as conn:
        (bad_id, good_value) = conn.execute(
            "SELECT id, total_amount FROM sales WHERE sales_date >= '2025-02-10' ORDER BY id LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE sales SET total_amount = 'n/a' WHERE id = ?", (bad_id,))
    return source, bad_id, good_value


def write_pipeline(pipelines: Path, lake: Path) -> None:
    (pipelines / "bf.yaml").write_text(
        "source: {name: bf, conn_id: bf_db, max_connections: 2, retries: 0}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\nend_date: 2025-04-01\n"
        "tables:\n  - {name: sales, mode: window, date_column: sales_date}\n"
        "  - {name: items, mode: full}\n"
    )


def print_runs(found: dict[str, dict[str, str]]) -> None:
    for day in WINDOWS:
        print(f"   {day}: {found[day]['state']:<8} {found[day]['run_id']}")


def first_backfill(env: dict[str, str]) -> dict[str, dict[str, str]]:
    """The DAG parsed and unpaused, the backfill of the three months: February fails."""
    wait_for(lambda: DAG_ID in airflow(env, "dags", "list", check=False), "the DAG to be parsed", 180)
    airflow(env, "dags", "unpause", DAG_ID)

    print("== backfill 2025-01 .. 2025-03 (February's source has a broken row)", flush=True)
    airflow(env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", WINDOWS[0],
            "--to-date", WINDOWS[-1], "--max-active-runs", "2")  # fmt: skip
    wait_for(lambda: settled(env, set(WINDOWS)), "the first backfill", 600)
    first = runs(env)
    print_runs(first)
    assert [first[d]["state"] for d in WINDOWS] == ["success", "failed", "success"], first
    return first


def resume_backfill(
    env: dict[str, str], source: Path, bad_id: int, good_value: object, first: dict[str, dict[str, str]]
) -> None:
    """The row repaired, the backfill again with ``--reprocess-behavior failed``: February alone
    runs again."""
    print("== source repaired; backfill again with --reprocess-behavior failed", flush=True)
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE sales SET total_amount = ? WHERE id = ?", (good_value, bad_id))
    resume = ("backfill", "create", "--dag-id", DAG_ID, "--from-date", WINDOWS[0],
              "--to-date", WINDOWS[-1], "--max-active-runs", "2",
              "--reprocess-behavior", "failed")  # fmt: skip

    def resumed() -> bool:
        # the scheduler marks the first backfill complete a loop after its last run ends;
        # until then Airflow refuses a second one for the same DAG
        try:
            airflow(env, *resume)
        except RuntimeError as exc:
            if "AlreadyRunningBackfill" in str(exc):
                return False
            raise
        return True

    wait_for(resumed, "the first backfill to be marked complete", 180)
    wait_for(lambda: runs(env)[WINDOWS[1]]["state"] == "success", "February to be redone", 600)
    second = runs(env)
    print_runs(second)
    for day in (WINDOWS[0], WINDOWS[2]):
        assert second[day]["run_id"] == first[day]["run_id"], f"{day} must not run again"
        assert second[day]["end_date"] == first[day]["end_date"], f"{day} must not run again"


def check_lake(lake: Path) -> None:
    """Every window committed, its rows equal to the source query's, its files the manifest's."""
    from tributary.lake import MANIFEST, SUCCESS
    from tributary.manifest import Manifest

    print(f"== lake {lake}")
    for day in WINDOWS:
        part = lake / "bf" / "sales" / f"month={day[:7]}"
        manifest = Manifest.from_json((part / MANIFEST).read_text())
        files = sorted(p.name for p in part.glob("*.parquet"))
        ok = (part / SUCCESS).exists() and manifest.rows == manifest.source_query_rows
        ok &= files == sorted(f.name for f in manifest.files)
        print(f"   sales {part.name}: {manifest.rows} rows, source {manifest.source_query_rows}, "
              f"{len(files)} file(s), {'OK' if ok else 'FAIL'}")  # fmt: skip
        assert ok, part


def main() -> int:
    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]
    work = Path(tempfile.mkdtemp(prefix="tributary-backfill-"))
    work.chmod(0o755)  # the metadata database's server runs as OS user postgres under root
    home, pipelines, lake = work / "airflow", work / "pipelines", work / "lake"
    for folder in (home, pipelines):
        folder.mkdir()
    source, bad_id, good_value = broken_source(work)
    write_pipeline(pipelines, lake)
    # the scheduler, the API server and the CLI write the metadata database at the same time:
    # `make airflow`'s stack (scripts/local_airflow.py), over its own PostgreSQL
    from scripts.local_airflow import Settings, running

    settings = Settings(
        pools={"source_bf": {"slots": 2, "description": "backfill demo", "include_deferred": False}}
    )
    extra_env = {
        "TRIBUTARY_PIPELINES_DIR": str(pipelines),
        "AIRFLOW_CONN_BF_DB": json.dumps({"conn_type": "sqlite", "host": str(source)}),
    }
    print(f"== Airflow home {home}", flush=True)
    with running(home, settings=settings, env=extra_env) as stack:
        print(f"== Airflow is up: {stack.url}", flush=True)
        first = first_backfill(stack.env)
        resume_backfill(stack.env, source, bad_id, good_value, first)

    check_lake(lake)
    shutil.rmtree(work, ignore_errors=True)
    print("== the failed backfill resumed: committed windows kept, the failed one redone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
