"""Change capture from PostgreSQL's log, on a real cluster with wal_level = logical."""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pyarrow as pa
import pytest

from tests.changes.conftest import run_script
from tests.support.pg import PgCluster
from tributary.changes import pgoutput
from tributary.changes.postgres import (
    CdcPlan,
    ChangeCaptureSetupError,
    SlotMovedError,
    UnchangedToastError,
    advance,
    change_batches,
    check_setup,
    confirmed_position,
    plan,
    setup_sql,
)
from tributary.config import TableConfig
from tributary.dialects import POSTGRES
from tributary.readers.postgres import PostgresReader
from tributary.sql import SQL_DIR, render

TABLE_DDL = """
CREATE TYPE feeling AS ENUM ('sad', 'happy');
CREATE TABLE public.items (
    id integer PRIMARY KEY,
    amount numeric(12, 3),
    label text,
    seen timestamptz,
    blob bytea,
    flag boolean,
    at_time time,
    code character(4),
    big double precision,
    u uuid,
    doc jsonb,
    ints integer[],
    texts text[],
    waited interval,
    mood feeling,
    price money,
    grid integer[][]
)
"""


@pytest.fixture
def db(logical_pg: PgCluster) -> Iterator[tuple[str, Any]]:
    """A fresh database with table items, its publication and slot; (dsn, connection)."""
    name = "cdc_" + uuid.uuid4().hex[:8]
    logical_pg.psql(f"CREATE DATABASE {name}")
    dsn = logical_pg.dsn.rsplit("/", 1)[0] + "/" + name
    admin = psycopg2.connect(dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("SET synchronous_commit = on")  # the cluster's default is off, for speed
        cur.execute(TABLE_DDL)
    run_script(logical_pg, setup_sql("slot_t", "pub_t", [("public", "items")]), name)
    try:
        yield dsn, admin
    finally:
        with admin.cursor() as cur:
            cur.execute("SELECT pg_drop_replication_slot('slot_t')")
        admin.close()
        logical_pg.psql(f"DROP DATABASE {name}")


def _columns(dsn: str) -> Any:
    reader = PostgresReader(psycopg2.connect(dsn), conn_id="t")
    return reader.describe(TableConfig(name="items", mode="cdc", primary_key=["id"]))


def _read(dsn: str, cdc: CdcPlan, *, autocommit: bool = False) -> pa.Table:
    connection = psycopg2.connect(dsn)
    connection.autocommit = autocommit  # the read makes a transaction of its own either way
    try:
        batches = list(change_batches(connection, cdc, schema="public", table="items", columns=_columns(dsn)))
    finally:
        connection.close()
    return pa.Table.from_batches(batches) if batches else pa.table({})


def _plan(dsn: str) -> CdcPlan:
    connection = psycopg2.connect(dsn)
    try:
        return plan(connection, slot="slot_t", publication="pub_t", tables=[("public", "items")])
    finally:
        connection.close()


def test_changes_decoded_exactly_with_types(db: tuple[str, Any]) -> None:
    dsn, admin = db
    with admin.cursor() as cur:
        cur.execute(
            "INSERT INTO items VALUES (1, 12345.678, 'it''s \"quoted\" é ✓', "
            "'2024-02-29 23:59:59.123456+05', '\\x00ff10', true, '13:14:15.5', 'ab', 1.5e300), "
            "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
        cur.execute(
            "BEGIN; UPDATE items SET label = 'two', flag = false WHERE id = 2; "
            "DELETE FROM items WHERE id = 1; COMMIT"
        )
        cur.execute("TRUNCATE items")
        cur.execute("INSERT INTO items (id, big) VALUES (3, 'Infinity')")
    cdc = _plan(dsn)
    table = _read(dsn, cdc)
    rows = table.to_pylist()
    assert [(r["_op"], r["id"]) for r in rows] == [
        ("insert", 1), ("insert", 2), ("update", 2), ("delete", 1), ("truncate", None), ("insert", 3),
    ]  # fmt: skip
    first = rows[0]
    assert first["amount"] == decimal.Decimal("12345.678")
    assert first["label"] == 'it\'s "quoted" é ✓'
    assert first["seen"] == dt.datetime(2024, 2, 29, 18, 59, 59, 123456, tzinfo=dt.UTC)
    assert first["blob"] == b"\x00\xff\x10"
    assert first["flag"] is True and first["at_time"] == dt.time(13, 14, 15, 500000)
    assert first["code"] == "ab" and first["big"] == 1.5e300
    assert rows[1]["amount"] is None and rows[1]["flag"] is None
    assert rows[2]["label"] == "two" and rows[2]["flag"] is False
    assert rows[3]["label"] is None  # a delete under REPLICA IDENTITY DEFAULT carries the key
    assert rows[5]["big"] == float("inf")
    # one transaction: one _lsn, _seq in order; positions grow from one commit to the next
    assert rows[2]["_lsn"] == rows[3]["_lsn"] and (rows[2]["_seq"], rows[3]["_seq"]) == (0, 1)
    lsns = [r["_lsn"] for r in rows]
    assert lsns == sorted(lsns) and lsns[0] > pgoutput.parse_lsn(cdc.from_lsn)
    assert all(r["_commit_time"] is not None for r in rows)
    assert table.schema.field("_lsn").type == pa.int64()
    assert table.schema.field("amount").type == pa.decimal128(12, 3)


def test_native_types_decode_as_the_snapshot_reads_them(db: tuple[str, Any], logical_pg: PgCluster) -> None:
    """uuid, jsonb, arrays, interval, enums and money: the log's text, parsed as the snapshot's
    server-side cursor parses it, gives the values both engines of the snapshot read."""
    dsn, admin = db
    natives = ["id", "u", "doc", "ints", "texts", "waited", "mood", "price", "grid"]
    with admin.cursor() as cur:
        cur.execute(
            "SET lc_monetary = 'C.UTF-8'; SET IntervalStyle = 'sql_standard'"
        )  # not what the log uses
        cur.execute(
            "INSERT INTO items (id, u, doc, ints, texts, waited, mood, price, grid) VALUES "
            """(1, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"z": [1.50, null], "a": "é"}', '{1,NULL,-3}', """
            """'{"a,b",NULL,"NULL","q\\"uote"}', '1 year 2 mons -3 days 04:05:06.000007', 'happy', """
            "'-92233720368547758.08', '{{1,2},{3,4}}'), (2, NULL, NULL, '{}', '{}', '-0.000001 seconds', "
            "'sad', 0.01, NULL)"
        )
    table = _read(dsn, _plan(dsn)).select(natives)
    config = TableConfig(name="items", mode="full", columns=natives)
    connection = psycopg2.connect(dsn)
    libpq = {"host": logical_pg.host, "port": logical_pg.port, "user": logical_pg.user,
             "dbname": dsn.rsplit("/", 1)[1]}  # fmt: skip
    scanned = TableConfig(name="items", mode="full", columns=natives[:-2])  # no money, no 2-D array
    try:
        for reader, read in (
            (PostgresReader(connection, conn_id="t"), config),
            (PostgresReader(connection, conn_id="t", libpq=libpq), scanned),
        ):
            columns = reader.describe(read)
            assert reader.scanner_can_read(columns) is (read is scanned)
            snapshot = pa.Table.from_batches(list(reader.batches(read, columns, None))).sort_by("id")
            changes = table.select(snapshot.column_names)
            assert [f.type for f in changes.schema] == [f.type for f in snapshot.schema]
            assert changes.to_pylist() == snapshot.to_pylist()
    finally:
        connection.close()
    first = table.to_pylist()[0]
    assert first["u"] == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert first["doc"] == '{"a": "é", "z": [1.50, null]}'
    assert first["ints"] == [1, None, -3] and first["texts"] == ["a,b", None, "NULL", 'q"uote']
    assert first["waited"] == pa.MonthDayNano([14, -3, 14_706_000_007_000])
    assert first["mood"] == "happy" and first["price"] == decimal.Decimal("-92233720368547758.08")
    assert first["grid"] == "{{1,2},{3,4}}"  # declared two-dimensional: text
    assert table.schema.field("waited").type == pa.month_day_nano_interval()


def test_peek_does_not_move_the_slot_and_advance_does(db: tuple[str, Any]) -> None:
    dsn, admin = db
    with admin.cursor() as cur:
        cur.execute("INSERT INTO items (id) VALUES (1), (2)")
    cdc = _plan(dsn)
    assert len(_read(dsn, cdc)) == 2
    assert confirmed_position(admin, "slot_t") == cdc.from_lsn
    assert len(_read(dsn, cdc, autocommit=True)) == 2  # read again: the same changes
    assert confirmed_position(admin, "slot_t") == cdc.from_lsn
    autocommitting = psycopg2.connect(dsn)
    autocommitting.autocommit = True
    advance(autocommitting, cdc)
    assert autocommitting.autocommit
    assert confirmed_position(admin, "slot_t") == cdc.upto_lsn
    with admin.cursor() as cur:
        cur.execute("INSERT INTO items (id) VALUES (3)")
    later = _plan(dsn)
    assert later.from_lsn == cdc.upto_lsn
    assert _read(dsn, later).column("id").to_pylist() == [3]
    with pytest.raises(SlotMovedError, match="another run moved it"):
        _read(dsn, cdc)


def test_unchanged_toast_without_full_identity_fails(db: tuple[str, Any]) -> None:
    dsn, admin = db
    big = "x" * 200_000
    with admin.cursor() as cur:
        cur.execute("ALTER TABLE items ALTER COLUMN label SET STORAGE EXTERNAL")
        cur.execute("INSERT INTO items (id, label) VALUES (1, %s)", (big,))
        cur.execute("UPDATE items SET flag = true WHERE id = 1")
    with pytest.raises(UnchangedToastError, match="REPLICA IDENTITY FULL"):
        _read(dsn, _plan(dsn))


def test_unchanged_toast_comes_from_the_old_row_under_full_identity(db: tuple[str, Any]) -> None:
    dsn, admin = db
    big = "y" * 200_000
    with admin.cursor() as cur:
        cur.execute("ALTER TABLE items REPLICA IDENTITY FULL")
        cur.execute("ALTER TABLE items ALTER COLUMN label SET STORAGE EXTERNAL")
        cur.execute("INSERT INTO items (id, label) VALUES (1, %s)", (big,))
        cur.execute("UPDATE items SET flag = true WHERE id = 1")
        cur.execute("DELETE FROM items WHERE id = 1")
    rows = _read(dsn, _plan(dsn)).to_pylist()
    assert [(r["_op"], r["label"] == big, r["flag"]) for r in rows] == [
        ("insert", True, None), ("update", True, True), ("delete", True, True),
    ]  # fmt: skip


def test_missing_setup_fails_with_the_sql_to_run(db: tuple[str, Any], logical_pg: PgCluster) -> None:
    dsn, admin = db
    connection = psycopg2.connect(dsn)
    tables = [("public", "items")]
    with pytest.raises(
        ChangeCaptureSetupError, match=r"pg_create_logical_replication_slot\('nope', 'pgoutput'\)"
    ):
        check_setup(connection, slot="nope", publication="pub_t", tables=tables)
    with pytest.raises(
        ChangeCaptureSetupError, match=re.escape('CREATE PUBLICATION "nopub" FOR TABLE "public"."items";')
    ):
        check_setup(connection, slot="slot_t", publication="nopub", tables=tables)
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE other (a int)")
    with pytest.raises(
        ChangeCaptureSetupError, match=re.escape('ALTER PUBLICATION "pub_t" ADD TABLE "public"."other";')
    ):
        check_setup(connection, slot="slot_t", publication="pub_t", tables=[("public", "other")])
    with admin.cursor() as cur:
        cur.execute("ALTER PUBLICATION pub_t ADD TABLE other")
    identity = re.escape('ALTER TABLE "public"."other" REPLICA IDENTITY FULL;')
    with pytest.raises(ChangeCaptureSetupError, match=identity):
        check_setup(connection, slot="slot_t", publication="pub_t", tables=[("public", "other")])
    # the setup script is idempotent and fixes it
    database = dsn.rsplit("/", 1)[1]
    run_script(
        logical_pg,
        setup_sql("slot_t", "pub_t", [("public", "items"), ("public", "other")], [("public", "other")]),
        database,
    )
    check_setup(connection, slot="slot_t", publication="pub_t", tables=[("public", "other")])
    connection.close()


class _ReplicaLevel:
    """A connection to a server at ``wal_level = replica`` (the session's cluster runs logical, for
    the tests above): what ``SELECT current_setting('wal_level')`` answers there."""

    autocommit = True

    def cursor(self) -> Any:
        return self

    def execute(self, sql: str, params: Any = None) -> None:
        assert "current_setting('wal_level')" in sql

    def fetchone(self) -> tuple[str]:
        return ("replica",)

    def close(self) -> None:
        pass


def test_wal_level_replica_fails_with_the_setting(pg_cluster: PgCluster) -> None:
    connection = psycopg2.connect(pg_cluster.dsn)
    try:
        assert pgoutput_level(connection) == "logical"  # the real server's answer, as read here
    finally:
        connection.close()
    with pytest.raises(ChangeCaptureSetupError, match="ALTER SYSTEM SET wal_level = logical;") as caught:
        check_setup(_ReplicaLevel(), slot="s", publication="p", tables=[])
    assert "wal_level is 'replica'" in str(caught.value)


def pgoutput_level(connection: Any) -> str:
    with connection.cursor() as cur:
        cur.execute("SHOW wal_level")
        return str(cur.fetchone()[0])


def test_lsn_text_round_trip() -> None:
    assert pgoutput.parse_lsn("16/B374D848") == (0x16 << 32) + 0xB374D848
    assert pgoutput.format_lsn(pgoutput.parse_lsn("0/16B3748")) == "0/16B3748"


def test_cdc_on_a_source_without_a_log_fails_saying_what_to_use(tmp_path: Any) -> None:
    import sqlite3

    from tributary.changes.batch import require_change_log
    from tributary.errors import ConfigError
    from tributary.readers.sqlite import SqliteReader

    reader = SqliteReader(sqlite3.connect(tmp_path / "x.sqlite"), conn_id="lite")
    with pytest.raises(ConfigError, match="is a sqlite source, which has none; use mode 'full'") as caught:
        require_change_log(reader, "lite", "t")
    assert caught.value.permanent


def test_a_slot_holding_back_wal_is_warned_about(
    db: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    dsn, admin = db
    with admin.cursor() as cur:
        cur.execute(
            "INSERT INTO items (id, label) SELECT g, repeat('w', 500) FROM generate_series(1, 6000) AS g"
        )
    connection = psycopg2.connect(dsn)
    with caplog.at_level("WARNING", logger="tributary"):
        plan(
            connection,
            slot="slot_t",
            publication="pub_t",
            tables=[("public", "items")],
            warn_retained_wal_mb=1,
        )
    connection.close()
    assert "holds back" in caplog.text and "max_slot_wal_keep_size" in caplog.text


def test_full_refresh_takes_a_new_snapshot(db: tuple[str, Any], tmp_path: Any) -> None:
    from tributary.batches import RunInfo
    from tributary.changes.batch import commit_changes, extract_changes, verify_changes

    dsn, admin = db
    with admin.cursor() as cur:
        cur.execute("INSERT INTO items (id) VALUES (1), (2)")
    table = TableConfig(name="items", mode="cdc", primary_key=["id"])

    def run(full_refresh: bool) -> Any:
        reader = PostgresReader(psycopg2.connect(dsn), conn_id="t")
        cdc = _plan(dsn)
        place = {"source": "s", "lake_root": tmp_path}
        manifest = extract_changes(reader, table, cdc, run=RunInfo(full_refresh=full_refresh), **place)
        verify_changes(table, batch_id=manifest.batch_id, **place)
        commit_changes(table, batch_id=manifest.batch_id, **place)
        advance(psycopg2.connect(dsn), cdc)
        return manifest

    first = run(False)
    # a truncate (what the lake held is replaced), the snapshot's 2 rows, the 2 inserts' changes
    assert first.full_refresh and first.rows == 5
    assert run(False).rows == 0
    again = run(True)
    assert again.full_refresh and again.rows == 3


def test_a_run_on_an_idle_database_releases_the_wal_of_other_databases(
    db: tuple[str, Any], logical_pg: PgCluster
) -> None:
    """The heartbeat problem: a slot of a database nobody writes to still holds back the WAL that
    other databases write. Each run advances the slot to the server's flushed position, changes
    of its tables or not, so the WAL is released at every run."""
    dsn, _ = db
    logical_pg.psql(
        "CREATE TABLE IF NOT EXISTS noise (v text); "
        "INSERT INTO noise SELECT repeat('n', 200) FROM generate_series(1, 20000)"
    )
    logical_pg.psql("CHECKPOINT")  # logs the running transactions, where a slot can restart from
    before = _plan(dsn)
    assert before.retained_bytes > 2 * 1024 * 1024
    advance(psycopg2.connect(dsn), before)
    after = _plan(dsn)
    assert after.retained_bytes < before.retained_bytes / 4


def test_a_config_key_that_deletes_do_not_carry_fails(db: tuple[str, Any]) -> None:
    dsn, admin = db
    connection = psycopg2.connect(dsn)
    names = {"slot": "slot_t", "publication": "pub_t", "tables": [("public", "items")]}
    check_setup(connection, keys={("public", "items"): ["id"]}, **names)
    with pytest.raises(ChangeCaptureSetupError, match=r"a delete in the log carries only \['id'\]"):
        check_setup(connection, keys={("public", "items"): ["label"]}, **names)
    with admin.cursor() as cur:
        cur.execute("ALTER TABLE items REPLICA IDENTITY FULL")  # a delete carries every column
    check_setup(connection, keys={("public", "items"): ["label"]}, **names)
    connection.close()


CDC_TEMPLATES = sorted(p.stem for p in (SQL_DIR / "postgres").glob("cdc_*.sql") if p.stem != "cdc_setup")


@pytest.mark.parametrize("statement", CDC_TEMPLATES)
def test_cdc_statements_bind_their_values(statement: str) -> None:
    """Values go to the driver as parameters (the slot, publication and positions), never into
    the text; the statements take no identifiers."""
    sql = render(POSTGRES, statement)
    assert set(re.findall(r"%\((\w+)\)s", sql)) <= {"slot", "publication", "schema", "table", "upto", "lsn"}
    source = (SQL_DIR / "postgres" / f"{statement}.sql").read_text()
    for literal in re.findall(r"'(?:[^']|'')*'", sql):
        assert literal in source


def test_the_setup_script_quotes_names_and_values() -> None:
    odd = "t'a" + '"' + "b"  # a quote of each kind
    sql = setup_sql("s'lot", 'pu"b', [("sch", odd)], [("sch", odd)])
    assert "pg_create_logical_replication_slot('s''lot', 'pgoutput')" in sql
    assert 'CREATE PUBLICATION "pu""b";' in sql
    assert 'ALTER PUBLICATION "pu""b" ADD TABLE "sch"."t' + "'" + 'a""b";' in sql
    assert "tablename = 't''a" + '"' + "b'" in sql
    assert 'ALTER TABLE "sch"."t' + "'" + 'a""b" REPLICA IDENTITY FULL;' in sql
