"""The DuckDB warehouse: its file from its connection, and DuckDB's lock error read back into who
holds the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tributary.config import PROJECT_ROOT
from tributary.errors import ConfigError
from tributary.hooks.warehouse import (
    DEFAULT_LOCK_WAIT_SECONDS,
    DEFAULT_WAREHOUSE,
    WarehouseLockedError,
    find_lock_conflict,
    raise_if_locked,
    warehouse_file,
    warehouse_path,
    warehouse_settings,
)


def test_a_relative_host_is_taken_from_the_project_root(tmp_path: Path) -> None:
    assert warehouse_path("data/w.duckdb") == PROJECT_ROOT / "data" / "w.duckdb"
    assert warehouse_path(str(tmp_path / "w.duckdb")) == tmp_path / "w.duckdb"
    assert warehouse_path(None) == PROJECT_ROOT / DEFAULT_WAREHOUSE


def test_the_file_and_the_lock_wait_come_from_the_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {"conn_type": "duckdb", "host": str(tmp_path / "w.duckdb")}
    monkeypatch.setenv("AIRFLOW_CONN_WH_HOOKS", json.dumps({**conn, "extra": {"lock_wait_seconds": 5}}))
    monkeypatch.setenv("AIRFLOW_CONN_WH_DEFAULT", json.dumps(conn))
    assert warehouse_settings("wh_hooks") == (tmp_path / "w.duckdb", 5.0)
    assert warehouse_settings("wh_default") == (tmp_path / "w.duckdb", DEFAULT_LOCK_WAIT_SECONDS)
    assert warehouse_file("wh_hooks") == tmp_path / "w.duckdb"


def test_an_undefined_warehouse_connection_says_how_to_create_it() -> None:
    with pytest.raises(ConfigError, match=r"connection 'wh_never' is not defined.*--conn-type duckdb"):
        warehouse_settings("wh_never")


def test_the_lock_holder_is_read_from_duckdbs_own_error(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time; c=duckdb.connect(sys.argv[1]); print('ok', flush=True); time.sleep(60)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(duckdb.IOException) as caught:
            duckdb.connect(str(path))
        found = find_lock_conflict(str(caught.value))
        assert found is not None and found.pid == holder.pid and found.path == str(path)
        assert "time.sleep(60)" in (found.command_line() or "")
        with pytest.raises(
            WarehouseLockedError,
            match=rf"(?s)locked by another process: PID {holder.pid} .*kill {holder.pid}",
        ):
            raise_if_locked("some other error", str(caught.value))
    finally:
        holder.kill()
        holder.wait()
    assert find_lock_conflict("Catalog Error: Table with name x does not exist") is None
