"""File-source configs: what loads, and the message a user reads when a file source, a table,
a contract (inline or in a schema file) or a check is wrong."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tributary.config import FilesPipelineConfig, FileTableConfig, PipelineConfig, TableConfig, load_config
from tributary.errors import ConfigError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "files"

HEAD = (
    "source: {name: shop, type: files, url: landing}\n"
    "lake: {url: data/lake}\n"
    "start_date: 2025-01-01\n"
    "tables:\n"
)
TABLE = (
    "  - name: orders\n"
    "    glob: 'orders/*.csv'\n"
    "    format: csv\n"
    "    contract: {columns: [{name: id, type: int64}, {name: at, type: timestamp}]}\n"
)


def test_the_example_file_source_loads_with_its_schema_file() -> None:
    config = load_config(FIXTURES / "shop.yaml")
    assert isinstance(config, FilesPipelineConfig)
    assert config.dag_id == "replicate_shop" and config.pool == "source_shop"
    orders, clicks, rates = config.tables
    assert orders.contract.names == ["id", "customer", "amount", "status", "ordered_at"]
    assert orders.contract.primary_key == ["id"]
    assert orders.options.delimiter == ";" and orders.quarantine == "quarantine"
    assert [c.kind for c in orders.checks] == [
        "not_null",
        "unique",
        "accepted_values",
        "row_count",
        "freshness",
    ]
    assert clicks.format.value == "jsonl" and clicks.on_violation.value == "warn"
    assert rates.contract.columns[1].type == "decimal(12,6)"
    # what the factory hands to the operators round-trips
    dumped = orders.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert FileTableConfig.model_validate(dumped) == orders


def test_database_tables_take_checks_and_database_configs_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "pos.yaml"
    path.write_text(
        "source: {name: pos, conn_id: pos_db}\nlake: {url: data/lake}\nstart_date: 2025-01-01\n"
        "tables:\n  - name: sales\n    mode: full\n    checks:\n      - unique: [id]\n"
        "      - accepted_values: {column: kind, values: [a, 1, true]}\n"
    )
    config = load_config(path)
    assert type(config) is PipelineConfig and isinstance(config.tables[0], TableConfig)
    assert [c.describe() for c in config.tables[0].checks] == [
        "unique(id)",
        "accepted_values(kind: a, 1, True)",
    ]
    assert "type" not in config.source.model_dump()


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "shop.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD.replace("type: files", "type: filez") + TABLE,
            "shop.yaml, line 1, key source.type: not one of the allowed values (did you mean 'files'?); "
            "got 'filez'; allowed: database, files",
        ),
        (
            HEAD.replace("url: landing", "url: 'ftp://x/y'") + TABLE,
            "shop.yaml, line 1, key source.url: landing scheme 'ftp' is not supported; got 'ftp://x/y'",
        ),
        (
            HEAD + TABLE.replace("format: csv", "format: xml"),
            "shop.yaml, line 7, key tables[0].format: not one of the allowed values; got 'xml'; "
            "allowed: csv, tsv, jsonl, parquet",
        ),
        (
            HEAD + TABLE.replace("'orders/*.csv'", "'../orders/*.csv'"),
            "shop.yaml, line 6, key tables[0].glob: glob is relative to source.url; got '../orders/*.csv'",
        ),
        (
            HEAD + TABLE.replace("type: int64", "type: integer"),
            "shop.yaml, line 8, key tables[0].contract.columns[0].type: not a known column type; "
            "got 'integer'; allowed: string, int8",
        ),
        (
            HEAD + TABLE.replace("{name: id, type: int64}", "{name: id}"),
            "shop.yaml, line 8, key tables[0].contract.columns[0].type: required key is missing",
        ),
        (
            HEAD + TABLE + "    options: {delimiter: ';;'}\n",
            "shop.yaml, line 9, key tables[0].options.delimiter: too long; got ';;'; allowed: one character",
        ),
        (
            HEAD + TABLE.replace("format: csv", "format: parquet") + "    options: {header: false}\n",
            "shop.yaml, line 9, key tables[0].options.header: format 'parquet' is self-describing and "
            "takes no options",
        ),
        (
            HEAD + TABLE + "    on_violation: ignore\n",
            "shop.yaml, line 9, key tables[0].on_violation: not one of the allowed values; got 'ignore'; "
            "allowed: fail, warn",
        ),
        (
            HEAD + TABLE + "    checks:\n      - {not_null: [id], unique: [id]}\n",
            "shop.yaml, line 10, key tables[0].checks[0]: a check is a list item with exactly one key; "
            "got not_null, unique; allowed: one of not_null, unique, accepted_values, row_count, freshness",
        ),
        (
            HEAD + TABLE + "    checks:\n      - uniq: [id]\n",
            "shop.yaml, line 10, key tables[0].checks[0].uniq: unknown key (did you mean 'unique'?)",
        ),
        (
            HEAD + TABLE + "    checks:\n      - not_null: [idd]\n",
            "shop.yaml, line 10, key tables[0].checks[0].not_null: check not_null names column 'idd', "
            "which is not in the contract; got 'idd'; allowed: id, at, _batch_id",
        ),
        (
            HEAD + TABLE + "    checks:\n      - row_count: {min: 10, max: 1}\n",
            "shop.yaml, line 10, key tables[0].checks[0].row_count.min: row_count min is above max",
        ),
        (
            HEAD + TABLE + "    checks:\n      - freshness: {column: at, max_age: soon}\n",
            "shop.yaml, line 10, key tables[0].checks[0].freshness.max_age: 'soon' is not a duration",
        ),
        (
            HEAD + TABLE.replace("contract: {", "contract: {primary_key: [nope], "),
            "shop.yaml, line 8, key tables[0].contract.primary_key[0]: primary key column 'nope' is not a "
            "column of the contract; got 'nope'; allowed: id, at",
        ),
    ],
    ids=[
        "source-type",
        "landing-scheme",
        "format",
        "glob-outside",
        "column-type",
        "column-without-type",
        "delimiter",
        "parquet-options",
        "policy",
        "check-two-keys",
        "check-unknown",
        "check-column",
        "row-count-bounds",
        "freshness-duration",
        "primary-key",
    ],
)
def test_file_source_mistakes_name_file_line_key_and_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = _error(tmp_path, text)
    assert expected in message, message
    assert "Input should be" not in message and "Value error" not in message


def test_schema_file_errors_name_the_schema_file_and_its_line(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)
    schema = tmp_path / "schemas" / "orders.yaml"
    schema.write_text(schema.read_text().replace("type: string}", "type: text}", 1))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "shop.yaml")
    message = str(caught.value)
    assert message.splitlines()[0] == f"{schema}: invalid schema file (1 error)"
    assert re.search(
        r"orders\.yaml, line 4, key columns\[1\]\.type: not a known column type; got 'text'", message
    )
    assert "(the contract of shop.yaml, key tables[0].contract)" in message


def test_a_missing_schema_file_names_the_config_line(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        HEAD
        + TABLE.replace(
            "contract: {columns: [{name: id, type: int64}, {name: at, type: timestamp}]}",
            "contract: nope.yaml",
        ),
    )
    assert "shop.yaml, line 8, key tables[0].contract: " in message
    assert "nope.yaml: cannot read the schema file" in message
    assert "allowed: the path of a schema YAML file, relative to this config file" in message
