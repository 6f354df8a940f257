"""PostgresReader on a real server: windows, catalog errors, odd names, bounded batches, sessions,
and extract → verify → commit of a real table into a local lake, through both engines.

"scanner" is DuckDB's postgres scanner (the reader is given libpq parameters), "cursor" is the
psycopg2 server-side cursor (it is not).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extras
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tributary.readers.postgres as postgres_reader
from tributary.batches import RunInfo
from tributary.config import Schedule, TableConfig
from tributary.dialects import POSTGRES
from tributary.dialects.columns import schema_of
from tributary.errors import CatalogError, SourceError
from tributary.lake import MANIFEST, SUCCESS
from tributary.readers.postgres import PostgresReader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.sql import render
from tributary.windows import Window

UTC = dt.UTC
ENGINES = ("scanner", "cursor")
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 2, 1, tzinfo=UTC))


def libpq(cluster: Any) -> dict[str, Any]:
    return {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": "postgres"}


def reader_for(engine: str, connection: Any, cluster: Any) -> PostgresReader:
    return PostgresReader(connection, conn_id="t", libpq=libpq(cluster) if engine == "scanner" else None)


def read(reader: PostgresReader, table: TableConfig, window: Window | None = None) -> pa.Table:
    columns = reader.describe(table)
    return pa.Table.from_batches(list(reader.batches(table, columns, window)), schema=schema_of(columns))


@pytest.fixture
def conn(pg_cluster: Any) -> Iterator[Any]:
    # a session time zone other than UTC: window bounds are UTC instants whatever the session's
    connection = psycopg2.connect(pg_cluster.dsn, options="-c TimeZone=America/New_York")
    yield connection
    connection.close()


# -- windows ----------------------------------------------------------------------------------

# (value, in January 2025 UTC?) per kind of date column; rows sit on and around both bounds
WINDOW_ROWS: dict[str, tuple[str, list[tuple[str, bool]]]] = {
    "timestamp": (
        "timestamp",
        [
            ("2024-12-31 23:59:59.999999", False),
            ("2025-01-01 00:00:00", True),
            ("2025-01-15 12:00:00", True),
            ("2025-01-31 23:59:59.999999", True),
            ("2025-02-01 00:00:00", False),
            ("2025-02-01 00:00:00.000001", False),
        ],
    ),
    "date": (
        "date",
        [("2024-12-31", False), ("2025-01-01", True), ("2025-01-31", True), ("2025-02-01", False)],
    ),
    "timestamptz": (
        "timestamptz",
        [
            ("2025-01-01 00:00:00+00", True),
            ("2025-01-01 00:30:00+01", False),  # 2024-12-31 23:30 UTC
            ("2024-12-31 19:00:00-05", True),  # 2025-01-01 00:00 UTC
            ("2025-01-31 23:59:59.999999+00", True),
            ("2025-02-01 00:30:00+01", True),  # 2025-01-31 23:30 UTC
            ("2025-01-31 19:00:00-05", False),  # 2025-02-01 00:00 UTC
            ("2025-02-01 00:00:00+00", False),
        ],
    ),
}


@pytest.fixture(scope="module")
def window_tables(pg_cluster: Any) -> Any:
    statements = ["DROP SCHEMA IF EXISTS win CASCADE", "CREATE SCHEMA win"]
    for name, (ddl, rows) in WINDOW_ROWS.items():
        values = ", ".join(f"({i}, '{value}')" for i, (value, _) in enumerate(rows, 1))
        statements += [
            f"CREATE TABLE win.{name} (id integer PRIMARY KEY, at {ddl} NOT NULL)",
            f"CREATE INDEX ON win.{name} (at)",
            f"INSERT INTO win.{name} VALUES {values}, ({len(rows) + 1}, '2025-01-10')",
        ]
    pg_cluster.psql("; ".join(statements))
    return pg_cluster


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", list(WINDOW_ROWS))
def test_window_takes_the_start_and_leaves_the_end(window_tables, conn, kind: str, engine: str) -> None:
    _, rows = WINDOW_ROWS[kind]
    expected = [i for i, (_, inside) in enumerate(rows, 1) if inside] + [len(rows) + 1]
    table = TableConfig(name=kind, schema="win", mode="window", date_column="at", batch_size=1000)
    reader = reader_for(engine, conn, window_tables)
    columns = reader.describe(table)
    assert reader.scanner_can_read(columns) is (engine == "scanner")

    read_ids = sorted(read(reader, table, JANUARY).column("id").to_pylist())
    assert read_ids == expected
    assert reader.count(table, columns, JANUARY) == len(expected)
    assert reader.count(table, columns, None) == len(rows) + 1


# -- catalog errors ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_table(pg_cluster: Any) -> Any:
    pg_cluster.psql(
        "DROP TABLE IF EXISTS public.shop; "
        "CREATE TABLE public.shop (id integer PRIMARY KEY, sold_at timestamp, amount numeric(10,2))"
    )
    return pg_cluster


def test_a_missing_table_says_where_to_look(catalog_table, conn) -> None:
    reader = PostgresReader(conn, conn_id="pos_pg")
    with pytest.raises(CatalogError, match=r"table public\.nope does not exist .* 'pos_pg'.*`name`/`schema`"):
        reader.describe(TableConfig(name="nope", mode="full"))
    with pytest.raises(CatalogError, match=r"table sales\.shop does not exist"):
        reader.describe(TableConfig(name="shop", schema="sales", mode="full"))


@pytest.mark.parametrize(
    ("config", "key", "missing"),
    [
        ({"mode": "window", "date_column": "sold_on"}, "date_column", "sold_on"),
        ({"mode": "full", "columns": ["id", "Amount"]}, "columns", "Amount"),
        ({"mode": "full", "primary_key": ["shop_id"]}, "primary_key", "shop_id"),
    ],
)
def test_names_the_table_lacks_are_refused_with_its_columns(
    catalog_table, conn, config, key, missing
) -> None:
    reader = PostgresReader(conn, conn_id="pos_pg", libpq=libpq(catalog_table))
    message = (
        rf"{key} of table public\.shop names \['{missing}'\], which the source \(connection 'pos_pg'\) "
        r"does not have; its columns are \['amount', 'id', 'sold_at'\]"
    )
    with pytest.raises(CatalogError, match=message):
        reader.describe(TableConfig(name="shop", **config))


def test_columns_the_user_may_not_read_fail_a_whole_table_copy(catalog_table) -> None:
    """information_schema hides the columns a role has no privilege on: without the check a
    copy of the whole table would silently lack them."""
    catalog_table.psql(
        "DROP ROLE IF EXISTS clerk; CREATE ROLE clerk LOGIN; "
        "GRANT SELECT (id, sold_at) ON public.shop TO clerk"
    )
    clerk = psycopg2.connect(catalog_table.dsn, user="clerk")
    try:
        assert clerk.get_dsn_parameters()["user"] == "clerk"
        reader = PostgresReader(clerk, conn_id="pos_pg")
        with pytest.raises(
            CatalogError, match=r"may not read columns \['amount'\] of public\.shop.*`columns:`"
        ):
            reader.describe(TableConfig(name="shop", mode="full"))
        # the readable columns, named, are copied
        named = TableConfig(name="shop", mode="full", columns=["id", "sold_at"])
        assert [c.name for c in reader.describe(named)] == ["id", "sold_at"]
        assert read(reader, named).num_rows == 0
    finally:
        clerk.close()
        catalog_table.psql("REVOKE ALL ON public.shop FROM clerk; DROP ROLE clerk")


def test_catalog_queries_leave_no_transaction_open(catalog_table, conn) -> None:
    reader = PostgresReader(conn, conn_id="t")
    columns = reader.describe(TableConfig(name="shop", mode="full"))
    reader.count(TableConfig(name="shop", mode="full"), columns, None)
    assert conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE


# -- odd names --------------------------------------------------------------------------------

ODD_SCHEMA = 'Odd "Schema"; ü'
ODD_TABLE = 'select "t"; 😀 x'
ODD_COLUMNS = ["id", "select", 'a "b"; c', "ünï côdé 😀", "MixedCase", 'when "d"', "50% off"]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def odd_table(pg_cluster: Any) -> Any:
    q = _quoted
    pg_cluster.psql(
        f"DROP SCHEMA IF EXISTS {q(ODD_SCHEMA)} CASCADE; CREATE SCHEMA {q(ODD_SCHEMA)}; "
        f"CREATE TABLE {q(ODD_SCHEMA)}.{q(ODD_TABLE)} (id integer PRIMARY KEY, {q('select')} text, "
        f"{q(ODD_COLUMNS[2])} numeric(10,2), {q(ODD_COLUMNS[3])} integer, {q('MixedCase')} text, "
        f"{q(ODD_COLUMNS[5])} timestamp NOT NULL, {q(ODD_COLUMNS[6])} boolean); "
        f"INSERT INTO {q(ODD_SCHEMA)}.{q(ODD_TABLE)} VALUES "
        "(1, 's', 1.50, 7, 'M', '2025-01-01', true), "
        "(2, NULL, NULL, NULL, NULL, '2025-01-31 23:59:59', NULL), "
        "(3, 'x', -2.25, 9, 'm', '2025-02-01', false)"
    )
    return pg_cluster


def unquoted_words(sql: str) -> set[str]:
    """The words of ``sql`` outside "quoted identifiers" and 'string literals'."""
    bare = re.sub(r"'(?:[^']|'')*'", " ", re.sub(r'"(?:[^"]|"")*"', " ", sql))
    return set(re.findall(r"\w+", bare))


SQL_WORDS = {"SELECT", "FROM", "WHERE", "AND", "AS", "text", "window_start", "window_end", "s"}
COUNT_WORDS = {"count", "FILTER"}
CURSOR_WORDS = {"DECLARE", "CURSOR", "WITHOUT", "HOLD", "FOR", "tributary_extract"}
BOUND_WORDS = {"timestamp", "timestamptz", "date"}  # psycopg2 casts the values it binds
COPY_WORDS = {"COPY", "SELECT", "FROM", "WHERE", "AND", "TO", "STDOUT", "FORMAT"}


class Statements:
    """A file-like sink for psycopg2's ``LoggingConnection``."""

    def __init__(self, into: list[str]) -> None:
        self.into = into

    def write(self, statement: str | bytes) -> None:
        self.into.append(statement.decode() if isinstance(statement, bytes) else statement)


@pytest.mark.parametrize("engine", ENGINES)
def test_odd_names_are_read_and_always_quoted(odd_table, pg_cluster, engine, monkeypatch, capfd) -> None:
    connect = postgres_reader.duckdb_connection

    def showing_queries() -> Any:  # DuckDB prints each query it sends to PostgreSQL (to stderr)
        con = connect()
        con.execute("SET pg_debug_show_queries = true")
        return con

    monkeypatch.setattr(postgres_reader, "duckdb_connection", showing_queries)
    logged: list[str] = []
    connection = psycopg2.connect(pg_cluster.dsn, connection_factory=psycopg2.extras.LoggingConnection)
    connection.initialize(Statements(logged))  # every statement psycopg2 sends, values bound
    try:
        reader = reader_for(engine, connection, pg_cluster)
        table = TableConfig(
            name=ODD_TABLE, schema=ODD_SCHEMA, mode="window", date_column=ODD_COLUMNS[5],
            primary_key=["id"], batch_size=1000,
        )  # fmt: skip
        columns = reader.describe(table)
        assert [c.name for c in columns] == ODD_COLUMNS
        assert reader.scanner_can_read(columns) is (engine == "scanner")
        capfd.readouterr()
        rows = read(reader, table, JANUARY).sort_by("id").to_pylist()
        count = reader.count(table, columns, JANUARY)
    finally:
        connection.close()

    assert count == 2
    assert [tuple(r.values()) for r in rows] == [
        (1, "s", Decimal("1.50"), 7, "M", dt.datetime(2025, 1, 1), True),
        (2, None, None, None, None, dt.datetime(2025, 1, 31, 23, 59, 59), None),
    ]
    # the statements Tributary sends: every identifier quoted, every value a parameter
    context, _ = reader._context(table, columns, JANUARY)
    for statement, names in (("select", ODD_COLUMNS), ("count", [ODD_COLUMNS[2], ODD_COLUMNS[5]])):
        sql = render(POSTGRES, statement, nan_columns=[ODD_COLUMNS[2]], **context)
        assert unquoted_words(sql) <= SQL_WORDS | COUNT_WORDS, sql
        for name in [ODD_SCHEMA, ODD_TABLE, *names]:
            assert _quoted(name).replace("%", "%%") in sql  # psycopg2 reads %% as %
    sent = [q for q in logged if _quoted(ODD_TABLE) in q]
    assert len(sent) == (1 if engine == "scanner" else 2), logged  # (DECLARE …) and the count
    for query in sent:  # as psycopg2 sent them, with the window's values bound
        assert unquoted_words(query) <= SQL_WORDS | COUNT_WORDS | CURSOR_WORDS | BOUND_WORDS, query
        assert _quoted(ODD_SCHEMA) in query and _quoted(ODD_COLUMNS[5]) in query
    if engine == "cursor":
        assert all(_quoted(name) in sent[0] for name in ODD_COLUMNS)
    if engine == "scanner":
        shown = capfd.readouterr()
        queries = (shown.out + shown.err).split(";\n")
        copies = [q.strip() for q in queries if q.strip().startswith("COPY")]
        assert len(copies) == 1, "one COPY of one query"
        assert unquoted_words(copies[0]) <= COPY_WORDS | {"binary"}, copies[0]
        assert _quoted(ODD_SCHEMA) + "." + _quoted(ODD_TABLE) in copies[0]
        assert all(_quoted(name) in copies[0] for name in ODD_COLUMNS)
        # DuckDB loads the catalog of the one schema read, not of every table in the database
        catalog = [q for q in queries if "JOIN pg_attribute" in q]
        assert catalog and all("""nspname IN ('Odd "Schema"; ü')""" in q for q in catalog)


# -- batches and sessions ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_table(pg_cluster: Any) -> Any:
    pg_cluster.psql(
        "DROP TABLE IF EXISTS public.big; "
        "CREATE TABLE public.big AS SELECT g AS id, "
        "timestamptz '2025-01-01' + g * interval '1 minute' AS at, "
        "(g * 1.25)::numeric(12,2) AS amount, md5(g::text) AS note "
        "FROM generate_series(1, 200000) g; ALTER TABLE public.big ADD PRIMARY KEY (id)"
    )
    return pg_cluster


@pytest.mark.parametrize("engine", ENGINES)
def test_batches_stay_bounded(big_table, conn, engine: str) -> None:
    reader = reader_for(engine, conn, big_table)
    window = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 1, 7, 22, 41, tzinfo=UTC))
    table = TableConfig(name="big", mode="window", date_column="at", batch_size=1000)
    columns = reader.describe(table)
    sizes = [b.num_rows for b in reader.batches(table, columns, window)]
    assert sum(sizes) == reader.count(table, columns, window) == 10_000
    assert len(sizes) > 1
    assert max(sizes) <= 1000
    if engine == "cursor":
        assert sizes == [1000] * 10


class SessionWatch:
    """Polls pg_stat_activity from its own connection: the client sessions beyond a baseline."""

    def __init__(self, dsn: str) -> None:
        self.connection = psycopg2.connect(dsn)
        self.connection.autocommit = True
        self.baseline = self.sessions()
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def sessions(self) -> set[int]:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            )
            return {row[0] for row in cursor.fetchall()}

    def extra(self) -> int:
        return len(self.sessions() - self.baseline)

    def extra_once_closed(self, timeout: float = 5.0) -> int:
        """The extra sessions once closing ones have gone: a backend leaves pg_stat_activity a
        moment after its client disconnects (on a loaded machine, a noticeable one)."""
        deadline = time.monotonic() + timeout
        while (extra := self.extra()) and time.monotonic() < deadline:
            time.sleep(0.02)
        return extra

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, self.extra())
            time.sleep(0.002)

    def __enter__(self) -> SessionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.connection.close()


@pytest.mark.parametrize("window", [None, JANUARY], ids=["full", "window"])
def test_the_scanner_reads_through_one_session(big_table, conn, window: Window | None) -> None:
    reader = reader_for("scanner", conn, big_table)
    if window is None:
        table = TableConfig(name="big", mode="full", batch_size=1000)
    else:
        table = TableConfig(name="big", mode="window", date_column="at", batch_size=1000)
    columns = reader.describe(table)  # the reader's own session is part of the baseline
    assert reader.scanner_can_read(columns)
    with SessionWatch(big_table.dsn) as watch:
        during = []
        rows = 0
        for i, batch in enumerate(reader.batches(table, columns, window)):
            rows += batch.num_rows
            if i % 25 == 0:
                during.append(watch.extra())
        after = watch.extra_once_closed()
    assert rows == reader.count(table, columns, window)
    assert max(during) == 1, "the read holds one session while the caller iterates"
    assert watch.most == 1, "never more than one, from ATTACH to the last batch"
    assert after == 0, "and none once the batches are read"


def test_an_abandoned_scan_closes_its_session(big_table, conn) -> None:
    reader = reader_for("scanner", conn, big_table)
    table = TableConfig(name="big", mode="full", batch_size=1000)
    columns = reader.describe(table)
    with SessionWatch(big_table.dsn) as watch:
        batches = reader.batches(table, columns, None)
        next(batches)
        assert watch.extra() == 1
        batches.close()
        assert watch.extra_once_closed() == 0


def test_a_scan_cut_off_midway_is_a_transient_source_error(big_table, conn) -> None:
    reader = reader_for("scanner", conn, big_table)
    table = TableConfig(name="big", mode="full", batch_size=1000)
    batches = reader.batches(table, reader.describe(table), None)
    next(batches)
    killer = psycopg2.connect(big_table.dsn)
    killer.autocommit = True
    with killer.cursor() as cursor:  # the server goes away under the COPY (a failover, say)
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'COPY%%' AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchall() == [(True,)]
    killer.close()
    with pytest.raises(SourceError, match=r"public\.big through DuckDB's postgres scanner .* failed") as info:
        list(batches)
    assert not info.value.permanent, "Airflow retries it"


def test_the_scanner_leaves_no_credentials_in_the_environment(big_table, conn, monkeypatch) -> None:
    import os

    monkeypatch.delenv("PGHOST", raising=False)
    reader = PostgresReader(conn, conn_id="t", libpq={**libpq(big_table), "password": "s3cret"})
    table = TableConfig(name="big", mode="full", batch_size=1000)
    batches = reader.batches(table, reader.describe(table), None)
    next(batches)  # the caller holds the generator between batches
    assert "PGHOST" not in os.environ and "PGPASSWORD" not in os.environ
    batches.close()


def test_the_cursor_path_works_on_an_autocommit_connection(big_table, pg_cluster) -> None:
    connection = psycopg2.connect(pg_cluster.dsn)
    connection.autocommit = True
    try:
        reader = PostgresReader(connection, conn_id="t")
        table = TableConfig(name="big", mode="window", date_column="at", batch_size=5000)
        assert read(reader, table, JANUARY).num_rows == 31 * 24 * 60 - 1
        assert connection.autocommit is True
    finally:
        connection.close()


# -- extract → verify → commit into a local lake ----------------------------------------------

MONTHS = [
    Window(dt.datetime(2025, m, 1, tzinfo=UTC), dt.datetime(2025 + m // 12, m % 12 + 1, 1, tzinfo=UTC))
    for m in (1, 2, 3)
]
SALES = TableConfig(name="sales", mode="window", date_column="sold_at", primary_key=["id"], batch_size=1000)


@pytest.fixture(scope="module")
def sales_table(pg_cluster: Any) -> Any:
    # ~2,500 rows a month from mid-December to mid-April, and a row on each month's bounds
    pg_cluster.psql(
        "DROP TABLE IF EXISTS public.sales; "
        "CREATE TABLE public.sales (id bigint PRIMARY KEY, sold_at timestamptz NOT NULL, "
        "store smallint, amount numeric(12,2), note text, paid boolean); "
        "INSERT INTO public.sales SELECT g, timestamptz '2024-12-15' + g * interval '17 minutes', "
        "(g % 7)::smallint, round((g * 3.17 - 5000)::numeric, 2), "
        "CASE WHEN g % 11 = 0 THEN NULL ELSE 'note ' || g || ' é😀' END, g % 3 = 0 "
        "FROM generate_series(1, 10500) g; "
        "INSERT INTO public.sales VALUES "
        "(100001, '2025-01-01 00:00:00+00', 1, 9999999999.99, 'start', true), "
        "(100002, '2025-02-01 00:00:00+00', 2, -9999999999.99, 'end', false), "
        "(100003, '2025-01-31 23:59:59.999999+00', NULL, NULL, NULL, NULL)"
    )
    return pg_cluster


def source_rows(cluster: Any, window: Window) -> list[dict[str, Any]]:
    with psycopg2.connect(cluster.dsn) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, sold_at, store, amount, note, paid FROM public.sales "
            "WHERE sold_at >= %s AND sold_at < %s ORDER BY id",
            (window.start, window.end),
        )
        names = [d.name for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    connection.close()
    return rows


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_partition(lake: Path, cluster: Any, window: Window, manifest: Any) -> list[str]:
    """Assert the partition of ``window`` is complete and holds the source's rows; its parts."""
    path = lake / "pos" / "sales" / f"month={window.start:%Y-%m}"
    on_disk = sorted(p.name for p in path.iterdir())
    parts = sorted(f.name for f in manifest.files)
    assert on_disk == sorted([*parts, MANIFEST, SUCCESS])
    assert all(re.fullmatch(rf"part-{manifest.batch_id}-\d{{5}}\.parquet", name) for name in parts)

    written = json.loads((path / MANIFEST).read_text())
    assert written["batch_id"] == manifest.batch_id
    assert written["source"] == "pos" and written["table"] == "sales" and written["mode"] == "window"
    assert written["partition"] == f"month={window.start:%Y-%m}"
    assert written["run_id"] == "manual__1" and written["dag_id"] == "replicate_pos"
    assert dt.datetime.fromisoformat(written["window_start"]) == window.start
    assert dt.datetime.fromisoformat(written["window_end"]) == window.end
    expected = source_rows(cluster, window)
    assert written["rows"] == written["source_query_rows"] == len(expected)
    assert written["verified_at"] is not None
    for entry in written["files"]:
        file = path / entry["name"]
        assert entry["bytes"] == file.stat().st_size
        assert entry["sha256"] == sha256(file)
        assert entry["rows"] == pq.ParquetFile(file).metadata.num_rows
        # NOT NULL in the source (id, the key; sold_at) -> not nullable, in the file and manifest
        nullable = {f.name: f.nullable for f in pq.read_schema(file)}
        assert nullable == {f["name"]: f["nullable"] for f in written["schema"]}
        assert [n for n, null in nullable.items() if not null] == [
            "id", "sold_at", "_batch_id", "_ingestion_time", "_source_system",
        ]  # fmt: skip
    assert sum(f["rows"] for f in written["files"]) == len(expected)
    assert [f["name"] for f in written["schema"]] == [
        "id", "sold_at", "store", "amount", "note", "paid",
        "_batch_id", "_ingestion_time", "_source_system", "_source_file", "_file_modified_time",
    ]  # fmt: skip
    assert {f["name"]: f["type"] for f in written["schema"]}["amount"] == "decimal128(12, 2)"
    assert json.loads((path / SUCCESS).read_text()) == {
        "batch_id": manifest.batch_id,
        "rows": len(expected),
        "files": len(parts),
        "parts": [f.name for f in manifest.files],  # what a reader may read
    }

    lake_table = pq.read_table(path).sort_by("id")  # _manifest.json and _SUCCESS are skipped
    assert lake_table.schema.field("sold_at").type == pa.timestamp("us", tz="UTC")
    data = lake_table.select(["id", "sold_at", "store", "amount", "note", "paid"]).to_pylist()
    assert data == expected
    assert set(lake_table.column("_batch_id").to_pylist()) == {manifest.batch_id}
    assert set(lake_table.column("_source_system").to_pylist()) == {"pos"}
    assert lake_table.column("_source_file").null_count == len(expected)
    assert lake_table.column("_file_modified_time").null_count == len(expected)
    assert lake_table.column("_ingestion_time").null_count == 0
    return parts


@pytest.mark.parametrize("engine", ENGINES)
def test_three_months_extract_verify_commit_and_a_rerun(sales_table, conn, tmp_path, engine: str) -> None:
    reader = reader_for(engine, conn, sales_table)
    assert reader.scanner_can_read(reader.describe(SALES)) is (engine == "scanner")
    lake = tmp_path / "lake"
    place = {"source": "pos", "schedule": Schedule.monthly, "lake_root": lake}
    run = RunInfo(dag_id="replicate_pos", run_id="manual__1")

    def replicate(window: Window) -> Any:
        manifest = extract_table(reader, SALES, window=window, run=run, rows_per_file=1000, **place)
        verify_table(reader, SALES, window=window, batch_id=manifest.batch_id, **place)
        return commit_table(SALES, window=window, batch_id=manifest.batch_id, **place)

    firsts = {}
    for window in MONTHS:
        manifest = replicate(window)
        firsts[window] = (manifest, check_partition(lake, sales_table, window, manifest))
        # about 2,500 rows a month in parts of 1,000 rows
        assert len(firsts[window][1]) == -(-firsts[window][0].rows // 1000) >= 2
    assert sorted(p.name for p in (lake / "pos" / "sales").iterdir()) == [
        "month=2025-01",
        "month=2025-02",
        "month=2025-03",
    ]

    # re-running January replaces its parts: no stale file, the same rows, a new batch
    old_manifest, old_parts = firsts[MONTHS[0]]
    again = replicate(MONTHS[0])
    assert again.batch_id != old_manifest.batch_id
    assert again.rows == old_manifest.rows
    new_parts = check_partition(lake, sales_table, MONTHS[0], again)
    assert not set(new_parts) & set(old_parts)
    # the other months are untouched
    for window in MONTHS[1:]:
        manifest, parts = firsts[window]
        assert check_partition(lake, sales_table, window, manifest) == parts


def test_an_extract_holds_one_session_in_all(big_table) -> None:
    """As the operator builds it (``connect=``), the catalog session is closed before DuckDB
    reads, so the extract never holds more than the one pool slot it takes."""
    with SessionWatch(big_table.dsn) as watch:
        reader = PostgresReader(
            conn_id="t", connect=lambda: psycopg2.connect(big_table.dsn), libpq=libpq(big_table)
        )
        table = TableConfig(name="big", mode="window", date_column="at", batch_size=1000)
        columns = reader.describe(table)
        assert watch.extra() == 1, "describe opened the catalog session"
        rows = sum(b.num_rows for b in reader.batches(table, columns, JANUARY))
        reader.release()
        after = watch.extra()
    assert rows > 0
    assert watch.most == 1, "never the catalog session and DuckDB's at once"
    assert after == 0


# -- DuckDB writes the parts: sessions, slices, watermark, memory ----------------------------


def operator_reader(cluster: Any) -> PostgresReader:
    """A reader as ``tributary.hooks.sources.open_reader`` builds it: its catalog session on demand."""
    return PostgresReader(conn_id="t", connect=lambda: psycopg2.connect(cluster.dsn), libpq=libpq(cluster))


def lake_ids(lake: Path) -> list[int]:
    files = sorted(lake.rglob("*.parquet"))
    return sorted(pq.read_table(files, columns=["id"]).column("id").to_pylist()) if files else []


@pytest.mark.parametrize("sessions", [1, 2])
@pytest.mark.parametrize("mode", ["full", "window"])
def test_an_extract_over_its_sessions_reads_every_row_once(
    big_table, tmp_path, mode: str, sessions: int
) -> None:
    """A whole table as parallel ctid ranges, a window as parallel slices: every row once, and
    never more sessions than the extract's pool slots."""
    dated = {"date_column": "at"} if mode == "window" else {}
    table = TableConfig(name="big", mode=mode, sessions=sessions, batch_size=10_000, **dated)
    reader = operator_reader(big_table)
    window = Window(dt.datetime(2025, 1, 1, tzinfo=UTC), dt.datetime(2025, 5, 1, tzinfo=UTC))
    place = {"source": "s", "schedule": Schedule.monthly, "lake_root": tmp_path, "window": window}
    with SessionWatch(big_table.dsn) as watch:
        manifest = extract_table(reader, table, rows_per_file=50_000, **place)
        reader.release()
        after = watch.extra()
    expected = list(range(1, 200_001)) if mode == "full" else list(range(1, 120 * 24 * 60))
    assert manifest.rows == len(expected)
    assert lake_ids(tmp_path) == expected, "every row once, none twice"
    assert 1 <= watch.most <= sessions, f"{watch.most} sessions at once; the pool gives {sessions}"
    print(f"{mode}, sessions: {sessions}: at most {watch.most} at once")  # noqa: T201 - the measurement, for whoever runs pytest -s
    assert after == 0
    assert all(f.rows for f in manifest.files), "no empty part besides a whole empty window's"
    # parts of about rows_per_file: DuckDB rounds row groups up to whole vectors of 2,048 rows
    # and may add a row group to a file when threads race
    assert len(manifest.files) >= 3 and max(f.rows for f in manifest.files) <= 2 * 50_000


@pytest.mark.parametrize("kind", sorted(WINDOW_ROWS))
def test_a_window_read_in_slices_keeps_its_bounds(window_tables, tmp_path, kind: str) -> None:
    """Two sessions read a window as two slices of it: rows on every bound land once."""
    table = TableConfig(name=kind, schema="win", mode="window", date_column="at", sessions=2)
    reader = operator_reader(window_tables)
    columns = reader.describe(table)
    audit = postgres_reader.Audit("b", dt.datetime.now(UTC), "s")
    parts = reader.write_parts(table, columns, JANUARY, audit=audit, staging=tmp_path)
    reader.release()
    assert parts is not None
    _, rows = WINDOW_ROWS[kind]
    expected = sorted([i for i, (_, inside) in enumerate(rows, 1) if inside] + [len(rows) + 1])
    assert lake_ids(tmp_path) == expected


def test_slices_split_a_window_into_equal_closed_parts() -> None:
    start, end = dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)
    slices = postgres_reader._slices({"window_start": start, "window_end": end}, JANUARY, 2)
    assert slices == [
        {"window_start": start, "window_end": dt.datetime(2025, 1, 16, 12)},
        {"window_start": dt.datetime(2025, 1, 16, 12), "window_end": end},
    ]
    days = postgres_reader._slices({"window_start": start.date(), "window_end": end.date()}, JANUARY, 4)
    assert [d["window_start"].day for d in days] == [1, 8, 15, 22] and days[-1]["window_end"] == end.date()
    one_day = {"window_start": start.date(), "window_end": dt.date(2025, 1, 2)}
    assert postgres_reader._slices(one_day, JANUARY, 2) == [one_day], "a day is not cut into hours"
    # an open start (a watermark table's first run) or the NULL rows are one query
    assert len(postgres_reader._slices({"window_end": end}, JANUARY, 2)) == 1


def test_a_watermark_extract_takes_its_high_watermark_from_the_written_parts(big_table, tmp_path) -> None:
    table = TableConfig(name="big", mode="watermark", watermark_column="at", safety_lag=0)
    reader = operator_reader(big_table)
    place = {"source": "s", "schedule": Schedule.monthly, "lake_root": tmp_path, "window": JANUARY}
    run = RunInfo(run_start=dt.datetime(2026, 1, 1, tzinfo=UTC))
    manifest = extract_table(reader, table, run=run, **place)
    reader.release()
    assert manifest.rows == 200_000
    assert manifest.high_watermark == dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(minutes=200_000)


def test_an_extract_does_not_load_pandas(big_table, tmp_path) -> None:
    """DuckDB imports pandas (~35 MiB) the first time a statement has parameters: the extract
    writes its values as literals, so a worker's extract never loads it."""
    import os
    import subprocess
    import sys

    script = f"""
import datetime as dt, pathlib, sys, psycopg2
from tributary.config import Schedule, TableConfig
from tributary.readers.postgres import PostgresReader
from tributary.replication import extract_table
from tributary.windows import Window
libpq = {libpq(big_table)!r}
reader = PostgresReader(conn_id="t", connect=lambda: psycopg2.connect(**libpq), libpq=libpq)
table = TableConfig(name="big", mode="window", date_column="at")
january = Window(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
manifest = extract_table(reader, table, source="s", schedule=Schedule.monthly, window=january,
                         lake_root=pathlib.Path({str(tmp_path)!r}))
print(manifest.rows, "pandas" in sys.modules)
"""
    plugins = str(Path(postgres_reader.__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": plugins}
    command = [sys.executable, "-c", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(31 * 24 * 60 - 1), "False"]  # ids from 00:01 on


def test_an_extract_starts_its_duckdb_while_the_catalog_is_read(big_table, tmp_path, monkeypatch) -> None:
    """DuckDB's start (its import, the scanner's signature check) runs in a thread beside the
    catalog queries, and the read uses that DuckDB: one DuckDB per extract, as before."""
    made: list[tuple[str, Any]] = []
    connect = postgres_reader.duckdb_connection

    def recorded() -> Any:
        con = connect()
        made.append((threading.current_thread().name, con))
        return con

    monkeypatch.setattr(postgres_reader, "duckdb_connection", recorded)
    reader = operator_reader(big_table)
    table = TableConfig(name="big", mode="window", date_column="at")
    place = {"source": "s", "schedule": Schedule.monthly, "lake_root": tmp_path, "window": JANUARY}
    manifest = extract_table(reader, table, **place)
    reader.release()
    assert manifest.rows == 31 * 24 * 60 - 1
    assert [name for name, _ in made] == ["tributary-duckdb"]


def test_a_duckdb_started_for_a_read_that_does_not_come_is_closed(big_table, monkeypatch) -> None:
    import duckdb

    made: list[Any] = []
    connect = postgres_reader.duckdb_connection
    monkeypatch.setattr(postgres_reader, "duckdb_connection", lambda: made.append(connect()) or made[-1])
    reader = operator_reader(big_table)
    reader.prepare_read()
    reader.describe(TableConfig(name="big", mode="full"))
    reader.release()
    assert len(made) == 1
    with pytest.raises(duckdb.ConnectionException, match=r"(?i)closed"):
        made[0].execute("SELECT 1")


def test_an_operator_readers_catalog_and_count_are_one_round_trip_each(catalog_table) -> None:
    """As the operator builds it, the reader's own session is in autocommit: describe's two
    catalog queries and a count reach the server as three statements, no BEGIN or ROLLBACK."""
    reader = operator_reader(catalog_table)
    pid = reader.connection.get_backend_pid()
    with reader.connection.cursor() as cursor:
        cursor.execute("SET log_statement = 'all'")
    log = catalog_table.datadir / "server.log"
    start = log.stat().st_size
    table = TableConfig(name="shop", mode="full")
    reader.count(table, reader.describe(table), None)
    reader.release()
    with log.open("rb") as fh:
        fh.seek(start)
        mine = [ln for ln in fh.read().decode(errors="replace").splitlines() if f"[{pid}]" in ln]
    statements = [ln.split("statement: ", 1)[1].split()[0] for ln in mine if "statement: " in ln]
    assert statements == ["SELECT", "SELECT", "SELECT"], mine
