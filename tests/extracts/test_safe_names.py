"""File names and query files stay where they belong: a file-name template takes the documented
tokens and date formats only, every run's rendered path is checked against the target before
anything is written, and a query file stays inside the extracts folder. Real runs over a DuckDB
warehouse into a local target."""

from __future__ import annotations

import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.extracts.conftest import day
from tributary.errors import ConfigError
from tributary.extracts.file_names import file_name
from tributary.extracts.loader import load_extracts_file
from tributary.extracts.run import run_extract
from tributary.extracts.sources import duckdb_rows
from tributary.windows import Window

WINDOW = Window(day(4), day(5))


def _warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id FROM range(3)")
    return path


def _definitions(folder: Path, file_name_yaml: str, out: Path, source: str = "{object_type: table, name: t}"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "x.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            extracts:
              - name: sales
                source: {source}
                file: {{format: csv, name: {file_name_yaml}}}
                target: {{url: '{out}'}}
            """
        )
    )
    return path


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (
            "'{name:.>{run_date.day}.0}'",
            "has {name:.>{run_date.day}.0}: a token inside a format is not allowed",
        ),
        ("'{name.__class__}.csv'", "has {name.__class__}: attribute or index access is not allowed"),
        ("'{name[0]}.csv'", "has {name[0]}: attribute or index access is not allowed"),
        ("'{name!r}.csv'", "has {name!r}: a conversion (!r) is not allowed"),
        ("'{0}.csv'", "has an unknown token {0}"),
        ("'{}.csv'", "has an unknown token {}"),
        ("'{today}.csv'", "has an unknown token {today}"),
        ("'{name:.>20}.csv'", "has {name:.>20}: only the dates take a format"),
        ("'{run_date:%c}.csv'", "has {run_date:%c}: the strftime directive %c is not allowed"),
        ("'{run_date:%Y\\\\%m}.csv'", "the character '\\\\' is not allowed in a date format"),
        ("'../{name}.csv'", "renders '../sales.csv', whose part '..' leaves its folder"),
        ("'/tmp/{name}.csv'", "renders '/tmp/sales.csv', which starts with '/'"),
        ("'a//{name}.csv'", "which has an empty folder or file name"),
        ("'.{name}.csv'", "renders '.sales.csv', whose part '.sales.csv' starts with '.'"),
        ("'{run_date:..}/{name}.csv'", "whose part '..' leaves its folder"),
        ("'a\\{name}.csv'", "renders 'a\\\\sales.csv', whose part 'a\\\\sales.csv' holds a '\\'"),
        ('"a\\t{name}.csv"', "renders 'a\\tsales.csv', whose part 'a\\tsales.csv' holds a '\\' or a control"),
        ("'{name'", "is not a valid template"),
    ],
)
def test_a_hostile_file_name_is_refused_naming_the_extract_key_and_what_is_allowed(
    tmp_path: Path, template: str, problem: str
) -> None:
    path = _definitions(tmp_path, template, tmp_path / "out")
    with pytest.raises(ConfigError) as caught:
        load_extracts_file(path)
    message = str(caught.value)
    assert "x.yaml, line 4, key extracts[0].file.name: extract 'sales': the file name " in message
    assert problem in message
    assert "allowed: tokens {name}, {group}, {ext}" in message
    assert "only the dates take a format" in message


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("'{name}_{ds_nodash}.{ext}'", "sales_20250304.csv"),
        ("'{group}/{run_date:%Y/%m}/{name}_{ds}.{ext}'", "default/2025/03/sales_2025-03-04.csv"),
        ("'{name}.{window_start:%Y-%m-%dT%H%M}.{window_end:%d}.{ext}'", "sales.2025-03-04T0000.05.csv"),
        ("'{{literal}}_{run_date:%Y.%m.%d}_{run_date}.csv'", "{literal}_2025.03.04_2025-03-04.csv"),
    ],
)
def test_the_documented_tokens_and_date_formats_are_accepted(tmp_path: Path, template, rendered) -> None:
    extract = load_extracts_file(_definitions(tmp_path, template, tmp_path / "out"))[0]
    assert file_name(extract.config, WINDOW.start, WINDOW.end) == rendered


def _run(extract, warehouse: Path):
    return run_extract(extract, WINDOW, lambda: duckdb_rows(warehouse, extract, WINDOW, lock_wait=1))


def test_a_run_whose_date_would_render_dot_dot_is_refused_before_writing(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb")
    out = tmp_path / "out"
    extract = load_extracts_file(_definitions(tmp_path / "defs", "'{name}.{ext}'", out))[0]
    assert _run(extract, warehouse).rows == 3

    # a definition that did not go through the loader's checks (e.g. built in code): the run's
    # own check refuses it, for this date, before the source is read
    nested = extract.config.file.model_copy(update={"name": "{name:.>{run_date.day}.0}/x.csv"})
    hostile = extract.model_copy(update={"config": extract.config.model_copy(update={"file": nested})})
    with pytest.raises(
        ConfigError, match=r"extract 'sales': key file.name .* for the window starting 2025-03-04"
    ):
        _run(hostile, warehouse)

    # a rendered value that is '..' on this run (a name the loader would refuse)
    dotted = hostile.model_copy(
        update={
            "config": extract.config.model_copy(
                update={"name": "..", "file": nested.model_copy(update={"name": "{name}/escaped.csv"})}
            )
        }
    )
    with pytest.raises(ConfigError, match=r"renders '../escaped.csv', whose part '..' leaves its folder"):
        _run(dotted, warehouse)
    assert not (tmp_path / "escaped.csv").exists()
    assert sorted(p.name for p in out.iterdir()) == ["sales.csv"]


def test_a_symlinked_folder_in_the_target_that_leads_out_is_refused(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb")
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "link").symlink_to(outside)
    extract = load_extracts_file(_definitions(tmp_path / "defs", "'link/{name}.{ext}'", out))[0]
    with pytest.raises(
        ConfigError, match=r"renders 'link/sales.csv', which leads outside the target file://"
    ):
        _run(extract, warehouse)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("query_file", "problem"),
    [
        ("/etc/passwd", "the query file must be inside the extracts folder; got '/etc/passwd'"),
        ("~/q.sql", "the query file must be inside the extracts folder"),
        ("../q.sql", "the query file must be inside the extracts folder; got '../q.sql'"),
        ("queries/../../q.sql", "the query file must be inside the extracts folder"),
        ("link.sql", "the query file leads outside the folder, to "),
    ],
)
def test_a_query_file_outside_the_extracts_folder_is_refused(tmp_path: Path, query_file, problem) -> None:
    defs = tmp_path / "defs"
    defs.mkdir()
    (tmp_path / "q.sql").write_text("select 1 as id")
    (defs / "link.sql").symlink_to(tmp_path / "q.sql")
    path = _definitions(
        defs, "'{name}.{ext}'", tmp_path / "out", f"{{object_type: query, query_file: '{query_file}'}}"
    )
    with pytest.raises(ConfigError) as caught:
        load_extracts_file(path)
    message = str(caught.value)
    assert "x.yaml, line 3, key extracts[0].source.query_file: " in message
    assert problem in message
    assert "allowed: a .sql file in this YAML file's folder or a sub-folder of it" in message


def test_a_query_file_in_a_sub_folder_and_a_link_inside_are_read(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb")
    defs = tmp_path / "defs"
    (defs / "queries").mkdir(parents=True)
    (defs / "queries" / "q.sql").write_text("select id from t where id > 0")
    (defs / "alias.sql").symlink_to(defs / "queries" / "q.sql")
    for query in ("queries/q.sql", "alias.sql"):
        path = _definitions(
            defs, "'{name}.{ext}'", tmp_path / "out", f"{{object_type: query, query_file: {query}}}"
        )
        assert _run(load_extracts_file(path)[0], warehouse).rows == 2


def test_a_query_file_swapped_for_a_link_out_after_loading_is_refused_at_run_time(tmp_path: Path) -> None:
    warehouse = _warehouse(tmp_path / "w.duckdb")
    defs = tmp_path / "defs"
    defs.mkdir()
    (defs / "q.sql").write_text("select id from t")
    path = _definitions(defs, "'{name}.{ext}'", tmp_path / "out", "{object_type: query, query_file: q.sql}")
    extract = load_extracts_file(path)[0]
    (tmp_path / "elsewhere.sql").write_text("select 42 as id")
    (defs / "q.sql").unlink()
    (defs / "q.sql").symlink_to(tmp_path / "elsewhere.sql")
    with pytest.raises(
        ConfigError, match=r"extract 'sales' .*key source.query_file 'q.sql' leads to .*outside"
    ):
        _run(extract, warehouse)
