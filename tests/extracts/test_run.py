"""One extract run without Airflow's scheduler: atomic files, re-runs, an S3 target, a locked
warehouse; on real DuckDB files, moto's S3 over HTTP and a real second process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.extracts.conftest import day
from tributary.errors import DataError
from tributary.extracts.loader import load_extracts_file
from tributary.extracts.run import run_extract
from tributary.extracts.sources import duckdb_rows
from tributary.hooks.warehouse import WarehouseLockedError
from tributary.windows import Window

WINDOW = Window(day(4), day(5))


def _warehouse(path: Path, names: list[str]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE customers (id INTEGER, name VARCHAR, balance DECIMAL(12, 2))")
        con.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)", [(i, n, f"{i}.05") for i, n in enumerate(names)]
        )
    return path


def _extract(folder: Path, body: str, queries: dict[str, str] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, sql in (queries or {}).items():
        (folder / name).write_text(sql)
    (folder / "x.yaml").write_text(textwrap.dedent(body))
    return load_extracts_file(folder / "x.yaml")[0]


def _run(extract, warehouse: Path, **kwargs):
    return run_extract(
        extract, WINDOW, lambda: duckdb_rows(warehouse, extract, WINDOW, lock_wait=1), **kwargs
    )


def test_a_failure_midway_leaves_the_previous_file_and_a_rerun_replaces_it(tmp_path: Path) -> None:
    names = [f"Müller {i}" for i in range(6_000)]
    warehouse = _warehouse(tmp_path / "w.duckdb", names)
    out = tmp_path / "out"
    extract = _extract(
        tmp_path / "defs",
        f"""
        extracts:
          - name: customers_latin1
            source: {{object_type: query, query_file: q.sql}}
            file: {{format: csv, encoding: latin-1, name: customers.csv}}
            target: {{url: '{out}'}}
            batch_size: 1000
        """,
        {"q.sql": "select * from customers order by id"},
    )
    first = _run(extract, warehouse)
    final = out / "customers.csv"
    assert first.rows == 6_000 and final.read_bytes().decode("latin-1").count("\n") == 6_001
    before = final.read_bytes()

    # row 5,001 gets a character latin-1 cannot hold: five batches are written before it fails
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customers SET name = 'Wang 王', balance = 1.10 WHERE id = 5000")
    with pytest.raises(DataError, match=r"column 'name', row 5001: the value 'Wang 王'.*latin-1"):
        _run(extract, warehouse)
    assert final.read_bytes() == before, "the previous file is untouched"
    assert sorted(p.name for p in out.iterdir()) == ["customers.csv"], "no partial file left"

    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE customers SET name = 'Wang Wei' WHERE id = 5000")
    again = _run(extract, warehouse)
    text = final.read_bytes().decode("latin-1")
    assert again.rows == 6_000 and "5000,Wang Wei,1.10\n" in text and "Müller 4999" in text
    assert sorted(p.name for p in out.iterdir()) == ["customers.csv"]


def test_an_s3_target_gets_the_file_under_its_final_key_only(tmp_path: Path, moto_s3, monkeypatch) -> None:
    from tests.support.lakes import FAST
    from tributary.hooks.lake import lake_root

    bucket = moto_s3.create_bucket("extracts-out")
    monkeypatch.setenv("AIRFLOW_CONN_EXTRACT_S3", moto_s3.connection_json())
    warehouse = _warehouse(tmp_path / "w.duckdb", ["Zoë", "Ødegaard", None])
    extract = _extract(
        tmp_path / "defs",
        f"""
        extracts:
          - name: customers_s3
            source: {{object_type: table, name: customers}}
            file: {{format: parquet, name: "customers/{{ds}}/customers.{{ext}}"}}
            target: {{url: 's3://{bucket}/exports', conn_id: extract_s3}}
        """,
    )
    roots = lambda url, conn_id: lake_root(url, conn_id, policy=FAST)  # noqa: E731
    outcome = _run(extract, warehouse, lake_root=roots)
    key = "exports/customers/2025-03-04/customers.parquet"
    assert outcome.file == f"s3://{bucket}/{key}"
    assert moto_s3.keys(bucket) == {key: outcome.bytes}, "the temporary key is gone"
    body = moto_s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    (tmp_path / "got.parquet").write_bytes(body)
    table = pq.read_table(tmp_path / "got.parquet")
    assert table.column("name").to_pylist() == ["Zoë", "Ødegaard", None]
    assert [str(v) for v in table.column("balance").to_pylist()] == ["0.05", "1.05", "2.05"]

    with duckdb.connect(str(warehouse)) as con:
        con.execute("DELETE FROM customers WHERE id = 2")
    assert _run(extract, warehouse, lake_root=roots).rows == 2
    assert list(moto_s3.keys(bucket)) == [key], "a re-run replaces the object"


def test_a_warehouse_locked_by_another_process_fails_naming_it(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb", ["a"])
    extract = _extract(
        tmp_path / "defs",
        f"""
        extracts:
          - name: locked
            source: {{object_type: table, name: customers}}
            file: {{format: csv}}
            target: {{url: '{tmp_path / "out"}'}}
        """,
    )
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(warehouse)!r}); "
            "print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        with pytest.raises(WarehouseLockedError) as caught:
            _run(extract, warehouse)
        assert time.monotonic() - started >= 1, "it waited for the lock first"
        message = str(caught.value)
        assert f"PID {holder.pid}" in message and str(warehouse) in message
        assert "dbt_setup, dbt_transform" in message and "retries" in message
        assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    finally:
        holder.kill()
        holder.wait()
    assert _run(extract, warehouse).rows == 1, "once the holder is gone, the extract runs"
