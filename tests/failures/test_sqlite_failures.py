"""Source failures on real SQLite files, through ``open_reader``: a missing file (not silently
created), a file that is not a database, a table missing, a database locked by a writer."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tributary.config import TableConfig
from tributary.errors import CatalogError
from tributary.failures import DatabaseMissing, ObjectMissing, SourceTimeout
from tributary.hooks.sources import open_reader

SALES = TableConfig(name="sales", mode="full")


def sqlite_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, path: Path, **extra: str) -> str:
    conn = {"conn_type": "sqlite", "host": str(path), **({"extra": extra} if extra else {})}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def sales_db(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, sold_at TEXT, amount REAL)")
        con.executemany("INSERT INTO sales VALUES (?, ?, ?)", [(i, "2025-01-02", i) for i in range(50)])
    con.close()
    return path


def count(conn_id: str, table: TableConfig = SALES) -> int:
    with open_reader(conn_id) as reader:
        return reader.count(table, reader.describe(table), None)


def test_a_missing_file_is_refused_not_created(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pos.sqlte"  # a typo of pos.sqlite
    conn_id = sqlite_conn(monkeypatch, "lite_typo", path)

    with pytest.raises(DatabaseMissing) as info:
        count(conn_id)

    assert info.value.permanent
    assert not path.exists(), "SQLite would have created an empty database and called the table missing"
    message = str(info.value)
    assert "connection 'lite_typo'" in message and str(path) in message
    assert "Host field" in message and "absolute path of an existing database file" in message


def test_a_missing_directory_with_mode_ro_is_the_same(tmp_path, monkeypatch) -> None:
    conn_id = sqlite_conn(monkeypatch, "lite_nodir", tmp_path / "gone" / "pos.sqlite", mode="ro")

    with pytest.raises(DatabaseMissing, match="does not exist"):
        count(conn_id)


def test_a_file_that_is_not_a_database(tmp_path, monkeypatch) -> None:
    path = tmp_path / "pos.sqlite"
    path.write_bytes(b"PAR1 this is a parquet file, not a database" * 100)
    conn_id = sqlite_conn(monkeypatch, "lite_notadb", path)

    with pytest.raises(DatabaseMissing) as info:
        count(conn_id)

    assert info.value.permanent
    assert "is not an SQLite database" in str(info.value)
    assert isinstance(info.value.__cause__, sqlite3.DatabaseError)
    assert info.value.__cause__.sqlite_errorname == "SQLITE_NOTADB"


def test_a_missing_table_is_a_permanent_catalog_error(tmp_path, monkeypatch) -> None:
    conn_id = sqlite_conn(monkeypatch, "lite_table", sales_db(tmp_path / "pos.sqlite"))

    with pytest.raises(
        CatalogError, match=r"table main\.sale does not exist in the source of connection 'lite_table'"
    ):
        count(conn_id, TableConfig(name="sale", mode="full"))


def test_a_table_dropped_under_the_reader_is_a_missing_object(tmp_path, monkeypatch) -> None:
    path = sales_db(tmp_path / "pos.sqlite")
    conn_id = sqlite_conn(monkeypatch, "lite_dropped", path)

    with pytest.raises(ObjectMissing) as info, open_reader(conn_id) as reader:
        columns = reader.describe(SALES)
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE sales")
        reader.count(SALES, columns, None)

    assert info.value.permanent
    assert "no such table: main.sales" in info.value.driver_message
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)


def test_a_database_locked_by_a_writer_is_a_transient_timeout(tmp_path, monkeypatch) -> None:
    path = sales_db(tmp_path / "pos.sqlite")
    conn_id = sqlite_conn(monkeypatch, "lite_locked", path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")  # what a long write transaction holds at commit
    try:
        with pytest.raises(SourceTimeout) as info:  # after the driver's 5 s busy timeout
            count(conn_id)
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert not info.value.permanent, "the writer finishes: Airflow retries"
    assert "another process holds a lock" in str(info.value)
    assert info.value.__cause__.sqlite_errorname == "SQLITE_BUSY"
    assert count(conn_id) == 50
