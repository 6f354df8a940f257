"""Pipeline config files: what loads, and what a user reads when a file is wrong.

Each invalid fixture holds one mistake. Its error must name the file, the line of the offending
key, the key path, the value received and what is allowed, on one line.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from tributary.config import (
    PIPELINES_DIR_ENV,
    PROJECT_ROOT,
    Compression,
    Mode,
    PipelineConfig,
    Schedule,
    TableConfig,
    config_files,
    load_all,
    load_config,
    parse_duration,
    pipelines_dir,
)
from tributary.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "configs"
VALID = FIXTURES / "valid"
INVALID = FIXTURES / "invalid"

# file, line, key path, text on that line of the fixture, fragments the message must hold
INVALID_CASES = [
    (
        "watermark_without_column.yaml",
        9,
        "tables[0].watermark_column",
        "- name: customers",
        ["mode 'watermark' needs watermark_column", "allowed: add watermark_column"],
    ),
    (
        "bad_lookback.yaml",
        12,
        "tables[0].lookback",
        "lookback: two hours",
        ["'two hours' is not a duration", "got 'two hours'", "allowed: a duration like 30s, 15m, 2h or 1d"],
    ),
    (
        "unknown_top_level_key.yaml",
        7,
        "owner",
        "owner: data-team",
        ["unknown key", "got 'owner'", "allowed: source, lake, schedule, start_date, end_date"],
    ),
    (
        "misspelled_table_key.yaml",
        12,
        "tables[1].date_colum",
        "date_colum: sales_date",
        ["unknown key (did you mean 'date_column'?)", "got 'date_colum'", "allowed: name, schema, mode"],
    ),
    (
        "bad_mode.yaml",
        11,
        "tables[1].mode",
        "mode: windw",
        ["not one of the allowed values (did you mean 'window'?)", "got 'windw'", "allowed: window, full"],
    ),
    (
        "window_without_date_column.yaml",
        10,
        "tables[1].date_column",
        "- name: sales",
        [
            "mode 'window' needs date_column",
            "got mode 'window' and no date_column",
            "allowed: add date_column",
        ],
    ),
    (
        "full_with_date_column.yaml",
        10,
        "tables[0].date_column",
        "date_column: updated_at",
        ["mode 'full'", "got 'updated_at'", "allowed: remove date_column, or use mode 'window'"],
    ),
    (
        "source_name_upper_case.yaml",
        2,
        "source.name",
        "name: POS",
        [
            "not a valid name",
            "got 'POS'",
            "allowed: a lower-case letter, then lower-case letters, digits or _",
        ],
    ),
    (
        "source_name_dash.yaml",
        3,
        "source.name",
        "name: pos-eu",
        ["not a valid name", "got 'pos-eu'", "allowed: a lower-case letter"],
    ),
    (
        "unsupported_lake_scheme.yaml",
        6,
        "lake.url",
        "url: ftp://",
        [
            "lake scheme 'ftp' is not supported",
            "got 'ftp://files.example.com/bronze'",
            "allowed: file:///abs/path, a path relative to the project, s3://bucket/prefix, gs://bucket/prefix",
        ],
    ),
    (
        "duplicate_table.yaml",
        10,
        "tables[2].name",
        "{name: sales, mode: full}",
        ["table 'sales' is already listed as tables[0]", "got 'sales'", "allowed: each table once"],
    ),
    (
        "max_connections_zero.yaml",
        4,
        "source.max_connections",
        "max_connections: 0",
        ["out of range", "got 0", "allowed: a whole number from 1 to 64"],
    ),
    (
        "missing_tables.yaml",
        1,
        "tables",
        "source:",
        ["required key is missing", "allowed: a list of mappings with keys name, schema, mode, date_column"],
    ),
    (
        "list_not_mapping.yaml",
        1,
        "(top level)",
        "- source:",
        ["a pipeline config is a mapping of keys", "got a list", "allowed: a mapping with keys source, lake"],
    ),
    (
        "bad_schedule.yaml",
        6,
        "schedule",
        'schedule: "@hourly"',
        ["not one of the allowed values", "got '@hourly'", "allowed: @monthly, @daily"],
    ),
    (
        "bad_start_date.yaml",
        6,
        "start_date",
        "start_date: 2025-13-01",
        ["not a date", "got '2025-13-01'", "allowed: a date as YYYY-MM-DD"],
    ),
    (
        "end_date_before_start_date.yaml",
        7,
        "end_date",
        "end_date: 2025-01-01",
        [
            "end_date must be after start_date",
            "got 2025-01-01",
            "allowed: a date after start_date 2025-06-01",
        ],
    ),
    (
        "duplicate_yaml_key.yaml",
        11,
        "tables[0].mode",
        "mode: full",
        ["key is given twice (first on line 9)", "got 'mode'", "allowed: each key once per mapping"],
    ),
]

PYDANTIC_NOISE = ("Input should be", "String should match", "Extra inputs", "Field required", "Value error")


def _error_lines(message: str) -> list[str]:
    """The per-error lines of a config error (its first line is the header with the full path)."""
    return [line.strip() for line in message.splitlines()[1:]]


def test_every_invalid_fixture_is_covered() -> None:
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(
        [case[0] for case in INVALID_CASES] + ["yaml_syntax_error.yaml"]
    )


@pytest.mark.parametrize(
    ("name", "line", "key", "on_line", "fragments"), INVALID_CASES, ids=[c[0] for c in INVALID_CASES]
)
def test_invalid_config_names_file_line_key_value_and_allowed(
    name: str, line: int, key: str, on_line: str, fragments: list[str]
) -> None:
    path = INVALID / name
    where = re.escape(f"{name}, line {line}, key {key}: ")
    with pytest.raises(ConfigError, match=where) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.splitlines()[0] == f"{path}: invalid pipeline config (1 error)"
    (detail,) = _error_lines(message)  # one mistake, one line
    assert detail.startswith(f"{name}, line {line}, key {key}: ")
    for fragment in fragments:
        assert fragment in detail, f"{fragment!r} not in {detail!r}"
    # the order a user reads: what is wrong; got <value>; allowed: <...>
    if "; got " in detail:
        assert detail.index("; got ") < detail.index("; allowed: ")
    assert "; allowed: " in detail
    assert not any(noise in message for noise in PYDANTIC_NOISE), message
    # the line named is where the offending key (or the table missing it) is in the file
    assert on_line in path.read_text().splitlines()[line - 1]


def test_yaml_syntax_error_names_file_line_and_column() -> None:
    path = INVALID / "yaml_syntax_error.yaml"
    with pytest.raises(
        ConfigError,
        match=r"yaml_syntax_error\.yaml, line 9, column 10: not valid YAML: mapping values are not allowed",
    ) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.splitlines()[0] == f"{path}: not valid YAML"
    assert "check the indentation" in message
    assert isinstance(caught.value.__cause__, Exception)  # raised `from` the YAML error


def test_several_mistakes_give_one_line_each_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "source:\n"
        "  name: Pos\n"  # 2
        "  conn_id: pos_db\n"
        "  max_connections: 100\n"  # 4
        "lake: {url: data/lake, compression: lz4}\n"  # 5
        "start_date: 2025-01-01\n"
        "tables:\n"
        "  - {name: sales, mode: windw, date_column: d}\n"  # 8
        "  - {name: items, mode: full, colour: red}\n"  # 9
        "owner: me\n"  # 10
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.splitlines()[0] == f"{path}: invalid pipeline config (6 errors)"
    assert [line.split(":")[0] for line in _error_lines(message)] == [
        "many.yaml, line 2, key source.name",
        "many.yaml, line 4, key source.max_connections",
        "many.yaml, line 5, key lake.compression",
        "many.yaml, line 8, key tables[0].mode",
        "many.yaml, line 9, key tables[1].colour",
        "many.yaml, line 10, key owner",
    ]
    assert "got 100; allowed: a whole number from 1 to 64" in message
    assert "got 'lz4'; allowed: snappy, zstd, gzip, none" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"pipeline\.yaml, line 1, key \(top level\): .*got an empty file"),
        (
            "source: pos\nlake: {url: data/lake}\nstart_date: 2025-01-01\ntables: [{name: t, mode: full}]\n",
            r"pipeline\.yaml, line 1, key source: not a mapping; got 'pos'; allowed: a mapping with keys",
        ),
        (
            "source: {name: pos, conn_id: c}\nlake: {url: data/lake}\nstart_date: 2025-01-01\ntables: []\n",
            r"pipeline\.yaml, line 4, key tables: needs at least 1 item\(s\); got \[\]",
        ),
        (
            "source: {name: pos, conn_id: c, retries: many}\nlake: {url: data/lake}\n"
            "start_date: 2025-01-01\ntables: [{name: t, mode: full}]\n",
            r"line 1, key source\.retries: not a whole number; got 'many'; allowed: a whole number from 0",
        ),
        ("source:\n\tname: pos\n", r"pipeline\.yaml, line 2, column 1: not valid YAML: .*spaces, not tabs"),
        (
            "source: {name: pos, conn_id: c}\nlake: {url: data/lake}\nstart_date: 2025-01-01\n"
            "tags: &t [a, *t]\ntables: [{name: t, mode: full}]\n",
            r"pipeline\.yaml, line 4, key tags\[1\]: not text",
        ),
        (
            "source: {name: pos, conn_id: c, max_connections: 2}\nlake: {url: data/lake}\n"
            "start_date: 2025-01-01\ntables:\n  - {name: t, mode: full}\n"
            "  - {name: u, mode: full, sessions: 3}\n",
            r"line 6, key tables\[1\]\.sessions: table 'u' asks for 3 sessions, more than the source's pool "
            r"has slots \(max_connections: 2\); got 3; allowed: 1 to 2, or raise source\.max_connections",
        ),
    ],
    ids=[
        "empty-file",
        "source-not-a-mapping",
        "no-tables",
        "retries-not-a-number",
        "tab",
        "self-alias",
        "sessions-over-the-pool",
    ],
)
def test_other_shapes_of_mistake(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read the config file"):
        load_config(tmp_path / "missing.yaml")


# --- valid configs -------------------------------------------------------------------------


def test_minimal_config_gets_the_defaults() -> None:
    config = load_config(VALID / "minimal.yaml")
    assert isinstance(config, PipelineConfig)
    assert config.source.name == "minimal"
    assert config.source.max_connections == 2
    assert config.schedule is Schedule.monthly
    assert config.lake.compression is Compression.snappy
    assert config.lake.conn_id is None
    assert config.end_date is None
    assert config.dag_id == "replicate_minimal"
    assert config.pool == "source_minimal"
    # a relative lake path is taken from the project root, whatever the working directory
    assert config.lake.resolved_url() == (PROJECT_ROOT / "data" / "lake").as_uri()
    assert config.lake.resolved_url().startswith("file:///")


def test_watermark_table_keys() -> None:
    (table,) = load_config(VALID / "watermark.yaml").tables
    assert table.mode.value == "watermark" and table.filter_column == "modified_at"
    assert parse_duration(table.lookback) == dt.timedelta(hours=2)
    assert parse_duration(table.safety_lag) == dt.timedelta(minutes=10)
    assert table.initial_watermark == dt.datetime(2024, 12, 1, tzinfo=dt.UTC)
    assert table.null_watermark.value == "ignore" and table.schema_drift.value == "freeze"
    default = TableConfig(name="t", mode="window", date_column="d")
    assert default.schema_drift.value == "evolve" and parse_duration(default.safety_lag).seconds == 300


def test_relative_lake_path_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(VALID / "minimal.yaml").lake.resolved_url() == (PROJECT_ROOT / "data/lake").as_uri()


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (VALID / "minimal.yaml").read_bytes())
    assert load_config(path).source.name == "minimal"


def test_full_config_keeps_every_value() -> None:
    config = load_config(VALID / "full.yaml")
    assert config.source.model_dump() == {
        "name": "warehouse_2",
        "conn_id": "warehouse_pg",
        "max_connections": 4,
        "retries": 5,
        "retry_delay_seconds": 120,
        "require_read_replica": True,
        "application_intent": None,
        "cdc": None,
    }
    assert config.lake.url == "s3://company-lake/bronze"  # trailing slash dropped
    assert config.lake.resolved_url() == "s3://company-lake/bronze"
    assert config.lake.conn_id == "lake_aws"
    assert config.lake.compression is Compression.zstd
    assert config.lake.rows_per_file == 250_000
    assert (config.start_date, config.end_date) == (dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    assert config.max_active_runs == 3
    assert config.tags == ["finance", "nightly"]
    orders, lines, products = config.tables
    assert orders.schema_ == "public"
    assert orders.mode is Mode.window
    assert orders.date_column == "ordered_at"
    assert orders.primary_key == ["order_id"]
    assert orders.columns == ["order_id", "customer_id", "ordered_at", "total"]
    assert orders.batch_size == 50_000
    assert lines.group_id == "order_lines"  # a task-group id Airflow accepts
    assert (products.mode, products.date_column, products.batch_size) == (Mode.full, None, 100_000)


def test_daily_config() -> None:
    config = load_config(VALID / "daily.yaml")
    assert config.schedule is Schedule.daily
    assert config.lake.resolved_url() == "gs://clicks-lake/bronze"
    assert config.lake.compression is Compression.gzip
    assert [(t.name, t.mode, t.date_column) for t in config.tables] == [("events", Mode.window, "event_time")]


def test_mssql_like_config_keeps_schema_and_case() -> None:
    config = load_config(VALID / "mssql.yaml")
    sales, item = config.tables
    assert (sales.name, sales.schema_, sales.date_column, sales.primary_key) == (
        "APP_4_SALES",
        "dbo",
        "SALES_DATE",
        ["ID"],
    )
    assert (item.name, item.schema_, item.mode) == ("APP_4_ITEM", "dbo", Mode.full)
    assert config.lake.resolved_url() == "file:///srv/lake/bronze"
    # the operators receive the table as JSON and read it back with the same model
    assert sales.model_dump(mode="json", by_alias=True, exclude_defaults=True)["schema"] == "dbo"


def test_repo_pipelines_are_valid() -> None:
    configs, errors = load_all(PROJECT_ROOT / "include" / "pipelines")
    assert errors == []
    assert [config.source.name for _, config in configs] == ["pos"]


# --- folders of configs --------------------------------------------------------------------


def test_load_all_returns_good_configs_and_one_error_per_bad_file(tmp_path: Path) -> None:
    for name in ("minimal.yaml", "daily.yaml"):
        shutil.copy(VALID / name, tmp_path / name)
    for name in ("bad_mode.yaml", "yaml_syntax_error.yaml", "list_not_mapping.yaml"):
        shutil.copy(INVALID / name, tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a config")

    configs, errors = load_all(tmp_path)

    assert [(path.name, config.source.name) for path, config in configs] == [
        ("daily.yaml", "clicks"),
        ("minimal.yaml", "minimal"),
    ]
    assert len(errors) == 3
    assert all(isinstance(error, ConfigError) for error in errors)
    assert [str(error).splitlines()[0].split(":")[0] for error in errors] == [
        str(tmp_path / "bad_mode.yaml"),
        str(tmp_path / "list_not_mapping.yaml"),
        str(tmp_path / "yaml_syntax_error.yaml"),
    ]


def test_same_source_name_in_two_files_names_both_files(tmp_path: Path) -> None:
    shutil.copy(VALID / "minimal.yaml", tmp_path / "a_first.yaml")
    shutil.copy(VALID / "minimal.yaml", tmp_path / "b_second.yml")

    configs, errors = load_all(tmp_path)

    assert [path.name for path, _ in configs] == ["a_first.yaml"]
    (error,) = errors
    assert re.search(
        r"b_second\.yml, line 3, key source\.name: source name 'minimal' is already used by a_first\.yaml"
        r".*; got 'minimal'; allowed: a name that no other config file",
        str(error),
    ), str(error)


def test_missing_folder_is_an_error_not_silence(tmp_path: Path) -> None:
    configs, errors = load_all(tmp_path / "nope")
    assert configs == []
    (error,) = errors
    assert f"{tmp_path / 'nope'}: the pipeline config folder does not exist" in str(error)


def test_config_files_are_sorted_and_only_yaml(tmp_path: Path) -> None:
    for name in ("b.yml", "a.yaml", "c.yaml.bak", "d.json", ".hidden.txt"):
        (tmp_path / name).write_text("x: 1\n")
    (tmp_path / "dir.yaml").mkdir()
    assert [p.name for p in config_files(tmp_path)] == ["a.yaml", "b.yml"]


def test_pipelines_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PIPELINES_DIR_ENV, raising=False)
    assert pipelines_dir() == PROJECT_ROOT / "include" / "pipelines"

    monkeypatch.setenv(PIPELINES_DIR_ENV, str(tmp_path))
    assert pipelines_dir() == tmp_path
    shutil.copy(VALID / "daily.yaml", tmp_path / "daily.yaml")
    assert config_files() == [tmp_path / "daily.yaml"]
    configs, errors = load_all()
    assert ([c.source.name for _, c in configs], errors) == (["clicks"], [])

    # a relative folder is taken from the project root, not from the working directory
    monkeypatch.setenv(PIPELINES_DIR_ENV, "tests/fixtures/configs/valid")
    monkeypatch.chdir(tmp_path)
    assert pipelines_dir() == VALID
