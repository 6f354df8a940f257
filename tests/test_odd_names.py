"""Names that are legal in every source database but not as paths or URIs: unicode, spaces,
quotes, SQL, reserved words and ``../../escape``. They replicate exactly, every byte lands under
the lake root, and the DAG is written to Airflow's database and serialized like any other.

Issue #14 ("Names"), items 1 and 2 and its "Done when" check.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import psycopg2
import pyarrow.parquet as pq
import pytest
import yaml

from tributary.config import load_config
from tributary.errors import UnsafePathError
from tributary.lake import (
    SUCCESS,
    Partition,
    check_under,
    list_partitions,
    partition_states,
    path_segment,
    segment_name,
    table_url,
)

ROOT = Path(__file__).resolve().parents[1]

ODD = ["Order Details", "x; drop table canary; --", 'weird"quote', "ünïcödé", "../../escape"]
TABLES = [*ODD, "canary"]
SEGMENTS = {
    "sales": "sales",
    "Order Details": "Order Details",
    "x; drop table canary; --": "x; drop table canary; --",
    'weird"quote': 'weird"quote',
    "ünïcödé": "ünïcödé",
    "../../escape": "%2E.%2F..%2Fescape",
    "..": "%2E.",
    ".hidden": "%2Ehidden",
    "/etc/passwd": "%2Fetc%2Fpasswd",
    "a\\b": "a%5Cb",
    "nul\x00byte": "nul%00byte",
    "line\nbreak": "line%0Abreak",
    "100%": "100%25",
    "k=v": "k%3Dv",
    "glob*?[x]#": "glob%2A%3F%5Bx%5D%23",
}


# --- the encoding ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "segment"), SEGMENTS.items())
def test_a_name_becomes_one_safe_reversible_segment(name: str, segment: str) -> None:
    assert path_segment(name) == segment
    assert segment_name(segment) == name
    assert "/" not in segment and "\\" not in segment and "\x00" not in segment
    assert not segment.startswith(".")


def test_every_character_round_trips() -> None:
    name = "".join(map(chr, range(1, 0x250))) + "订单🙂"
    assert segment_name(path_segment(name)) == name
    assert segment_name(path_segment("." + name)) == "." + name


def test_the_dbt_macro_encodes_names_as_the_lake_does() -> None:
    """dbt/macros/bronze.sql finds the folders Tributary writes: its ``tributary_segment`` is
    the same rule in Jinja (dbt's own Jinja adds the ``do`` extension, as here)."""
    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    macros = env.from_string((ROOT / "dbt" / "macros" / "bronze.sql").read_text(encoding="utf-8")).module
    names = [*SEGMENTS, "".join(map(chr, range(1, 0x100))), "订单🙂", "it's"]
    assert {n: str(macros.tributary_segment(n)) for n in names} == {n: path_segment(n) for n in names}


def test_table_urls_are_ascii_and_name_the_folder() -> None:
    assert table_url("file:///lake", "pg", "sales") == "file:///lake/pg/sales"
    assert table_url("s3://b/p/", "pg", "Order Details") == "s3://b/p/pg/Order%20Details"
    assert table_url("gs://b", "pg", "ünïcödé") == "gs://b/pg/%C3%BCn%C3%AFc%C3%B6d%C3%A9"
    assert table_url("file:///lake", "pg", "../../escape") == "file:///lake/pg/%252E.%252F..%252Fescape"
    for name in SEGMENTS:
        assert table_url("file:///lake", "pg", name).isascii()


# --- the guard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("below", ["../x", "a/../../x", "..", ".", "a/../../lake2/x"])
def test_check_under_refuses_paths_that_leave_the_root(tmp_path: Path, below: str) -> None:
    root = tmp_path / "lake"
    with pytest.raises(UnsafePathError, match="not under the lake root"):
        check_under(root, root / below)


def test_check_under_refuses_absolute_names_and_nul(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    with pytest.raises(UnsafePathError):
        check_under(root, root / "/etc/passwd")  # an absolute name replaces the root
    with pytest.raises(UnsafePathError):
        check_under(root, root / "a\x00b")
    assert check_under(root, root / "pg" / "t" / "month=2025-01") == root / "pg" / "t" / "month=2025-01"


def test_the_guard_stops_a_write_outside_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a partition whose path would escape (an encoding bug) writes nothing."""
    root = tmp_path / "lake"
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "part-1.parquet").write_bytes(b"x")
    partition = Partition(root, "pg", "t", "month", "2025-01")
    monkeypatch.setattr(Partition, "_under", lambda self, r: r / ".." / "elsewhere")
    with pytest.raises(UnsafePathError):
        partition.begin()
    with pytest.raises(UnsafePathError):
        partition.publish(staging, ["part-1.parquet"])
    assert not (tmp_path / "elsewhere").exists()


def test_an_extract_upload_is_checked_by_the_same_guard(tmp_path: Path) -> None:
    from tributary.extracts.run import publish_object
    from tributary.lake_io import LakeRoot

    local = tmp_path / "staging" / "out.csv"
    local.parent.mkdir()
    local.write_text("a,b\n")
    target = tmp_path / "area" / "out"
    target.mkdir(parents=True)
    with pytest.raises(UnsafePathError):
        publish_object(LakeRoot.fixed(target), "../evil.csv", local)
    assert _outside(tmp_path / "area", target) == []


@pytest.mark.parametrize("table", [*ODD, "/abs/olute", "..", "a\\b"])
def test_a_partition_of_any_table_stays_under_its_table_folder(tmp_path: Path, table: str) -> None:
    root = tmp_path / "area" / "lake"
    partition = Partition(root, "pg", table, "month", "2025-01")
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "part-1.parquet").write_bytes(b"x")
    partition.begin()
    partition.publish(staging, ["part-1.parquet"])
    folder = root / "pg" / path_segment(table) / "month=2025-01"
    assert (folder / "part-1.parquet").read_bytes() == b"x"
    assert _outside(tmp_path / "area", root) == []
    assert list_partitions(root, "pg", table) == ["month=2025-01"]


def test_the_sensor_finds_the_partitions_of_odd_names(tmp_path: Path) -> None:
    """LakePartitionSensor and its trigger read partition states through the same encoding."""
    from tests.support.lakes import write_partition

    root = tmp_path / "lake"
    for table in ODD:
        write_partition(root, tmp_path / "staging", table=table)
    states = partition_states(root, "pos", dict.fromkeys(ODD, "snapshot_date=2025-01-01"))
    assert {t: s.ready for t, s in states.items()} == dict.fromkeys(ODD, True)


# --- Airflow: the Asset, the task groups -------------------------------------------------------


def _config_file(folder: Path, source: str, lake: Path, conn_id: str) -> Path:
    tables: list[dict[str, Any]] = [
        {"name": "Order Details", "mode": "window", "date_column": "order"},
        *({"name": name, "mode": "full"} for name in TABLES if name != "Order Details"),
    ]
    body = {
        "source": {"name": source, "conn_id": conn_id, "max_connections": 2, "retries": 0},
        "lake": {"url": lake.as_uri(), "rows_per_file": 1000},
        "schedule": "@monthly",
        "start_date": dt.date(2025, 1, 1),
        "tables": tables,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{source}.yaml"
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_assets_and_task_groups_of_odd_names_are_valid_for_airflow(tmp_path: Path) -> None:
    from airflow.models.asset import AssetModel

    from tributary.dag_support import bronze_asset
    from tributary.factory import build_dag

    path = _config_file(tmp_path / "pipelines", "odd", tmp_path / "lake", "odd_pg")
    config = load_config(path)
    for table in config.tables:
        asset = bronze_asset(config, table.name)
        assert asset.name == f"bronze.odd.{table.name}"
        assert asset.uri.isascii()
        AssetModel(name=asset.name, uri=asset.uri)  # what writing the DAG to the database does
    assert {t.name: t.group_id for t in config.tables} == {
        "Order Details": "Order_Details",
        "x; drop table canary; --": "x__drop_table_canary____",
        'weird"quote': "weird_quote",
        "ünïcödé": "unicode",
        "../../escape": "______escape",
        "canary": "canary",
    }
    dag = build_dag(config, path)
    assert len(dag.task_group.children) == len(TABLES)


# --- the "Done when" check: a real PostgreSQL source through Airflow ----------------------------


@pytest.fixture
def odd_source(pg_cluster) -> tuple[Any, str]:
    name = "odd_names"
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}"')
    pg_cluster.psql(f'CREATE DATABASE "{name}"')
    pg_cluster.psql(
        """
        CREATE TABLE "Order Details" (id int PRIMARY KEY, "order" date NOT NULL, "naïve" text,
                                      "select" numeric(10, 2));
        INSERT INTO "Order Details"
            SELECT g, date '2024-12-20' + g, 'café ' || g, g * 1.25 FROM generate_series(1, 60) g;
        CREATE TABLE "x; drop table canary; --" (id int PRIMARY KEY, "select" text, "from" int);
        INSERT INTO "x; drop table canary; --" SELECT g, 's' || g, -g FROM generate_series(1, 25) g;
        CREATE TABLE "weird""quote" (id int, "naïve" text, "col""q" text);
        INSERT INTO "weird""quote" VALUES (1, 'it''s', 'a"b'), (2, NULL, ''), (3, 'Ωmega', 'x');
        CREATE TABLE "ünïcödé" (id int, "naïve" text, "order" timestamptz);
        INSERT INTO "ünïcödé"
            SELECT g, 'ünï ' || g || ' 🙂', timestamptz '2025-01-02 03:04:05+00' + g * interval '1 hour'
            FROM generate_series(1, 40) g;
        CREATE TABLE "../../escape" (id int, val text);
        INSERT INTO "../../escape" SELECT g, repeat('e', g) FROM generate_series(1, 10) g;
        CREATE TABLE canary (id int, val text);
        INSERT INTO canary SELECT g, 'alive' FROM generate_series(1, 5) g;
        """,
        database=name,
    )
    return pg_cluster, name


def _source_rows(cluster: Any, database: str, table: str, where: str = "") -> list[tuple[Any, ...]]:
    dsn = f"postgresql://{cluster.user}@{cluster.host}:{cluster.port}/{database}"
    quoted = '"' + table.replace('"', '""') + '"'
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {quoted} {where} ORDER BY id")
        return [tuple(row) for row in cur.fetchall()]


def _outside(area: Path, lake: Path) -> list[str]:
    """Every file under ``area`` that is not under ``lake``."""
    found = []
    for folder, _dirs, files in os.walk(area):
        for file in files:
            path = Path(folder) / file
            if lake not in path.parents:
                found.append(str(path))
    return found


def _check_lake(cluster: Any, database: str, lake: Path, source: str) -> None:
    """Every table committed exactly as the source has it, nothing outside the lake root, and
    the canary still there."""
    for table in TABLES:
        if table == "Order Details":
            key, value = "month", "2025-01"
            where = """WHERE "order" >= date '2025-01-01' AND "order" < date '2025-02-01'"""
        else:
            key, value, where = "snapshot_date", "2025-01-01", ""
        partition = Partition(lake, source, table, key, value)
        folder = lake / source / path_segment(table) / f"{key}={value}"
        assert partition.path == folder
        assert (folder / SUCCESS).exists(), f"{table}: not committed"
        manifest = partition.read_manifest()
        expected = _source_rows(cluster, database, table, where)
        assert len(expected) > 0
        assert manifest.rows == manifest.source_query_rows == len(expected), table
        data = pq.read_table([str(folder / f.name) for f in manifest.files], partitioning=None)
        columns = [c for c in data.column_names if not c.startswith("_")]
        rows = sorted(zip(*(data.column(c).to_pylist() for c in columns), strict=True))
        assert rows == expected, table
        assert _duckdb_rows(lake, source, table) == len(expected), f"{table}: as dbt reads it"
    assert (lake / source / "%2E.%2F..%2Fescape").is_dir()
    assert (lake / source / "ünïcödé").is_dir()
    assert (lake / source / "Order Details").is_dir()
    assert _outside(lake.parent, lake) == []
    assert not (lake.parent / "escape").exists() and not (lake.parent.parent / "escape").exists()
    assert len(_source_rows(cluster, database, "canary")) == 5


def _duckdb_rows(lake: Path, source: str, table: str) -> int:
    """The rows dbt reads from the table's committed partitions, as dbt/macros/bronze.sql reads
    them: the table folder by ``tributary_segment``, partitions by a glob of their _SUCCESS."""
    import duckdb

    env = jinja2.Environment(extensions=["jinja2.ext.do"])
    macros = env.from_string((ROOT / "dbt" / "macros" / "bronze.sql").read_text(encoding="utf-8")).module
    table_root = f"{lake}/{macros.tributary_segment(source)}/{macros.tributary_segment(table)}"

    def literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    with duckdb.connect() as conn:
        found = conn.sql(f"select file from glob({literal(table_root + '/*/_SUCCESS')})").fetchall()
        files = ", ".join(literal(f[0][: -len("/_SUCCESS")] + "/*.parquet") for f in found)
        assert len(found) == 1, table_root
        (rows,) = conn.sql(
            f"select count(*) from read_parquet([{files}], hive_partitioning = true)"
        ).fetchone()
    return int(rows)


def _serialized(dag: Any) -> Any:
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


@pytest.mark.airflow
def test_odd_names_replicate_exactly_through_dag_test(
    odd_source, tmp_path: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tributary.factory import build_dag

    cluster, database = odd_source
    monkeypatch.setenv("AIRFLOW_CONN_ODD_PG", cluster.connection_json(database=database))
    lake = tmp_path / "area" / "lake"
    path = _config_file(tmp_path / "pipelines", "odd", lake, "odd_pg")
    # dag.test() writes the DAGs of the DAGs folder to the database first (the DAG file builds
    # them from this folder), as the DAG processor would
    monkeypatch.setenv("TRIBUTARY_PIPELINES_DIR", str(path.parent))
    dag = build_dag(load_config(path), path)

    restored = _serialized(dag)
    assert sorted(restored.task_dict) == sorted(dag.task_dict)
    outlets = {t.task_id: [a.uri for a in t.outlets] for t in restored.tasks if t.outlets}
    assert outlets["unicode.commit"] == [table_url(lake.as_uri(), "odd", "ünïcödé")]

    run = dag.test(logical_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert str(run.state) == "success"
    _check_lake(cluster, database, lake, "odd")
    assert _outside(tmp_path / "area", lake) == []


@pytest.mark.airflow
@pytest.mark.timeout(600)
def test_odd_names_replicate_through_the_airflow_dags_test_cli(
    odd_source, tmp_path: Path, airflow_db: Path
) -> None:
    """``airflow dags test`` as a user runs it: the DAG file parsed from a DAGs folder, the
    DAG written to the metadata database, every task run."""
    cluster, database = odd_source
    lake = tmp_path / "area" / "lake"
    pipelines = tmp_path / "pipelines"
    _config_file(pipelines, "oddcli", lake, "oddcli_pg")
    dags = tmp_path / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags" / "tributary_replication.py", dags)
    env = {
        **os.environ,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "TRIBUTARY_PIPELINES_DIR": str(pipelines),
        "AIRFLOW_CONN_ODDCLI_PG": cluster.connection_json(database=database),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run(
        [airflow, "dags", "test", "replicate_oddcli", "2025-01-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "URI must be ascii" not in output
    _check_lake(cluster, database, lake, "oddcli")
    assert _outside(tmp_path / "area", lake) == []
