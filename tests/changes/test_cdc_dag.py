"""mode: cdc through Airflow itself (``dag.test()``) on a PostgreSQL cluster with wal_level =
logical: random inserts, updates, deletes and a truncate between runs; the bronze change rows,
applied by ``(key, _lsn, _seq)``, equal the source table exactly after every run; the slot moves
only after every commit; a failed verify leaves it where it was."""

from __future__ import annotations

import datetime as dt
import decimal
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pytest

from tests.changes.conftest import run_script
from tests.support.pg import PgCluster
from tributary.changes.postgres import confirmed_position, setup_sql
from tributary.config import load_config
from tributary.factory import build_dag
from tributary.lake import MANIFEST, SUCCESS
from tributary.manifest import Manifest

pytestmark = pytest.mark.airflow

COLUMNS = "id, amount, label, seen, flag, payload"
DDL = """
CREATE TABLE public.items (
    id integer PRIMARY KEY,
    amount numeric(12, 2),
    label text,
    seen timestamptz,
    flag boolean,
    payload bytea
);
CREATE TABLE public.tags (k text PRIMARY KEY, v integer)
"""
APPLY = """
WITH c AS (SELECT * FROM read_parquet($files)),
t AS (SELECT _lsn AS tl, _seq AS ts FROM c WHERE _op = 'truncate' ORDER BY _lsn DESC, _seq DESC LIMIT 1),
live AS (
    SELECT c.* FROM c LEFT JOIN t ON true
    WHERE c._op <> 'truncate' AND (t.tl IS NULL OR c._lsn > t.tl OR (c._lsn = t.tl AND c._seq > t.ts))
),
latest AS (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY _lsn DESC, _seq DESC) AS rn FROM live)
SELECT {columns} FROM latest WHERE rn = 1 AND _op <> 'delete' ORDER BY {key}
"""


@pytest.fixture
def shop(
    logical_pg: PgCluster, tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, Any, Path]]:
    """(dag, admin connection, lake) of a source with one cdc table, set up."""
    name = "shop_" + uuid.uuid4().hex[:8]
    logical_pg.psql(f"CREATE DATABASE {name}")
    admin = psycopg2.connect(logical_pg.dsn.rsplit("/", 1)[0] + "/" + name)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SET synchronous_commit = on")
        cur.execute(DDL)
        cur.execute(
            "INSERT INTO items SELECT g, g * 1.25, 'first ' || g, now(), g % 2 = 0 "
            "FROM generate_series(1, 50) AS g"
        )
    run_script(
        logical_pg,
        setup_sql("tributary_shop", "tributary_shop", [("public", "items"), ("public", "tags")]),
        name,
    )
    monkeypatch.setenv("AIRFLOW_CONN_TEST_CDC_PG", logical_pg.connection_json(database=name))
    lake = tmp_path / "lake"
    config_file = tmp_path / "shop.yaml"
    config_file.write_text(
        # a source name of its own: Airflow's assets (bronze.<source>.<table>) of an earlier test's
        # DAG, at another lake path, must not clash with this one's
        f"source: {{name: {name}, conn_id: test_cdc_pg, max_connections: 2, retries: 0, "
        "cdc: {slot: tributary_shop, publication: tributary_shop}}\n"
        f"lake: {{url: '{lake.as_uri()}'}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: items, mode: cdc, primary_key: [id], batch_size: 1000}\n"
        "  - {name: tags, mode: cdc, primary_key: [k]}\n"
    )
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(tmp_path))  # dag.test syncs the dags folder
    try:
        yield build_dag(load_config(config_file), config_file), admin, lake
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot('tributary_shop')")
        admin.close()
        logical_pg.psql(f"DROP DATABASE {name}")


def _day(n: int) -> dt.datetime:
    return dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=n)


def _source_dir(lake: Path) -> Path:
    """The DAG's source folder in the lake (the fixture's source is named after its database)."""
    (folder,) = list(lake.glob("shop_*"))
    return folder


def _committed_files(lake: Path, table: str = "items") -> list[str]:
    files = []
    for partition in sorted((_source_dir(lake) / table).iterdir()):
        if (partition / SUCCESS).exists():
            manifest = Manifest.from_json((partition / MANIFEST).read_text())
            files += [str(partition / f.name) for f in manifest.files]
    return files


def _silver(
    lake: Path, table: str = "items", columns: str = COLUMNS, key: str = "id"
) -> list[dict[str, Any]]:
    con = duckdb.connect()
    try:
        sql = APPLY.format(columns=columns, key=key).replace("$files", repr(_committed_files(lake, table)))
        return list(con.execute(sql).arrow().read_all().to_pylist())
    finally:
        con.close()


def _source(
    admin: Any, table: str = "items", columns: str = COLUMNS, key: str = "id"
) -> list[dict[str, Any]]:
    with admin.cursor() as cur:
        cur.execute(f"SELECT {columns} FROM {table} ORDER BY {key}")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    for row in rows:
        if "payload" in row:
            row["payload"] = bytes(row["payload"]) if row["payload"] is not None else None
    return rows


def _churn(admin: Any, rng: random.Random, *, truncate: bool = False) -> None:
    """Random inserts, updates and deletes, some in one transaction; a truncate if asked."""
    with admin.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM items")
        top = cur.fetchone()[0]
        for _ in range(rng.randint(5, 15)):
            top += 1
            label = rng.choice(["plain", "it's", 'q"uote', "é ✓ ünïcode", None])
            cur.execute(
                "INSERT INTO items VALUES (%s, %s, %s, now() - %s * interval '1 second', %s, %s)",
                (top, decimal.Decimal(rng.randint(-10**6, 10**6)) / 100, label, rng.randint(0, 10**6),
                 rng.choice([True, False, None]), rng.choice([b"\x00\xff", None, b""])),
            )  # fmt: skip
        cur.execute("BEGIN")
        pick = rng.randint(0, 6)
        cur.execute("UPDATE items SET amount = amount + 1, label = 'u' WHERE id %% 7 = %s", (pick,))
        cur.execute("UPDATE items SET flag = NOT flag WHERE id %% 5 = %s", (rng.randint(0, 4),))
        cur.execute("COMMIT")
        cur.execute("DELETE FROM items WHERE id %% 11 = %s", (rng.randint(0, 10),))
        for _ in range(3):  # the other table of the slot
            cur.execute(
                "INSERT INTO tags VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v",
                (rng.choice("abcdef"), rng.randint(0, 9)),
            )
        cur.execute("DELETE FROM tags WHERE k = %s", (rng.choice("abcdef"),))
        if truncate:
            cur.execute("TRUNCATE items")
            cur.execute("INSERT INTO items VALUES (%s, 1.00, 'after', now(), true, NULL)", (top + 1,))
            cur.execute("UPDATE items SET label = 'again' WHERE id = %s", (top + 1,))


def test_runs_with_changes_keep_bronze_equal_to_the_source(
    shop: tuple[Any, Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tributary.operators.cdc_advance import CdcAdvanceOperator

    dag, admin, lake = shop
    rng = random.Random(16)
    at_advance: list[str] = []
    real_execute = CdcAdvanceOperator.execute

    def watched(self: CdcAdvanceOperator, context: Any) -> Any:
        # every commit is done by now, and the slot has not moved yet
        at_advance.append(confirmed_position(admin, "tributary_shop"))
        return real_execute(self, context)

    monkeypatch.setattr(CdcAdvanceOperator, "execute", watched)
    for step in range(4):
        if step:
            _churn(admin, rng, truncate=step == 2)
        before = confirmed_position(admin, "tributary_shop")
        run = dag.test(logical_date=_day(step))
        assert str(run.state) == "success"
        after = confirmed_position(admin, "tributary_shop")
        plan = run.get_task_instance("cdc_plan").xcom_pull(task_ids="cdc_plan")
        assert plan["from_lsn"] == before == at_advance[-1] and after == plan["upto_lsn"]
        assert _silver(lake) == _source(admin), f"after run {step}"
        assert _silver(lake, "tags", "k, v", "k") == _source(admin, "tags", "k, v", "k")
    manifests = [
        Manifest.from_json(p.read_text()) for p in sorted(_source_dir(lake).glob("items/*/_manifest.json"))
    ]
    assert manifests[0].full_refresh and not any(m.full_refresh for m in manifests[1:])
    assert all(m.change_position_to for m in manifests)
    # and silver as dbt builds it, through the project's own macros (bronze, tributary_current)
    assert _dbt_silver(lake, lake.parent / "dbt") == _source(admin)


def _dbt_silver(lake: Path, root: Path) -> list[dict[str, Any]]:
    """``items`` through the dbt project's ``bronze()`` and ``tributary_current`` macros, in a
    copy of the project with one model over this lake."""
    import json
    import shutil

    from dbt.cli.main import dbtRunner

    from tributary.transform.project import DBT_PROJECT_DIR

    source = _source_dir(lake).name
    project = root / "project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = project / "models" / "silver" / "cdc"
    models.mkdir()
    (models / "_cdc__sources.yml").write_text(
        f"version: 2\nsources:\n  - name: {source}\n    tables:\n      - name: items\n"
    )
    (models / "cdc_items.sql").write_text(
        f"with bronze as (select * from {{{{ bronze('{source}', 'items') }}}})\n"
        f"select {COLUMNS} from {{{{ tributary_current('bronze', ['id'], ['_lsn desc', '_seq desc']) }}}}\n"
    )
    warehouse = root / "warehouse.duckdb"
    (root / "profiles.yml").write_text(
        "tributary:\n  target: warehouse\n  outputs:\n    warehouse:\n"
        f"      type: duckdb\n      path: '{warehouse}'\n      threads: 1\n"
    )
    result = dbtRunner().invoke(
        [
            *("run", "--select", "cdc_items", "--project-dir", str(project), "--profiles-dir", str(root)),
            *("--vars", json.dumps({"tributary_lakes": {source: lake.as_uri()}})),
        ]
    )
    assert result.success, result.exception or [r.message for r in result.result]
    with duckdb.connect(str(warehouse)) as con:
        return list(con.execute("select * from silver.cdc_items order by id").arrow().read_all().to_pylist())


def test_a_failed_verify_leaves_the_slot_and_the_next_run_is_exact(
    shop: tuple[Any, Any, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tributary.changes.batch as verify_module  # the verify operator imports it when it runs

    dag, admin, lake = shop
    rng = random.Random(7)
    assert str(dag.test(logical_date=_day(0)).state) == "success"
    _churn(admin, rng)
    held = confirmed_position(admin, "tributary_shop")
    real = verify_module.verify_changes

    def lose_a_part(table: Any, **kwargs: Any) -> Any:
        partition = _source_dir(lake) / "items" / f"batch={kwargs['batch_id']}"
        next(partition.glob("part-*.parquet")).unlink()
        return real(table, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(verify_module, "verify_changes", lose_a_part)
        failed = dag.test(logical_date=_day(1))
    assert str(failed.state) == "failed"
    assert confirmed_position(admin, "tributary_shop") == held, "the slot must not move"
    _churn(admin, rng, truncate=True)
    assert str(dag.test(logical_date=_day(2)).state) == "success"
    assert confirmed_position(admin, "tributary_shop") != held
    assert _silver(lake) == _source(admin)


def test_a_cdc_table_on_sqlite_fails_its_extract_saying_why(
    tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import sqlite3

    db = tmp_path / "lite.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    monkeypatch.setenv("AIRFLOW_CONN_TEST_CDC_LITE", json.dumps({"conn_type": "sqlite", "host": str(db)}))
    config_file = tmp_path / "lite.yaml"
    config_file.write_text(
        "source: {name: lite, conn_id: test_cdc_lite, retries: 0}\n"
        f"lake: {{url: '{(tmp_path / 'lake').as_uri()}'}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: t, mode: cdc, primary_key: [id]}\n"
    )
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(tmp_path))
    dag = build_dag(load_config(config_file), config_file)
    run = dag.test(logical_date=_day(0))
    assert str(run.state) == "failed"
    extract = run.get_task_instance("t.extract")
    assert str(extract.state) == "failed"
    assert str(run.get_task_instance("cdc_advance").state) == "upstream_failed"


KILLED_EXTRACT = """
import json, sys, time
import psycopg2
from tributary.changes import batch, postgres
from tributary.batches import RunInfo
from tributary.config import TableConfig
from tributary.readers.postgres import PostgresReader

dsn, lake, plan, phase = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
# killed while writing the snapshot, or while reading the slot (its transaction open)
module, name = (batch, "_snapshot") if phase == "snapshot" else (batch.postgres, "change_batches")
real = getattr(module, name)

def slow(*args, **kwargs):
    for chunk in real(*args, **kwargs):
        yield chunk
        print("WRITING", flush=True)
        time.sleep(120)

setattr(module, name, slow)
from pathlib import Path
batch.extract_changes(
    PostgresReader(psycopg2.connect(dsn), conn_id="t"),
    TableConfig(name="items", mode="cdc", primary_key=["id"], batch_size=1000),
    postgres.CdcPlan.from_xcom(plan),
    source="killed",
    lake_root=Path(lake),
    run=RunInfo(),
    rows_per_file=1000,
)
"""


@pytest.mark.parametrize("phase", ["snapshot", "changes"])
def test_an_extract_killed_mid_write_leaves_the_slot_and_the_next_runs_are_exact(
    shop: tuple[Any, Any, Path], logical_pg: PgCluster, tmp_path: Path, phase: str
) -> None:
    import json
    import os
    import signal
    import subprocess
    import sys

    from tributary.changes.postgres import plan

    dag, admin, lake = shop
    with admin.cursor() as cur:
        cur.execute(
            "INSERT INTO items (id, label) SELECT g, repeat('x', 50) FROM generate_series(51, 5000) AS g"
        )
    dsn = admin.dsn
    cdc = plan(
        psycopg2.connect(dsn),
        slot="tributary_shop",
        publication="tributary_shop",
        tables=[("public", "items")],
    )
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_EXTRACT, dsn, str(lake), json.dumps(cdc.as_xcom()), phase],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "WRITING"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    # killed while its parts were staged: nothing of it in the lake, nothing committed
    assert not list(lake.rglob(SUCCESS))
    assert confirmed_position(admin, "tributary_shop") == cdc.from_lsn
    rng = random.Random(9)
    for step in range(2):
        _churn(admin, rng, truncate=step == 1)
        assert str(dag.test(logical_date=_day(step)).state) == "success"
        assert _silver(lake) == _source(admin)


def test_a_full_refresh_after_a_lost_slot_replaces_what_the_lake_held(shop: tuple[Any, Any, Path]) -> None:
    dag, admin, lake = shop
    assert str(dag.test(logical_date=_day(0)).state) == "success"
    with admin.cursor() as cur:  # a slot lost: its changes (these deletes) are never read
        cur.execute("SELECT pg_drop_replication_slot('tributary_shop')")
        cur.execute("DELETE FROM items WHERE id <= 10")
        cur.execute("SELECT pg_create_logical_replication_slot('tributary_shop', 'pgoutput')")
        cur.execute("UPDATE items SET label = 'later' WHERE id = 20")
    run = dag.test(logical_date=_day(1), run_conf={"full_refresh": True})
    assert str(run.state) == "success"
    assert _silver(lake) == _source(admin)


def test_the_dag_plans_before_and_advances_after_every_cdc_table(tmp_path: Path) -> None:
    config_file = tmp_path / "mixed.yaml"
    config_file.write_text(
        "source: {name: mixed, conn_id: some_pg, cdc: {slot: my_slot}}\n"
        f"lake: {{url: '{(tmp_path / 'lake').as_uri()}'}}\n"
        "schedule: '@daily'\nstart_date: 2025-01-01\n"
        "tables:\n  - {name: a, mode: cdc, primary_key: [id]}\n  - {name: b, mode: cdc, primary_key: [id]}\n"
        "  - {name: c, mode: full}\n"
    )
    dag = build_dag(load_config(config_file), config_file)
    plan, advance = dag.get_task("cdc_plan"), dag.get_task("cdc_advance")
    assert plan.slot == "my_slot" and plan.publication == "tributary_mixed"
    assert plan.downstream_task_ids == {"a.extract", "b.extract"}
    assert advance.upstream_task_ids == {"a.commit", "b.commit"}
    assert advance.trigger_rule == "all_success" and advance.tables == ["a", "b"]
    assert not dag.get_task("c.extract").upstream_task_ids


def test_a_missing_publication_fails_the_plan_and_reads_nothing(
    shop: tuple[Any, Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    dag, admin, lake = shop
    with admin.cursor() as cur:
        cur.execute("DROP PUBLICATION tributary_shop")
    held = confirmed_position(admin, "tributary_shop")
    run = dag.test(logical_date=_day(0))
    assert str(run.state) == "failed"
    assert str(run.get_task_instance("cdc_plan").state) == "failed"
    assert str(run.get_task_instance("items.extract").state) == "upstream_failed"
    # the task's log (Airflow's, on stdout here) says what to run
    assert 'CREATE PUBLICATION "tributary_shop" FOR TABLE "public"."items";' in capsys.readouterr().out
    assert confirmed_position(admin, "tributary_shop") == held
    assert not lake.exists() or not list(lake.rglob("*.parquet"))
