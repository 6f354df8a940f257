"""The extracts DAG end to end through Airflow (``dag.test()``): a DuckDB warehouse the tests
build and a PostgreSQL source, every object type and format, one broken extract among good ones,
the execution-group filter, the history rows, and the files compared with the source."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import gzip
import io
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.extracts.conftest import PG_DATABASE, day
from tributary.extracts.dag import build_extracts_dag
from tributary.extracts.loader import load_extracts, load_extracts_file
from tributary.extracts.sources import database_rows
from tributary.windows import Window

pytestmark = pytest.mark.airflow

DEFINITIONS = """
extracts:
  - name: wh_table_csv
    execution_group: warehouse
    source: {{object_type: table, schema: gold, name: sales}}
    incremental: {{date_column: business_date}}
    file: {{format: csv, name: "sales/{{run_date:%Y/%m}}/sales_{{ds_nodash}}.{{ext}}"}}
    target: {{url: '{out}'}}
  - name: wh_view_tsv
    execution_group: warehouse
    source: {{object_type: view, schema: gold, name: sales_by_day}}
    file: {{format: tsv, compression: gzip}}
    target: {{url: '{out}'}}
  - name: wh_query_parquet
    execution_group: warehouse
    source: {{object_type: query, query_file: queries/wh_sales.sql}}
    incremental: {{date_column: business_date}}
    file: {{format: parquet, compression: zstd}}
    target: {{url: '{out}'}}
  - name: wh_macro_csv
    execution_group: warehouse
    source: {{object_type: function, schema: gold, name: sales_over, parameters: {{threshold: 3700}}}}
    file: {{format: csv, compression: zstd, quoting: all, null_value: "NULL"}}
    target: {{url: '{out}'}}
  - name: pg_table_csv
    execution_group: pg
    source: {{conn_id: extract_pg, object_type: table, name: orders}}
    incremental: {{date_column: placed_on}}
    file: {{format: csv, delimiter: ";", line_terminator: crlf}}
    target: {{url: '{out}'}}
  - name: pg_view_parquet
    execution_group: pg
    source: {{conn_id: extract_pg, object_type: view, schema: public, name: big_orders}}
    file: {{format: parquet}}
    target: {{url: '{out}'}}
  - name: pg_query_tsv
    execution_group: pg
    source: {{conn_id: extract_pg, object_type: query, query_file: queries/pg_orders.sql}}
    incremental: {{date_column: placed_at}}
    file: {{format: tsv}}
    target: {{url: '{out}'}}
  - name: pg_function_csv
    execution_group: pg
    source:
      conn_id: extract_pg
      object_type: function
      name: orders_since
      parameters: {{since: "{{window_start_date}}"}}
    file: {{format: csv}}
    target: {{url: '{out}'}}
  - name: broken
    execution_group: warehouse
    source: {{object_type: table, schema: gold, name: no_such_table}}
    file: {{format: csv}}
    target: {{url: '{out}'}}
  - name: retired
    active: false
    execution_group: warehouse
    source: {{object_type: table, schema: gold, name: sales}}
    file: {{format: csv}}
    target: {{url: '{out}'}}
"""
QUERIES = {
    "queries/wh_sales.sql": """
        -- a query file: every sale with its amounts
        select sale_id, business_date, amount, rate, customer
        from gold.sales;
    """,
    "queries/pg_orders.sql": "select id, placed_at, amount, note from orders where note like 'Señor%'\n",
}


@pytest.fixture
def extracts_dag(definitions, warehouse, pg_conn, tmp_path, airflow_db):
    out = tmp_path / "out"
    folder = definitions(DEFINITIONS.format(out=out), QUERIES)
    extracts, errors = load_extracts(folder)
    assert errors == []
    return build_extracts_dag(extracts, retries=0), out, warehouse


def _states(run) -> dict[str, str]:
    return {
        (ti.rendered_map_index or ti.task_id) if ti.task_id == "run_extract" else ti.task_id: str(ti.state)
        for ti in run.get_task_instances()
    }


def _history(warehouse: Path, run_id: str) -> dict[str, dict]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute("select * from tributary.extract_history where run_id = ?", [run_id])
        names = [d[0] for d in cursor.description]
        return {
            row[names.index("extract_name")]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()
        }


def _warehouse_rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def _csv_cell(value: object, *, null: str = "", quote_all: bool = False, delimiter: str = ",") -> str:
    """How the extract writes one value (an independent rendering of the documented rules)."""
    if value is None:
        return null
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, decimal.Decimal):
        text = format(value, "f")
    elif isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
    else:
        text = str(value)
    if quote_all or text == "" or any(c in text for c in (delimiter, '"', "\n", "\r")):
        return '"' + text.replace('"', '""') + '"'
    return text


def _records(text: str) -> list[str]:
    """The records of a CSV text, each with its line terminator (values may hold line breaks)."""
    records, current, quoted = [], "", False
    for char in text:
        current += char
        if char == '"':
            quoted = not quoted
        elif char == "\n" and not quoted:
            records.append(current)
            current = ""
    return records


def test_every_object_type_and_format_one_broken_extract_fails_alone(extracts_dag, pg_source) -> None:
    dag, out, warehouse = extracts_dag
    run = dag.test(logical_date=day(4))

    states = _states(run)
    assert str(run.state) == "failed", "a failed extract fails the run (through the summary)"
    assert states.pop("broken") == "failed"
    assert states.pop("summary") == "failed", "the summary ran (all_done) and reported the failure"
    assert states.pop("list_extracts") == "success"
    assert states == dict.fromkeys(
        [
            "wh_table_csv", "wh_view_tsv", "wh_query_parquet", "wh_macro_csv",
            "pg_table_csv", "pg_view_parquet", "pg_query_tsv", "pg_function_csv",
        ],
        "success",
    ), "the inactive extract does not run; the others succeed"  # fmt: skip

    history = _history(warehouse, run.run_id)
    assert set(history) == {*states, "broken"}
    broken = history["broken"]
    assert broken["status"] == "failed" and broken["rows"] is None and broken["file"] is None
    assert "no_such_table" in broken["error"] and "extracts.yaml" in broken["error"]
    for name in states:
        row = history[name]
        assert row["status"] == "success" and row["error"] is None, name
        assert row["window_start"] == day(4) and row["window_end"] == day(5)
        assert row["file"].startswith(out.as_uri()) and Path(row["file"][7:]).stat().st_size == row["bytes"]
        assert row["duration_seconds"] >= 0 and row["try_number"] == 1
    assert not list(out.rglob(".*")), "no temporary file left behind"

    # DuckDB table, incremental, csv: the whole text, rendered independently from the source rows
    source = _warehouse_rows(
        warehouse,
        "select * from gold.sales where business_date = DATE '2025-03-04' order by sale_id",
    )
    assert len(source) == 300 and history["wh_table_csv"]["rows"] == 300
    path = out / "sales" / "2025" / "03" / "sales_20250304.csv"
    header = "sale_id,business_date,sold_at,amount,rate,customer,is_even"
    expected = header + "\n" + "".join(",".join(_csv_cell(v) for v in row) + "\n" for row in source)
    text = path.read_text(encoding="utf-8")
    assert text == expected
    assert "Zoë Ødegaard 王" in text, "unicode preserved"
    assert ',"",' in text and ",," in text, "empty text is quoted, NULL is nothing"
    parsed = list(csv.reader(io.StringIO(text)))
    assert len(parsed) == 301
    assert parsed[1][3] == format(source[0][3], "f")

    # a view, tsv, gzip
    with gzip.open(out / "wh_view_tsv_20250304.tsv.gz", "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    assert lines[0] == "business_date\treceipts\tamount"
    by_day = _warehouse_rows(warehouse, "select business_date, receipts, amount from gold.sales_by_day")
    assert sorted(lines[1:]) == sorted(f"{d}\t{n}\t{format(a, 'f')}" for d, n, a in by_day)

    # a query file, parquet: the same Arrow table as the source query, decimals exact
    table = pq.read_table(out / "wh_query_parquet_20250304.parquet")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        wanted = con.execute(
            "select sale_id, business_date, amount, rate, customer from gold.sales "
            "where business_date = DATE '2025-03-04'"
        ).to_arrow_table()
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    assert table.schema.field("rate").type == pa.decimal128(10, 8)
    assert table.sort_by("sale_id").equals(wanted.sort_by("sale_id"))
    assert table.column("customer").null_count == wanted.column("customer").null_count > 0

    # a table macro with a parameter, csv, zstd, quoting all, NULL written as NULL
    with pa.input_stream(str(out / "wh_macro_csv_20250304.csv.zst"), compression="zstd") as fh:
        macro_text = fh.read().decode("utf-8")
    over = _warehouse_rows(
        warehouse, "select sale_id, amount, customer from gold.sales where amount > 3700 order by sale_id"
    )
    assert macro_text.startswith('"sale_id","amount","customer"\n')
    assert ",NULL\n" in macro_text and ',""\n' in macro_text, "NULL unquoted, empty text quoted"
    expected_rows = [
        "".join(",".join(_csv_cell(v, null="NULL", quote_all=True) for v in row) + "\n") for row in over
    ]
    assert sorted(_records(macro_text)[1:]) == sorted(expected_rows)

    # PostgreSQL table, incremental on a date, ';' and CRLF
    pg_lines = (out / "pg_table_csv_20250304.csv").read_bytes().decode("utf-8").split("\r\n")
    assert pg_lines[0] == "id;placed_on;placed_at;amount;note" and pg_lines[-1] == ""
    rows = [line.split(";") for line in pg_lines[1:-1]]
    assert sorted(int(r[0]) for r in rows) == list(range(3, 501, 10))
    by_id = {int(r[0]): r for r in rows}
    assert by_id[3][1:] == ["2025-03-04", "2025-03-01 13:00:00+00:00", "30.03", "Señor Müller 3"]
    assert by_id[13][3] == "130.13" and by_id[23][3] == "230.23"
    assert by_id[43][3] == "430.43" and by_id[43][4] == "Señor Müller 43"

    # PostgreSQL view, parquet: exact decimals, NULLs kept
    view = pq.read_table(out / "pg_view_parquet_20250304.parquet")
    assert view.num_rows == 200 == history["pg_view_parquet"]["rows"]
    assert view.schema.field("amount").type == pa.decimal128(12, 2)
    total = pg_source.psql("SELECT sum(amount) FROM big_orders", database=PG_DATABASE)
    assert sum(view.column("amount").to_pylist()) == decimal.Decimal(total)

    # PostgreSQL query (a % in it), incremental on a timestamptz, tsv
    tsv = (out / "pg_query_tsv_20250304.tsv").read_text(encoding="utf-8").splitlines()
    expected_ids = [i for i in range(62, 86) if i % 4]
    assert [int(line.split("\t")[0]) for line in tsv[1:]] == expected_ids
    assert tsv[1].split("\t")[3] == "Señor Müller 62"

    # PostgreSQL set-returning function with the window as its argument; numeric without a
    # precision is written as its exact text
    fn = list(csv.reader(io.StringIO((out / "pg_function_csv_20250304.csv").read_text())))
    assert fn[0] == ["id", "amount", "note"]
    assert len(fn) - 1 == 350 == history["pg_function_csv"]["rows"]
    assert {r[0]: r[1] for r in fn[1:]}["3"] == "30.03"


def test_the_execution_group_param_runs_only_that_group(extracts_dag) -> None:
    dag, out, warehouse = extracts_dag
    run = dag.test(logical_date=day(5), run_conf={"execution_group": "pg"})

    assert str(run.state) == "success"
    states = _states(run)
    assert states == {
        "list_extracts": "success",
        "pg_table_csv": "success",
        "pg_view_parquet": "success",
        "pg_query_tsv": "success",
        "pg_function_csv": "success",
        "summary": "success",
    }
    history = _history(warehouse, run.run_id)
    assert set(history) == {"pg_table_csv", "pg_view_parquet", "pg_query_tsv", "pg_function_csv"}
    assert {row["requested_group"] for row in history.values()} == {"pg"}
    assert (out / "pg_table_csv_20250305.csv").is_file()
    assert not (out / "sales" / "2025" / "03" / "sales_20250305.csv").exists()


def test_an_unknown_group_fails_the_run_naming_the_groups(extracts_dag) -> None:
    dag, _, _ = extracts_dag
    run = dag.test(logical_date=day(6), run_conf={"execution_group": "finanse"})
    assert str(run.state) == "failed"
    assert _states(run)["list_extracts"] == "failed"


@pytest.mark.parametrize("object_type", ["view", "query"])
def test_a_postgres_source_of_native_types_reads_as_the_lake_reads_it(
    pg_source, pg_conn, definitions, object_type
) -> None:
    """A view goes through the lake's reader; a query through psycopg's description of its
    result: both give uuid, jsonb, interval and money their native types and exact values."""
    pg_source.psql(
        "CREATE OR REPLACE VIEW natives AS SELECT 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid AS u, "
        """'{"z": 1, "a": [1.50]}'::jsonb AS doc, interval '1 year -3 days 00:00:00.000007' AS waited, """
        "'-1234.56'::money AS price",
        database=PG_DATABASE,
    )
    source = (
        "{conn_id: extract_pg, object_type: view, name: natives}"
        if object_type == "view"
        else "{conn_id: extract_pg, object_type: query, query_file: q.sql}"
    )
    folder = definitions(
        f"extracts:\n  - name: n\n    source: {source}\n    file: {{format: csv}}\n    target: {{url: o}}\n",
        {"q.sql": "SELECT * FROM natives"},
    )
    (extract,) = load_extracts_file(folder / "extracts.yaml")
    with database_rows(pg_conn, extract, Window(day(1), day(2))) as rows:
        table = pa.Table.from_batches(list(rows.batches), schema=rows.schema)
    assert [f.type for f in table.schema] == [
        pa.uuid(), pa.json_(), pa.month_day_nano_interval(), pa.decimal128(19, 2)
    ]  # fmt: skip
    assert table.to_pylist() == [{
        "u": uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "doc": '{"a": [1.50], "z": 1}',
        "waited": pa.MonthDayNano([12, -3, 7000]), "price": decimal.Decimal("-1234.56"),
    }]  # fmt: skip
