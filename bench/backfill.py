"""An orchestrated backfill against its floor: 50 tables x 3 monthly windows through a real Airflow.

    python bench/backfill.py [--scale 1.0] [--tables 50] [--parallelism 4] [--work bench/work/backfill]
                             [--skip floor|airflow] [--label NAME] [--keep]

Generates a PostgreSQL source (a throwaway cluster) of 50 tables of the benchmark's point-of-sale
shape (``gen_sales.sql``), 10 medium ones (1,000,000 rows each at scale 1) and 40 small ones
(125,000), every row in January-March 2025: 15,000,000 rows in all (``--scale 0.1``: 1.5M).
Then moves the same data twice:

* **floor**: Tributary's ``extract_table``, ``verify_table`` and ``commit_table`` called directly
  in one process for every table and window, ``--parallelism`` threads at once (the parallelism
  the scheduler gets), each with a ``PostgresReader`` built as ``open_reader`` builds it;
* **airflow**: the replication DAG of a generated pipeline config (``max_connections: 4``, so a
  pool ``source_bk`` of 4 slots) in a real Airflow started as ``make airflow`` does
  (``scripts/local_airflow.py``: PostgreSQL metadata database, scheduler, DAG processor, API
  server, LocalExecutor with ``core.parallelism = --parallelism``), ``airflow backfill create``
  over the three months (all three runs at once), timed from the command to the last task's end.

Reported (``<work>/backfill-<label>.json`` and a line per figure): wall time of each, the task
instances, the sum of the extract tasks' own work (their operator's ``execute``: the first to the
last log line of the task's ``tributary`` loggers), the mean queued->running and running->done
times per task instance, Airflow's overhead per task instance (queued -> done minus Tributary's
own work), and the ratio wall / floor. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

import psycopg2  # noqa: E402

from tests.support.pg import PgCluster, remove_cluster, start_cluster  # noqa: E402

SOURCE = "bk"
DAG_ID = f"replicate_{SOURCE}"
MONTHS = ("2025-01-01", "2025-02-01", "2025-03-01")
MEDIUM, SMALL = 10, 40
MEDIUM_ROWS, SMALL_ROWS = 1_000_000, 125_000
PG_CONF = "shared_buffers = 512MB\nmax_connections = 60\nmax_wal_size = 4GB\n"


def table_sizes(scale: float, tables: int = MEDIUM + SMALL) -> dict[str, int]:
    """The tables and their rows: ``m01``.. medium (a fifth of them), ``s01``.. small."""
    medium = max(1, tables * MEDIUM // (MEDIUM + SMALL))
    sizes = {f"m{i:02d}": int(MEDIUM_ROWS * scale) for i in range(1, medium + 1)}
    sizes.update({f"s{i:02d}": int(SMALL_ROWS * scale) for i in range(1, tables - medium + 1)})
    return sizes


def generate(cluster: PgCluster, sizes: dict[str, int]) -> None:
    """``sales`` of the benchmark over 2025 with as many January-March rows as the largest table,
    then each table a spread sample of those rows (every ``step``-th id), with its indexes."""
    import subprocess

    largest = max(sizes.values())
    year_rows = largest * 365 // 90 + 1000
    env = {**os.environ, "PGHOST": cluster.host, "PGPORT": str(cluster.port), "PGUSER": cluster.user}
    subprocess.run(
        [
            "psql",
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            f"rows={year_rows}",
            "-f",
            str(HERE / "gen_sales.sql"),
        ],
        env={**env, "PGDATABASE": "postgres"},
        check=True,
        capture_output=True,
    )
    cluster.psql("DELETE FROM sales WHERE sales_date >= '2025-04-01'")
    quarter = int(cluster.psql("SELECT count(*) FROM sales"))
    for index, (name, rows) in enumerate(sizes.items()):
        step = max(1, quarter // rows)
        cluster.psql(
            f"CREATE TABLE {name} AS SELECT * FROM sales WHERE id % {step} = {index % step} "
            f"ORDER BY id LIMIT {rows}; ALTER TABLE {name} ADD PRIMARY KEY (id); "
            f"CREATE INDEX ON {name} (sales_date)"
        )
        cluster.psql(f"VACUUM (FREEZE, ANALYZE) {name}")  # not in the transaction of a multi-statement -c
    cluster.psql("DROP TABLE sales")


def table_config(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "schema": "public",
        "mode": "window",
        "date_column": "sales_date",
        "primary_key": ["id"],
    }


# -- the floor: Tributary's functions in one process ------------------------------------------


def floor(cluster: PgCluster, sizes: dict[str, int], lake: Path, parallelism: int) -> dict[str, Any]:
    """Extract, verify and commit every table and window in this process, ``parallelism`` at once."""
    from tributary.config import Schedule, TableConfig
    from tributary.readers.postgres import PostgresReader
    from tributary.replication import commit_table, extract_table, verify_table
    from tributary.windows import Window, window_containing

    params = {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": "postgres"}

    def one(job: tuple[str, str]) -> float:
        name, month = job
        started = time.perf_counter()
        table = TableConfig.model_validate(table_config(name))
        window: Window = window_containing(
            dt.datetime.fromisoformat(month).replace(tzinfo=dt.UTC), Schedule.monthly
        )
        place = {"source": SOURCE, "schedule": Schedule.monthly, "window": window, "lake_root": lake}
        for step in ("extract", "verify"):
            reader = PostgresReader(conn_id="bk", connect=lambda: psycopg2.connect(**params), libpq=params)
            try:
                if step == "extract":
                    manifest = extract_table(reader, table, **place)
                else:
                    verify_table(reader, table, batch_id=manifest.batch_id, **place)
            finally:
                reader.release()
        commit_table(table, batch_id=manifest.batch_id, **place)
        return time.perf_counter() - started

    jobs = [(name, month) for month in MONTHS for name in sizes]
    started = time.perf_counter()
    with ThreadPoolExecutor(parallelism) as pool:
        times = list(pool.map(one, jobs))
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 2), "windows": len(jobs), "sum_s": round(sum(times), 2)}


# -- the orchestrated backfill -----------------------------------------------------------------


def write_pipeline(folder: Path, sizes: dict[str, int], lake: Path) -> None:
    tables = "".join(f"  - {json.dumps(table_config(name))}\n" for name in sizes)
    (folder / f"{SOURCE}.yaml").write_text(
        f"source: {{name: {SOURCE}, conn_id: bk_pg, max_connections: 4, retries: 0}}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@monthly'\nstart_date: 2025-01-01\nend_date: 2025-04-01\n"
        f"tables:\n{tables}"
    )


def metadata(stack: Any, sql: str) -> list[tuple[Any, ...]]:
    with psycopg2.connect(
        host="127.0.0.1", port=stack.database.port, user="postgres", dbname="airflow"
    ) as conn:
        with conn.cursor() as cur:
            cur.execute(sql, {"dag": DAG_ID})
            rows = cur.fetchall()
    conn.close()
    return rows


def wait(predicate: Any, what: str, timeout: float, every: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def orchestrated(cluster: PgCluster, sizes: dict[str, int], work: Path, parallelism: int) -> dict[str, Any]:
    """The backfill through a real Airflow; the task instances' times from its metadata DB."""
    from scripts.local_airflow import Settings, running

    home, pipelines, lake = work / "airflow", work / "pipelines", work / "lake-airflow"
    for folder in (home, pipelines):
        folder.mkdir(parents=True, exist_ok=True)
    write_pipeline(pipelines, sizes, lake)
    settings = Settings(
        pools={f"source_{SOURCE}": {"slots": 4, "description": "bench", "include_deferred": False}}
    )
    env = {
        "TRIBUTARY_PIPELINES_DIR": str(pipelines),
        "AIRFLOW_CONN_BK_PG": cluster.connection_json(),
    }
    config = {"core.parallelism": str(parallelism), "core.max_active_tasks_per_dag": "64"}
    with running(home, settings=settings, env=env, config=config) as stack:
        wait(
            lambda: metadata(stack, "SELECT 1 FROM dag WHERE dag_id = %(dag)s"),
            "the DAG to be parsed",
            300,
            2,
        )
        stack.airflow("dags", "unpause", DAG_ID)
        started = dt.datetime.now(dt.UTC)
        stack.airflow(
            "backfill", "create", "--dag-id", DAG_ID, "--from-date", MONTHS[0], "--to-date", MONTHS[-1],
            "--max-active-runs", str(len(MONTHS)),
        )  # fmt: skip
        done = "SELECT count(*) FROM dag_run WHERE dag_id = %(dag)s AND state IN ('success', 'failed')"
        wait(lambda: metadata(stack, done)[0][0] >= len(MONTHS), "the backfill", 7200, 2)
        tis = metadata(
            stack,
            "SELECT task_id, run_id, state, queued_dttm, start_date, end_date, try_number "
            "FROM task_instance WHERE dag_id = %(dag)s ORDER BY start_date",
        )
        runs = metadata(stack, "SELECT run_id, state FROM dag_run WHERE dag_id = %(dag)s")
    result = summarize(tis, runs, started, home / "logs")
    result["task_instance_rows"] = [[str(v) for v in t] for t in tis]
    return result


def own_work(logs: Path, task: tuple[Any, ...]) -> float | None:
    """Seconds of the operator's ``execute`` from the task's log: from the end of the task
    runner's "Pre Execute" group (the DAG file parsed, the context made) to the start of its
    "Post Execute" group (None if the log is not found)."""
    task_id, run_id, *_, try_number = task
    path = logs / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={try_number}.log"
    if not path.exists():
        return None
    begin = end = None
    for line in path.read_text(errors="replace").splitlines():
        record = json.loads(line) if line.startswith("{") else {}
        event, stamp = record.get("event"), record.get("timestamp")
        if event == "::endgroup::" and begin is None:
            begin = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        elif event == "::group::Post Execute":
            end = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (end - begin).total_seconds() if begin and end else None


def parse_ms(logs: Path, task: tuple[Any, ...]) -> float | None:
    """The task process's parse of the DAG file, as the task runner logs it."""
    task_id, run_id, *_, try_number = task
    path = logs / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={try_number}.log"
    if not path.exists():
        return None
    for line in path.read_text(errors="replace").splitlines():
        if '"dag_file_parse_ms"' in line:
            return float(json.loads(line)["dag_file_parse_ms"])
    return None


def summarize(
    tis: list[tuple[Any, ...]], runs: list[tuple[Any, ...]], started: dt.datetime, logs: Path
) -> dict[str, Any]:
    ended = max(t[5] for t in tis if t[5] is not None)
    queued = [(t[4] - t[3]).total_seconds() for t in tis if t[3] and t[4]]
    running_s = [(t[5] - t[4]).total_seconds() for t in tis if t[4] and t[5]]
    per_kind: dict[str, dict[str, float]] = {}
    for kind in ("extract", "verify", "commit"):
        mine = [t for t in tis if t[0].endswith("." + kind)]
        work = [w for w in (own_work(logs, t) for t in mine) if w is not None]
        per_kind[kind] = {
            "count": len(mine),
            "running_s_sum": round(sum((t[5] - t[4]).total_seconds() for t in mine if t[4] and t[5]), 2),
            "own_work_s_sum": round(sum(work), 2),
            "own_work_found": len(work),
        }
    own = sum(k["own_work_s_sum"] for k in per_kind.values())
    through = [(t[5] - t[3]).total_seconds() for t in tis if t[3] and t[5]]
    parses = [p for p in (parse_ms(logs, t) for t in tis) if p is not None]
    return {
        "wall_s": round((ended - started).total_seconds(), 2),
        "runs": {r[0]: r[1] for r in runs},
        "task_instances": len(tis),
        "states": {s: sum(1 for t in tis if t[2] == s) for s in {t[2] for t in tis}},
        "queued_to_running_mean_s": round(statistics.fmean(queued), 2) if queued else None,
        "running_to_done_mean_s": round(statistics.fmean(running_s), 2) if running_s else None,
        "dag_file_parse_mean_s": round(statistics.fmean(parses) / 1000, 2) if parses else None,
        "overhead_per_ti_s": round((sum(through) - own) / len(through), 2) if through else None,
        "tasks": per_kind,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="1.0: 15,000,000 rows; 0.1: 1,500,000")
    ap.add_argument("--tables", type=int, default=MEDIUM + SMALL, help="a fifth medium, the rest small")
    ap.add_argument("--parallelism", type=int, default=4)
    ap.add_argument("--work", type=Path, default=HERE / "work" / "backfill")
    ap.add_argument("--skip", default="", help="comma list of: floor, airflow")
    ap.add_argument("--label", default="run", help="names the results file backfill-<label>.json")
    ap.add_argument("--keep", action="store_true", help="keep the source cluster and the work folder")
    return ap.parse_args(argv)


def report(result: dict[str, Any]) -> None:
    floor_s = (result.get("floor") or {}).get("wall_s")
    flow = result.get("airflow") or {}
    if floor_s and flow.get("wall_s"):
        result["ratio_wall_to_floor"] = round(flow["wall_s"] / floor_s, 2)
    print(json.dumps(result, indent=2, default=str), flush=True)
    if "ratio_wall_to_floor" in result:
        ratio, count = result["ratio_wall_to_floor"], flow["task_instances"]
        overhead = flow["overhead_per_ti_s"]
        print(f"backfill: Airflow wall {flow['wall_s']} s, floor {floor_s} s: {ratio}x the in-process floor "
              f"(target <= 1.5x); {count} task instances, overhead {overhead} s each")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # the metadata database's server runs as OS user postgres under root
    skip = {s for s in args.skip.split(",") if s}
    sizes = table_sizes(args.scale, args.tables)
    result: dict[str, Any] = {"label": args.label, "scale": args.scale, "rows": sum(sizes.values()),
                              "tables": len(sizes), "windows": len(MONTHS), "parallelism": args.parallelism,
                              "load_before": os.getloadavg()}  # fmt: skip
    cluster = start_cluster(work, extra_conf=PG_CONF)
    try:
        started = time.perf_counter()
        generate(cluster, sizes)
        print(
            f"source: {len(sizes)} tables, {sum(sizes.values()):,} rows",
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        if "floor" not in skip:
            result["floor"] = floor(cluster, sizes, work / "lake-floor", args.parallelism)
            print(f"floor: {result['floor']}", flush=True)
        if "airflow" not in skip:
            result["airflow"] = orchestrated(cluster, sizes, work / f"run-{args.label}", args.parallelism)
        result["load_after"] = os.getloadavg()
    finally:
        if not args.keep:
            remove_cluster(cluster)
    report(result)
    (work / f"backfill-{args.label}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
