"""Watermark loads and schema drift on the throwaway PostgreSQL cluster.

Each run commits a ``batch=`` partition; the state is the high watermark of the last committed
manifest. The runs here call the same core functions the operators call, with the run's start
given, so that every bound is known.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import psycopg2
import pyarrow.parquet as pq
import pytest

from tributary.batches import RunInfo, committed_partitions, last_committed
from tributary.config import Schedule, TableConfig
from tributary.drift import SchemaDriftError
from tributary.errors import ConcurrentRunError
from tributary.lake import SUCCESS
from tributary.manifest import Manifest
from tributary.readers.postgres import PostgresReader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.windows import Window

UTC = dt.UTC
T0 = dt.datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
ANY_WINDOW = Window(dt.datetime(2025, 6, 1, tzinfo=UTC), dt.datetime(2025, 6, 2, tzinfo=UTC))


@pytest.fixture
def db(pg_cluster, request) -> Any:
    name = f"wm_{request.node.name.split('[')[0][-40:]}".lower()
    pg_cluster.psql(f'DROP DATABASE IF EXISTS "{name}"')
    pg_cluster.psql(f'CREATE DATABASE "{name}"')
    pg_cluster.psql(
        "CREATE TABLE customers (id int PRIMARY KEY, name text, balance numeric(12,2), "
        "modified_at timestamptz);"
        "INSERT INTO customers SELECT g, 'c' || g, g * 1.5, "
        "timestamptz '2025-06-01 08:00+00' + g * interval '1 minute' FROM generate_series(1, 100) g;",
        database=name,
    )
    return pg_cluster, name


def _reader(db: Any) -> PostgresReader:
    cluster, name = db
    dsn = f"postgresql://{cluster.user}@{cluster.host}:{cluster.port}/{name}"
    libpq = {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": name}
    return PostgresReader(conn_id="wm", connect=lambda: psycopg2.connect(dsn), libpq=libpq)


def _table(**overrides: Any) -> TableConfig:
    options = {
        "name": "customers",
        "schema": "public",
        "mode": "watermark",
        "watermark_column": "modified_at",
        "primary_key": ["id"],
        "safety_lag": "0s",
        **overrides,
    }
    return TableConfig.model_validate(options)


def run(db: Any, lake: Path, table: TableConfig, start: dt.datetime, *, full_refresh: bool = False):
    """One watermark run: extract, verify, commit, as the task group does."""
    reader = _reader(db)
    place = {"source": "crm", "schedule": Schedule.daily, "window": ANY_WINDOW, "lake_root": lake}
    try:
        manifest = extract_table(
            reader, table, run=RunInfo(run_start=start, full_refresh=full_refresh), **place
        )
        verify_table(reader, table, batch_id=manifest.batch_id, **place)
        return commit_table(table, batch_id=manifest.batch_id, **place)
    finally:
        reader.release()


def _ids(lake: Path, manifest) -> list[int]:
    return sorted(pq.read_table(lake / "crm" / "customers" / manifest.partition).column("id").to_pylist())


def test_inserts_and_updates_between_runs_land_in_new_batches(db, tmp_path) -> None:
    cluster, name = db
    table = _table()
    first = run(db, tmp_path, table, T0)
    assert first.partition.startswith("batch=") and first.rows == 100
    assert first.watermark_low is None and first.full_refresh, "no state: a full reload"
    assert first.high_watermark == dt.datetime(2025, 6, 1, 9, 40, tzinfo=UTC)

    cluster.psql(
        "UPDATE customers SET name = 'changed', modified_at = '2025-06-01 12:30+00' WHERE id = 7;"
        "INSERT INTO customers VALUES (101, 'new', 1.00, '2025-06-01 12:45+00');",
        database=name,
    )
    second = run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    assert second.watermark_low == first.high_watermark, "from the committed high watermark"
    assert _ids(tmp_path, second) == [7, 100, 101], "the changed rows (and the one at the bound)"
    assert second.high_watermark == dt.datetime(2025, 6, 1, 12, 45, tzinfo=UTC)
    assert len(list(committed_partitions(tmp_path, "crm", "customers"))) == 2

    rows = duckdb.sql(
        f"SELECT name FROM read_parquet('{tmp_path}/crm/customers/*/*.parquet') WHERE id = 7 "
        "ORDER BY _ingestion_time DESC LIMIT 1"
    ).fetchone()
    assert rows == ("changed",), "the latest batch holds the latest version of a row"


def test_a_late_row_with_an_old_timestamp_is_read_through_the_lookback(db, tmp_path) -> None:
    cluster, name = db
    table = _table(lookback="2h")
    first = run(db, tmp_path, table, T0)
    # committed late in the source, stamped before the high watermark of the first run
    cluster.psql("INSERT INTO customers VALUES (500, 'late', 0, '2025-06-01 09:00+00')", database=name)
    second = run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    assert second.watermark_low == first.high_watermark - dt.timedelta(hours=2)
    assert 500 in _ids(tmp_path, second)

    without_lookback = _table()
    cluster.psql("INSERT INTO customers VALUES (501, 'later', 0, '2025-06-01 09:01+00')", database=name)
    third = run(db, tmp_path, without_lookback, T0 + dt.timedelta(hours=2))
    assert 501 not in _ids(tmp_path, third), "what the lookback is for"


def test_a_failed_run_does_not_advance_the_state(db, tmp_path, monkeypatch) -> None:
    cluster, name = db
    table = _table()
    first = run(db, tmp_path, table, T0)
    cluster.psql("UPDATE customers SET modified_at = '2025-06-01 12:10+00' WHERE id = 1", database=name)

    def broken_commit(self, manifest):
        raise OSError("the lake went away before _SUCCESS")

    with monkeypatch.context() as patch:
        patch.setattr("tributary.lake.Partition.commit", broken_commit)
        with pytest.raises(OSError):
            run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    state = last_committed(tmp_path, "crm", "customers")
    assert state is not None and state.batch_id == first.batch_id
    assert state.high_watermark == first.high_watermark, "the uncommitted batch is not the state"

    retried = run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    assert retried.watermark_low == first.high_watermark
    assert 1 in _ids(tmp_path, retried), "the retry reads what the failed run had read"


def test_the_run_reads_up_to_its_start_minus_the_safety_lag(db, tmp_path) -> None:
    cluster, name = db
    cluster.psql("INSERT INTO customers VALUES (600, 'in flight', 0, '2025-06-01 11:58+00')", database=name)
    manifest = run(db, tmp_path, _table(safety_lag="5m"), T0)
    assert manifest.watermark_high_bound == T0 - dt.timedelta(minutes=5)
    assert 600 not in _ids(tmp_path, manifest)
    later = run(db, tmp_path, _table(safety_lag="5m"), T0 + dt.timedelta(hours=1))
    assert 600 in _ids(tmp_path, later), "read by the next run, not lost"


def test_null_watermarks_follow_the_table_rule(db, tmp_path, caplog) -> None:
    cluster, name = db
    cluster.psql("UPDATE customers SET modified_at = NULL WHERE id IN (3, 4)", database=name)
    first = run(db, tmp_path, _table(), T0)
    assert {3, 4} <= set(_ids(tmp_path, first)), "full_reload: in the full reload"
    assert first.null_watermark_rows == 2 and first.rows == 100

    caplog.clear()
    cluster.psql("UPDATE customers SET modified_at = '2025-06-01 12:20+00' WHERE id = 9", database=name)
    second = run(db, tmp_path, _table(), T0 + dt.timedelta(hours=1))
    assert {3, 4}.isdisjoint(_ids(tmp_path, second)), "not in incremental runs"
    assert "2 row(s) have a NULL modified_at" in caplog.text

    ignored = run(db, tmp_path / "other", _table(null_watermark="ignore"), T0 + dt.timedelta(hours=1))
    assert {3, 4}.isdisjoint(_ids(tmp_path / "other", ignored)) and ignored.rows == 98
    assert ignored.null_watermark_rows == 2


def test_full_refresh_ignores_the_state_once(db, tmp_path) -> None:
    table = _table()
    run(db, tmp_path, table, T0)
    incremental = run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    assert incremental.rows == 1, "only the row at the high watermark"
    baseline = run(db, tmp_path, table, T0 + dt.timedelta(hours=2), full_refresh=True)
    assert baseline.full_refresh and baseline.watermark_low is None and baseline.rows == 100
    after = run(db, tmp_path, table, T0 + dt.timedelta(hours=3))
    assert after.watermark_low == baseline.high_watermark


# -- schema drift on a real ALTER TABLE ------------------------------------------------------


def _alter(db: Any) -> None:
    cluster, name = db
    cluster.psql(
        "ALTER TABLE customers ADD COLUMN tier text;"
        "ALTER TABLE customers DROP COLUMN name;"
        "ALTER TABLE customers ALTER COLUMN balance TYPE numeric(14,2);"
        "UPDATE customers SET tier = 'gold', modified_at = '2025-06-01 12:30+00' WHERE id = 5;",
        database=name,
    )


def _all_partitions(lake: Path) -> Any:
    return duckdb.sql(f"SELECT * FROM read_parquet('{lake}/crm/customers/*/*.parquet', union_by_name = true)")


def test_evolve_adds_columns_keeps_dropped_ones_as_nulls_and_widens(db, tmp_path) -> None:
    table = _table(lookback="0s")
    run(db, tmp_path, table, T0)
    _alter(db)
    after = run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    assert any(c.startswith("+ tier") for c in after.schema_changes)
    assert any(c.startswith("- name") for c in after.schema_changes)
    assert any(c.startswith("~ balance decimal128(12, 2) -> decimal128(14, 2)") for c in after.schema_changes)
    written = pq.read_schema(next((tmp_path / "crm/customers" / after.partition).glob("*.parquet")))
    assert str(written.field("balance").type) == "decimal128(14, 2)"
    assert written.field("name").type == "string"
    together = _all_partitions(tmp_path)
    assert {"tier", "name", "balance"} <= set(together.columns)
    row = together.filter("id = 5 AND tier IS NOT NULL").select("tier, name").fetchall()
    assert row == [("gold", None)], "new column filled, dropped column null in the new batch"


def test_freeze_fails_showing_the_difference(db, tmp_path) -> None:
    table = _table(schema_drift="freeze")
    run(db, tmp_path, table, T0)
    _alter(db)
    with pytest.raises(SchemaDriftError, match=r"(?s)\+ tier string.*- name string.*~ balance"):
        run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    assert len(list(committed_partitions(tmp_path, "crm", "customers"))) == 1


def test_discard_columns_leaves_new_columns_out(db, tmp_path) -> None:
    table = _table(schema_drift="discard_columns", lookback="0s")
    run(db, tmp_path, table, T0)
    _alter(db)
    after = run(db, tmp_path, table, T0 + dt.timedelta(hours=1))
    written = pq.read_schema(next((tmp_path / "crm/customers" / after.partition).glob("*.parquet")))
    assert "tier" not in written.names and "name" in written.names
    assert (tmp_path / "crm/customers" / after.partition / SUCCESS).exists()
    assert _all_partitions(tmp_path).count("*").fetchone() == (102,), "100 + id 5 and id 100 again"


def test_batch_ids_sort_by_creation_time_even_within_one_second() -> None:
    """The newest committed batch is found by name: ids of runs in the same second must sort."""
    from tributary.batches import new_batch_id

    noon = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    made = [new_batch_id(noon + dt.timedelta(microseconds=us)) for us in (0, 1, 10, 999_999)]
    for _ in range(20):  # whatever the random suffixes
        assert sorted(made) == made
        made = [new_batch_id(noon + dt.timedelta(microseconds=us)) for us in (0, 1, 10, 999_999)]


def test_overlapping_runs_the_second_commit_refuses(db, tmp_path) -> None:
    """extract 1, extract 2, commit 1, commit 2: both planned from the same watermark, so the
    second commit would load run 1's rows again; it refuses, and nothing is loaded twice."""
    cluster, name = db
    table = _table()
    first = run(db, tmp_path, table, T0)
    cluster.psql("UPDATE customers SET modified_at = '2025-06-01 12:10+00' WHERE id = 1", database=name)
    reader = _reader(db)
    place = {"source": "crm", "schedule": Schedule.daily, "window": ANY_WINDOW, "lake_root": tmp_path}
    try:
        one = extract_table(reader, table, run=RunInfo(run_start=T0 + dt.timedelta(hours=1)), **place)
        two = extract_table(reader, table, run=RunInfo(run_start=T0 + dt.timedelta(hours=1)), **place)
        assert one.planned_from == two.planned_from == first.batch_id
        for manifest in (one, two):
            verify_table(reader, table, batch_id=manifest.batch_id, **place)
    finally:
        reader.release()
    commit_table(table, batch_id=one.batch_id, **place)
    refused = (
        rf"planned from batch {first.batch_id}, and batch {one.batch_id} of another run has been committed"
    )
    with pytest.raises(ConcurrentRunError, match=refused + r" since.*run the DAG again"):
        commit_table(table, batch_id=two.batch_id, **place)
    committed = [p.value for p in committed_partitions(tmp_path, "crm", "customers")]
    assert committed == [one.batch_id, first.batch_id], "batch 2 is not committed"
    assert ConcurrentRunError.permanent
    commit_table(table, batch_id=one.batch_id, **place)  # a retry of the commit that won passes


def test_the_high_watermark_is_the_largest_value_written_or_the_one_carried(tmp_path: Path) -> None:
    import pyarrow as pa

    from tributary.replication.watermark import high_watermark

    part = tmp_path / "part.parquet"
    pq.write_table(pa.table({"at": pa.array([dt.date(2025, 1, 3), None, dt.date(2025, 1, 2)])}), part)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"at": pa.array([], pa.timestamp("us"))}), empty)
    state = Manifest.model_validate({
        "source": "s", "table": "t", "mode": "watermark", "partition": "batch=b", "batch_id": "b",
        "created_at": T0, "rows": 0, "files": [], "schema": [], "high_watermark": T0,
    })  # fmt: skip
    assert high_watermark([part], "at", None, False) == dt.datetime(2025, 1, 3, tzinfo=UTC)  # a date, as UTC
    assert high_watermark([empty], "at", state, False) == T0, "nothing new: the state stays"
    assert high_watermark([empty], "at", state, True) is None, "a full reload carries nothing"
    assert high_watermark([part, empty], "at", state, False) == T0
