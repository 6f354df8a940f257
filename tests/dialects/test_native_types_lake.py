"""PostgreSQL's uuid, json/jsonb, arrays, interval, enums and money in the lake: extracted,
verified and committed through both engines, read back with pyarrow and with DuckDB (as dbt's
bronze reads them), with the values PostgreSQL holds; and a lake written when they were text.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import jinja2
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import MonthDayNano

from tributary.config import Schedule, SchemaDrift, TableConfig
from tributary.dialects import postgres_types
from tributary.dialects.columns import SourceColumn
from tributary.drift import SchemaDriftError
from tributary.errors import QualityError
from tributary.readers.postgres import PostgresReader
from tributary.replication import commit_table, extract_table, verify_table
from tributary.windows import Window

SCHEMA = "native_lake"
ROOT = Path(__file__).resolve().parents[2]
U1 = UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
# (column, DDL type, SQL literals of rows 1 and 2 (row 3 is all NULL), values of rows 1 and 2)
COLUMNS = (
    ("u", "uuid", ("'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "'00000000-0000-0000-0000-000000000001'"),
     (U1, UUID(int=1))),
    ("j", "json", ("""'{"b": 1,  "a": [1.50, null]}'""", "'\"é 😀\"'"),
     ('{"b": 1,  "a": [1.50, null]}', '"é 😀"')),
    ("jb", "jsonb", ("""'{"b": 1,  "a": [1.50, null]}'""", "'[]'"), ('{"a": [1.50, null], "b": 1}', "[]")),
    ("ints", "integer[]", ("'{1,NULL,-3}'", "'{}'"), ([1, None, -3], [])),
    ("texts", "text[]", ("""'{"a,b",NULL,"NULL","q\\"uote"}'""", "'{é}'"),
     (["a,b", None, "NULL", 'q"uote'], ["é"])),
    ("iv", "interval", ("'1 year 2 mons -3 days 04:05:06.000007'", "'-0.000001 seconds'"),
     (MonthDayNano([14, -3, 14_706_000_007_000]), MonthDayNano([0, 0, -1000]))),
    ("mood", "feeling", ("'happy'", "'sad'"), ("happy", "sad")),
    ("amount", "money", ("'-92233720368547758.08'", "0.01"),
     (Decimal("-92233720368547758.08"), Decimal("0.01"))),
)  # fmt: skip
# what DuckDB (1.5.5) reads the Parquet columns as
DUCKDB_TYPES = {
    "u": "UUID", "j": "JSON", "jb": "JSON", "ints": "INTEGER[]", "texts": "VARCHAR[]",
    "iv": 'STRUCT("months" INTEGER, "days" INTEGER, nanoseconds BIGINT)', "mood": "VARCHAR",
    "amount": "DECIMAL(19,2)",
}  # fmt: skip
JANUARY = Window(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 2, 1, tzinfo=dt.UTC))
FEBRUARY = Window(JANUARY.end, dt.datetime(2025, 3, 1, tzinfo=dt.UTC))


@pytest.fixture(scope="module")
def native_db(pg_cluster: Any) -> Any:
    rows = [f"({i + 1}, {', '.join(literals[i] for _, _, literals, _ in COLUMNS)})" for i in range(2)] + [
        f"(3, {', '.join('NULL' for _ in COLUMNS)})"
    ]
    ddl = ", ".join(f"{name} {kind}" for name, kind, _, _ in COLUMNS)
    pg_cluster.psql(
        f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}; "
        f"CREATE TYPE {SCHEMA}.feeling AS ENUM ('sad', 'happy'); SET search_path = {SCHEMA}; "
        f"CREATE TABLE {SCHEMA}.things (id integer PRIMARY KEY, {ddl}); "
        f"INSERT INTO {SCHEMA}.things VALUES {', '.join(rows)}; "
        # without money, every column is one DuckDB's scanner reads
        f"CREATE TABLE {SCHEMA}.scanned AS SELECT id, u, j, jb, ints, texts, iv, mood FROM {SCHEMA}.things; "
        f"ALTER TABLE {SCHEMA}.scanned ADD PRIMARY KEY (id)"
    )
    return pg_cluster


@pytest.fixture
def conn(native_db: Any) -> Any:
    connection = psycopg2.connect(
        native_db.dsn, options="-c lc_monetary=C.UTF-8 -c IntervalStyle=sql_standard"
    )
    yield connection
    connection.close()


def libpq(cluster: Any) -> dict[str, Any]:
    return {"host": cluster.host, "port": cluster.port, "user": cluster.user, "dbname": "postgres"}


def replicate(reader: PostgresReader, table: TableConfig, lake: Path, window: Window = JANUARY) -> Any:
    place = {"source": "pos", "schedule": Schedule.monthly, "lake_root": lake, "window": window}
    manifest = extract_table(reader, table, **place)
    verify_table(reader, table, batch_id=manifest.batch_id, **place)
    commit_table(table, batch_id=manifest.batch_id, **place)
    return manifest


def expected_rows(names: list[str]) -> list[dict[str, Any]]:
    values = {name: values for name, _, _, values in COLUMNS}
    return [{"id": i + 1, **{n: values[n][i] for n in names}} for i in range(2)] + [
        {"id": 3, **dict.fromkeys(names)}
    ]


def tributary_interval(column: str) -> str:
    """The dbt macro of dbt/macros/bronze.sql, rendered as dbt renders it."""
    macros = (ROOT / "dbt" / "macros" / "bronze.sql").read_text(encoding="utf-8")
    start = macros.index("{% macro tributary_interval")
    template = jinja2.Environment().from_string(macros[start:] + "{{ tributary_interval(column) }}")
    return template.render(column=column).strip()


@pytest.mark.parametrize(
    ("engine", "name"), [("cursor", "things"), ("scanner", "things"), ("scanner", "scanned")]
)
def test_native_types_land_in_the_lake_exactly(native_db, conn, tmp_path, caplog, engine, name) -> None:
    reader = PostgresReader(conn, conn_id="t", libpq=libpq(native_db) if engine == "scanner" else None)
    table = TableConfig(name=name, schema=SCHEMA, mode="full", batch_size=1000)
    columns = reader.describe(table)
    assert reader.scanner_can_read(columns) is (engine == "scanner" and name == "scanned")
    manifest = replicate(reader, table, tmp_path)
    names = [c.name for c in columns[1:]]
    native = {
        "id": pa.int32(), "u": pa.uuid(), "j": pa.json_(), "jb": pa.json_(), "ints": pa.list_(pa.int32()),
        "texts": pa.list_(pa.string()), "iv": pa.month_day_nano_interval(),
        "mood": pa.dictionary(pa.int32(), pa.string()), "amount": pa.decimal128(19, 2),
    }  # fmt: skip
    assert {c.name: c.arrow_type for c in columns} == {n: native[n] for n in ["id", *names]}
    assert [f["type"] for f in manifest.model_dump(by_alias=True)["schema"][1:3]] == [
        "extension<arrow.uuid>",
        "extension<arrow.json>",
    ]
    files = sorted(str(p) for p in tmp_path.rglob("part-*.parquet"))

    # pyarrow: the Parquet logical types, and every value
    parquet = pq.ParquetFile(files[0]).schema
    logical = {parquet.column(i).path: str(parquet.column(i).logical_type) for i in range(len(parquet))}
    assert logical["u"] == "UUID" and logical["j"] == "JSON" and logical["jb"] == "JSON"
    lake = pq.read_table(files).sort_by("id")
    assert lake.schema.field("u").type == pa.uuid() and lake.schema.field("j").type == pa.json_()
    assert lake.schema.field("mood").type == pa.dictionary(pa.int32(), pa.string())
    assert lake.schema.field("iv").type == pa.struct(
        [("months", pa.int32()), ("days", pa.int32()), ("nanoseconds", pa.int64())]
    )
    assert lake.schema.field("iv").metadata == {b"ARROW:extension:name": b"tributary.interval",
                                                b"ARROW:extension:metadata": b""}  # fmt: skip
    got = lake.select(["id", *names]).to_pylist()
    for row in got:
        if row["iv"] is not None:
            row["iv"] = MonthDayNano([row["iv"]["months"], row["iv"]["days"], row["iv"]["nanoseconds"]])
    assert got == expected_rows(names)

    # DuckDB, as dbt's bronze reads the parts: its own types, the values as PostgreSQL prints them
    con = duckdb.connect()
    relation = f"read_parquet({files!r}, union_by_name = true)"
    described = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {relation})").fetchall()
    )
    assert {n: described[n] for n in names} == {n: DUCKDB_TYPES[n] for n in names}
    interval = tributary_interval("iv")
    duck = con.execute(
        f"SELECT u::varchar, j::varchar, jb->>'b', ints, texts, {interval}, typeof({interval}), mood "
        f"{', amount' if 'amount' in names else ''} FROM {relation} ORDER BY id"
    ).fetchall()
    assert duck[0][:5] == (
        str(U1),
        '{"b": 1,  "a": [1.50, null]}',
        "1",
        [1, None, -3],
        ["a,b", None, "NULL", 'q"uote'],
    )
    assert duck[0][5] == dt.timedelta(days=14 * 30 - 3, hours=4, minutes=5, seconds=6, microseconds=7)
    assert duck[0][6] == "INTERVAL" and duck[0][7] == "happy"
    assert duck[1][5] == dt.timedelta(microseconds=-1)
    assert json.loads(duck[1][1]) == "é 😀"
    if "amount" in names:
        assert [row[-1] for row in duck] == [Decimal("-92233720368547758.08"), Decimal("0.01"), None]
    assert [v for i, v in enumerate(duck[2]) if i != 6] == [None] * (len(duck[2]) - 1)


def old_text_type(column: SourceColumn) -> pa.DataType:
    """The type map before issue #17: these types were written as PostgreSQL's text."""
    if column.data_type in ("uuid", "json", "jsonb", "interval", "enum", "money", "array"):
        return pa.string()
    return postgres_types.arrow_type(column)


class TextReader(PostgresReader):
    arrow_type = staticmethod(old_text_type)


@pytest.mark.parametrize("policy", list(SchemaDrift))
def test_a_lake_written_as_text_drifts_under_the_tables_policy(native_db, conn, tmp_path, policy) -> None:
    table = TableConfig(name="things", schema=SCHEMA, mode="full", batch_size=1000, schema_drift=policy)
    old = replicate(TextReader(conn, conn_id="t"), table, tmp_path, JANUARY)
    assert {f.name: f.type for f in pq.read_schema(next(tmp_path.rglob("part-*.parquet")))}[
        "u"
    ] == pa.string()
    assert old.schema_changes == []

    reader = PostgresReader(conn, conn_id="t")
    if policy is SchemaDrift.freeze:
        with pytest.raises(SchemaDriftError, match=r"~ u string -> extension<arrow.uuid>") as info:
            replicate(reader, table, tmp_path, FEBRUARY)
        assert "~ iv string -> month_day_nano_interval" in str(info.value)
        return
    new = replicate(reader, table, tmp_path, FEBRUARY)
    assert "~ u string -> extension<arrow.uuid>" in new.schema_changes
    assert "~ amount string -> decimal128(19, 2)" in new.schema_changes
    assert len(new.schema_changes) == 8  # the eight columns, nothing added or dropped
    february = sorted(p for p in tmp_path.rglob("part-*.parquet") if "2025-02" in str(p))
    lake = pq.read_table(february).sort_by("id")
    assert lake.schema.field("u").type == pa.uuid()
    assert lake.column("amount").to_pylist() == [Decimal("-92233720368547758.08"), Decimal("0.01"), None]
    # the committed January partition keeps its text
    january = sorted(p for p in tmp_path.rglob("part-*.parquet") if "2025-01" in str(p))
    assert pq.read_table(january).sort_by("id").column("amount").to_pylist()[:2] == [
        "-$92,233,720,368,547,758.08", "$0.01"
    ]  # fmt: skip
    # DuckDB reads the two together where text casts to the new type (uuid, json, enum), not lists
    # nor intervals: re-running the old windows (a backfill) rewrites them natively
    files = [str(p) for p in january + february]
    con = duckdb.connect()
    both = f"read_parquet({files!r}, union_by_name = true)"
    assert con.execute(f"SELECT DISTINCT typeof(u), u::varchar FROM {both} WHERE id = 1").fetchall() == [
        ("UUID", str(U1))
    ]
    with pytest.raises(duckdb.ConversionException, match="from type VARCHAR to INTEGER"):
        con.execute(f"SELECT ints FROM {both}").fetchall()
    rerun = replicate(reader, table, tmp_path, JANUARY)
    assert rerun.schema_changes == []  # the newest committed schema is native already
    files = sorted(str(p) for p in tmp_path.rglob("part-*.parquet"))
    assert len(files) == 2
    rows = con.execute(
        f"SELECT DISTINCT ints, amount FROM read_parquet({files!r}, union_by_name = true) WHERE id = 1"
    )
    assert rows.fetchall() == [([1, None, -3], Decimal("-92233720368547758.08"))]


def test_qa_checks_compare_native_values_as_their_text(native_db, conn, tmp_path) -> None:
    """unique and accepted_values on a uuid, a json and an enum column: compared as the canonical
    text the pipeline config names them by."""
    checks = [
        {"unique": ["u"]}, {"unique": ["jb"]}, {"not_null": ["ints"]},
        {"accepted_values": {"column": "u", "values": [str(U1), str(UUID(int=1))]}},
        {"accepted_values": {"column": "mood", "values": ["happy"]}},
    ]  # fmt: skip
    table = TableConfig.model_validate(
        {"name": "things", "schema": SCHEMA, "mode": "full", "batch_size": 1000, "checks": checks}
    )
    place = {"source": "pos", "schedule": Schedule.monthly, "lake_root": tmp_path, "window": JANUARY}
    manifest = extract_table(PostgresReader(conn, conn_id="t"), table, **place)
    with pytest.raises(QualityError) as info:
        verify_table(PostgresReader(conn, conn_id="t"), table, batch_id=manifest.batch_id, **place)
    # the uuids and the jsonb values are distinct, and both uuids accepted
    assert str(info.value).splitlines()[1:] == [
        "  not_null(ints): ints: 1 NULL(s) in 3 rows",
        "  accepted_values(mood: happy): 1 row(s) with values not accepted: 'sad' (1)",
    ]


def test_dbt_reads_the_native_types_from_bronze(native_db, conn, tmp_path) -> None:
    """The dbt project's own macros (bronze, tributary_current, tributary_interval) over a lake
    Tributary wrote: silver holds UUID, JSON, lists, an INTERVAL, the enum's labels and money as
    DECIMAL(19,2), with PostgreSQL's values."""
    from dbt.cli.main import dbtRunner

    from tributary.transform.project import DBT_PROJECT_DIR

    table = TableConfig(name="things", schema=SCHEMA, mode="full", batch_size=1000)
    replicate(PostgresReader(conn, conn_id="t"), table, tmp_path / "lake")
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = project / "models" / "silver" / "natives"
    models.mkdir()
    (models / "_natives__sources.yml").write_text(
        "version: 2\nsources:\n  - name: pos\n    tables: [{name: things}]\n"
    )
    (models / "natives_things.sql").write_text(
        "select id, u, j, jb, ints, texts, {{ tributary_interval('iv') }} as iv, mood, amount\n"
        "from {{ tributary_current(bronze('pos', 'things', latest_only=true), ['id']) }}\n"
    )
    warehouse = tmp_path / "warehouse.duckdb"
    (tmp_path / "profiles.yml").write_text(
        f"tributary:\n  target: warehouse\n  outputs:\n    warehouse:\n"
        f"      type: duckdb\n      path: '{warehouse}'\n      threads: 1\n"
    )
    lakes = json.dumps({"tributary_lakes": {"pos": (tmp_path / "lake").as_uri()}})
    args = ["--select", "path:models/silver/natives", "--project-dir", str(project),
            "--profiles-dir", str(tmp_path), "--vars", lakes]  # fmt: skip
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        result = dbtRunner().invoke(["run", *args])
    assert result.success, result.exception or [r.message for r in result.result]
    with duckdb.connect(str(warehouse)) as con:
        described = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'silver' AND table_name = 'natives_things'"
        )
        types = dict(described.fetchall())
        silver = con.execute("SELECT * FROM silver.natives_things ORDER BY id").fetchall()
    assert {k: v for k, v in types.items() if k != "id"} == {
        "u": "UUID", "j": "JSON", "jb": "JSON", "ints": "INTEGER[]", "texts": "VARCHAR[]", "iv": "INTERVAL",
        "mood": "VARCHAR", "amount": "DECIMAL(19,2)",
    }  # fmt: skip
    assert silver[0] == (
        1, U1, '{"b": 1,  "a": [1.50, null]}', '{"a": [1.50, null], "b": 1}', [1, None, -3],
        ["a,b", None, "NULL", 'q"uote'], dt.timedelta(days=14 * 30 - 3, seconds=14706, microseconds=7),
        "happy", Decimal("-92233720368547758.08"),
    )  # fmt: skip
    assert silver[2] == (3, *([None] * 8))
