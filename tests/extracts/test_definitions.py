"""Extract definitions, SQL and file formatting without a database: what a user reads when a
definition is wrong, the SQL each dialect gets (SQL Server has no server here), the text of
values, and the DAG as Airflow's DagBag loads it."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import decimal
import io
import json
import textwrap
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tributary.config import PROJECT_ROOT
from tributary.dialects import DUCKDB, MSSQL, POSTGRES
from tributary.dialects.postgres_text import parse_interval
from tributary.errors import ConfigError, DataError
from tributary.extracts.config import FileSpec
from tributary.extracts.file_names import file_name
from tributary.extracts.loader import EXTRACTS_DIR_ENV, load_extracts, load_extracts_file
from tributary.extracts.sources import statement
from tributary.extracts.writers import write_file
from tributary.sql import render
from tributary.windows import Window

WINDOW = Window(dt.datetime(2025, 3, 4, tzinfo=dt.UTC), dt.datetime(2025, 3, 5, tzinfo=dt.UTC))


def _file(tmp_path: Path, body: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip())
    return path


def test_the_repository_examples_load_and_name_their_files() -> None:
    extracts, errors = load_extracts(PROJECT_ROOT / "include" / "pipelines" / "extracts")
    assert errors == []
    by_name = {e.name: e.config for e in extracts}
    assert {"daily_sales", "receipts", "customer_lifetime_value", "top_customers", "item_performance"} <= set(
        by_name
    )
    assert not by_name["item_performance_legacy"].active
    assert (
        file_name(by_name["daily_sales"], WINDOW.start, WINDOW.end)
        == "daily_sales/2025/03/daily_sales_20250304.csv"
    )
    assert (
        file_name(by_name["item_performance"], WINDOW.start, WINDOW.end) == "item_performance_20250304.tsv.gz"
    )


@pytest.mark.parametrize(
    ("body", "line", "fragments"),
    [
        (
            """
            extracts:
              - name: a
                source: {object_type: tabel, name: t}
                file: {format: csv}
                target: {url: out}
            """,
            3,
            ["key extracts[0].source.object_type", "did you mean 'table'", "got 'tabel'"],
        ),
        (
            """
            extracts:
              - name: a
                source: {object_type: table, name: t}
                file: {format: parquet, delimiter: ";"}
                target: {url: out}
            """,
            4,
            ["key extracts[0].file.delimiter", "applies to csv and tsv files only"],
        ),
        (
            """
            extracts:
              - name: a
                source: {object_type: table, name: t}
                file: {format: csv, name: "a_{day}.csv"}
                target: {url: out}
            """,
            4,
            ["key extracts[0].file.name", "unknown token", "allowed: tokens {name}, {group}"],
        ),
        (
            """
            extracts:
              - name: a
                source: {object_type: procedure, name: p, conn_id: mssql_db}
                incremental: {date_column: d}
                file: {format: csv}
                target: {url: out}
            """,
            4,
            ["key extracts[0].incremental", "pass the window as parameters"],
        ),
        (
            """
            extracts:
              - name: a
                source: {object_type: query, query_file: missing.sql}
                file: {format: csv}
                target: {url: out}
            """,
            3,
            ["key extracts[0].source.query_file", "missing.sql does not exist"],
        ),
        (
            """
            extracts:
              - name: a
                source: {object_type: table, name: t}
                file: {format: csv, encodng: latin-1}
                target: {url: out}
            """,
            4,
            ["key extracts[0].file.encodng", "unknown key (did you mean 'encoding'?)"],
        ),
    ],
)
def test_a_wrong_definition_names_the_file_line_key_and_fix(tmp_path, body, line, fragments) -> None:
    path = _file(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_extracts_file(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: invalid extract definitions (1 error)")
    assert f"x.yaml, line {line}, " in message
    for fragment in fragments:
        assert fragment in message


def test_a_broken_file_hides_no_other_file_and_names_are_unique(tmp_path, monkeypatch) -> None:
    good = (
        "extracts:\n"
        "  - {name: a, source: {object_type: table, name: t}, file: {format: csv}, target: {url: o}}\n"
    )
    _file(tmp_path, good, "1_good.yaml")
    _file(tmp_path, good, "2_same_name.yaml")
    _file(tmp_path, "extracts:\n  - name: b\n    source: [\n", "3_broken.yaml")
    extracts, errors = load_extracts(tmp_path)
    assert [e.name for e in extracts] == ["a"]
    assert len(errors) == 2
    assert (
        "2_same_name.yaml, line 2, key extracts[0].name: extract 'a' is already defined in 1_good.yaml"
        in str(errors[0])
    )
    assert "3_broken.yaml: not valid YAML" in str(errors[1])
    monkeypatch.setenv(EXTRACTS_DIR_ENV, str(tmp_path / "nope"))
    assert "does not exist ($TRIBUTARY_EXTRACTS_DIR)" in str(load_extracts()[1][0])


def _one(tmp_path: Path, source: str, incremental: str = "") -> object:
    path = _file(
        tmp_path,
        f"""
        extracts:
          - name: a
            source: {source}
            {incremental}
            file: {{format: csv}}
            target: {{url: out}}
        """,
    )
    return load_extracts_file(path)[0]


def test_sql_server_procedures_and_functions_render_with_binds(tmp_path) -> None:
    proc = _one(
        tmp_path,
        "{conn_id: m, object_type: procedure, schema: rpt, name: monthly_sales, "
        "parameters: {from_date: '{window_start}', to_date: '{window_end}', region: 'EU'}}",
    )
    template, context, params = statement(proc, MSSQL, WINDOW)
    assert render(MSSQL, template, **context) == (
        "EXEC [rpt].[monthly_sales] @from_date = %(p0)s, @to_date = %(p1)s, @region = %(p2)s"
    )
    assert params == {"p0": "20250304", "p1": "20250305", "p2": "EU"}, "dates as language-neutral text"
    described = dataclasses.replace(MSSQL, placeholder=lambda name: f"@{name}")
    assert render(described, template, **context).endswith("@region = @p2")
    assert render(MSSQL, "extract_declarations", names=list(params)) == (
        "@p0 nvarchar(4000), @p1 nvarchar(4000), @p2 nvarchar(4000)"
    )
    assert render(MSSQL, "extract_describe") == (
        "EXEC sp_describe_first_result_set @tsql = %(tsql)s, @params = %(declarations)s"
    )

    function = _one(
        tmp_path,
        "{conn_id: m, object_type: function, schema: rpt, name: 'sales]by', parameters: {since: 2025-01-01}, "
        "columns: [id, amount]}",
        "incremental: {date_column: sold_at}",
    )
    template, context, params = statement(function, MSSQL, WINDOW)
    sql = render(MSSQL, template, **context)
    assert [line for line in sql.splitlines() if line.strip()] == [
        "SELECT [id], [amount]",
        "FROM [rpt].[sales]]by](%(p0)s) AS extract_rows",
        "WHERE [sold_at] >= %(window_start)s",
        "  AND [sold_at] < %(window_end)s",
        "OPTION (MAXDOP 1)",
    ]
    assert params == {"p0": "20250101", "window_start": "20250304", "window_end": "20250305"}


def test_postgres_and_duckdb_statements(tmp_path) -> None:
    function = _one(
        tmp_path,
        "{conn_id: p, object_type: function, name: orders_since, parameters: {s: '{window_start_date}'}}",
    )
    template, context, params = statement(function, POSTGRES, WINDOW)
    assert render(POSTGRES, template, **context).splitlines() == [
        "SELECT *",
        'FROM "orders_since"(%(p0)s) AS extract_rows',
    ]
    assert params == {"p0": dt.date(2025, 3, 4)}
    table = _one(tmp_path, "{object_type: view, schema: gold, name: v}", "incremental: {date_column: d}")
    template, context, params = statement(table, DUCKDB, WINDOW)
    assert render(DUCKDB, template, **context).splitlines() == [
        "SELECT *",
        'FROM "gold"."v"',
        'WHERE "d" >= $window_start',
        '  AND "d" < $window_end',
    ]
    assert params == {"window_start": WINDOW.start, "window_end": WINDOW.end}


def _csv(tmp_path: Path, table: pa.Table, **spec: object) -> str:
    path = tmp_path / "f.csv"
    write_file(table.schema, table.to_batches(), FileSpec.model_validate({"format": "csv", **spec}), path)
    return path.read_text(encoding="utf-8")


def test_values_are_written_as_their_exact_text(tmp_path) -> None:
    table = pa.table(
        {
            "rate": pa.array(
                [decimal.Decimal("0.00000010"), decimal.Decimal("-12.50"), None], pa.decimal128(10, 8)
            ),
            "at": pa.array(
                [dt.datetime(2025, 1, 2, 3, 4, 5), dt.datetime(2025, 1, 2, 3, 4, 5, 120000), None]
            ),
            "at_utc": pa.array(
                [dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)] * 2 + [None], pa.timestamp("us", "UTC")
            ),
            "x": pa.array([0.1, 1e20, None]),
            "ok": pa.array([True, False, None]),
            "text": pa.array(["a,b", "", None]),
        }
    )
    assert _csv(tmp_path, table).splitlines() == [
        "rate,at,at_utc,x,ok,text",
        '0.00000010,2025-01-02 03:04:05.000000,2025-01-02 03:04:05+00:00,0.1,true,"a,b"',
        '-12.50000000,2025-01-02 03:04:05.120000,2025-01-02 03:04:05+00:00,1e+20,false,""',
        ",,,,,",
    ]
    assert _csv(
        tmp_path, table.select(["at", "text"]), timestamp_format="%d/%m/%Y", null_value="\\N"
    ).splitlines()[1:] == ['02/01/2025,"a,b"', '02/01/2025,""', "\\N,\\N"]
    with pytest.raises(DataError, match=r"column 'text'.*'a,b'.*quoting is 'none'"):
        _csv(tmp_path, table.select(["text"]), quoting="none")


def _natives() -> pa.Table:
    ids = [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), None]
    return pa.table({
        "u": pa.array(ids, pa.uuid()),
        "doc": pa.array(['{"a": [1.50, null], "é": "x,y"}', None], pa.json_()),
        "waited": pa.array(
            [pa.MonthDayNano([14, -3, 14_706_000_007_000]), None], pa.month_day_nano_interval()
        ),
        "ints": pa.array([[1, None, -3], None], pa.list_(pa.int32())),
        "texts": pa.array([['a "q"', None, "é"], []], pa.list_(pa.string())),
        "amounts": pa.array([[decimal.Decimal("-1.50")], [None]], pa.list_(pa.decimal128(19, 2))),
        "mood": pa.array(["happy", None], pa.dictionary(pa.int32(), pa.string())),
    })  # fmt: skip


def test_native_types_are_written_as_documented_text(tmp_path) -> None:
    """UUIDs canonical, JSON as its text, intervals in PostgreSQL's ISO 8601, lists as JSON."""
    rows = list(csv.reader(io.StringIO(_csv(tmp_path, _natives()))))
    assert rows == [
        ["u", "doc", "waited", "ints", "texts", "amounts", "mood"],
        ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", '{"a": [1.50, null], "é": "x,y"}', "P1Y2M-3DT4H5M6.000007S",
         "[1, null, -3]", '["a \\"q\\"", null, "é"]', "[-1.50]", "happy"],
        ["", "", "", "", "[]", "[null]", ""],
    ]  # fmt: skip
    assert json.loads(rows[1][4]) == ['a "q"', None, "é"]
    assert parse_interval(rows[1][2]) == pa.MonthDayNano([14, -3, 14_706_000_007_000])


def test_native_types_keep_their_types_in_a_parquet_extract(tmp_path) -> None:
    path = tmp_path / "f.parquet"
    table = _natives()
    write_file(table.schema, table.to_batches(), FileSpec.model_validate({"format": "parquet"}), path)
    back = pq.read_table(path)
    assert back.schema.field("u").type == pa.uuid() and back.schema.field("doc").type == pa.json_()
    assert back.select(["u", "doc", "ints", "texts", "amounts", "mood"]) == table.select(
        ["u", "doc", "ints", "texts", "amounts", "mood"]
    )
    assert back.column("waited").to_pylist() == [
        {"months": 14, "days": -3, "nanoseconds": 14_706_000_007_000},
        None,
    ]
    typed = duckdb.sql(f"SELECT typeof(u), typeof(doc), typeof(ints) FROM '{path}' LIMIT 1").fetchall()
    assert typed == [("UUID", "JSON", "INTEGER[]")]


def test_the_extracts_dag_loads_in_airflows_dagbag(tmp_path, monkeypatch, airflow_db) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag_file = PROJECT_ROOT / "dags" / "tributary_extracts.py"
    monkeypatch.delenv(EXTRACTS_DIR_ENV, raising=False)
    bag = DagBag(dag_folder=str(dag_file))
    assert bag.import_errors == {}
    dag = bag.dags["extracts"]
    assert dag.task_ids == ["list_extracts", "run_extract", "summary"]
    assert dag.get_task("summary").trigger_rule == "all_done"
    assert dag.get_task("summary").pool == "dbt_duckdb"
    # the history and the examples' warehouse extracts open the file: its worker's queue
    assert dag.get_task("summary").queue == dag.get_task("run_extract").queue == "warehouse"
    assert dag.get_task("list_extracts").queue == "default"
    assert set(dag.params) == {"execution_group", "extracts"}

    _file(
        tmp_path,
        "extracts:\n  - name: a\n    source: {object_type: table}\n"
        "    file: {format: csv}\n    target: {url: o}\n",
    )
    monkeypatch.setenv(EXTRACTS_DIR_ENV, str(tmp_path))
    broken = DagBag(dag_folder=str(dag_file))
    assert "extracts" in broken.dags, "a broken file does not hide the DAG"
    (error,) = broken.import_errors.values()
    assert "x.yaml, line 3, key extracts[0].source.name: object_type 'table' needs name" in error


def test_extracts_of_other_databases_run_on_any_worker(tmp_path, monkeypatch) -> None:
    """Only the warehouse's extracts need its worker: with none, the mapped task keeps the default
    queue, while the history (a write to the warehouse) stays on the warehouse's queue."""
    from tributary.extracts.dag import build_extracts_dag
    from tributary.hooks.warehouse import WAREHOUSE_QUEUE_ENV

    _file(
        tmp_path,
        "extracts:\n  - name: a\n    source: {conn_id: crm_pg, object_type: table, name: t}\n"
        "    file: {format: csv}\n    target: {url: o}\n",
    )
    extracts, errors = load_extracts(tmp_path)
    assert errors == []
    monkeypatch.setenv(WAREHOUSE_QUEUE_ENV, "duckdb-host")
    dag = build_extracts_dag(extracts)
    assert dag.get_task("run_extract").queue == "default"
    assert dag.get_task("summary").queue == "duckdb-host"
