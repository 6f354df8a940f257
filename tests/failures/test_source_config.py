"""The source keys of issue #6: the read-replica guard, SQL Server's application intent, and the
retries a transient failure gets (with the factory's exponential backoff)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tributary.config import load_config
from tributary.errors import ConfigError
from tributary.factory import build_dag

BASE = (
    "lake: {{url: /tmp/lake}}\nstart_date: 2025-01-01\n"
    "tables:\n  - {{name: t, mode: full}}\nsource: {source}\n"
)


def config_file(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "pos.yaml"
    path.write_text(BASE.format(source=source))
    return path


def test_defaults(tmp_path: Path) -> None:
    source = load_config(config_file(tmp_path, "{name: pos, conn_id: pos_db}")).source
    assert (source.require_read_replica, source.application_intent) == (False, None)
    assert (source.retries, source.retry_delay_seconds) == (3, 60)


def test_guard_and_intent(tmp_path: Path) -> None:
    source = load_config(
        config_file(
            tmp_path, "{name: pos, conn_id: pos_db, require_read_replica: true, application_intent: ReadOnly}"
        )
    ).source
    assert source.require_read_replica is True and source.application_intent == "ReadOnly"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "{name: pos, conn_id: x, require_read_replica: maybe}",
            r"key source\.require_read_replica: not true or false; got 'maybe'; allowed: true or false",
        ),
        (
            "{name: pos, conn_id: x, application_intent: readonly}",
            r"key source\.application_intent: not one of the allowed values; got 'readonly'; "
            r"allowed: ReadOnly or ReadWrite, for SQL Server sources only",
        ),
        ("{name: pos, conn_id: x, require_replica: true}", r"source\.require_replica"),
    ],
)
def test_invalid_values_name_the_key_and_the_choices(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(config_file(tmp_path, source))


def test_retries_and_backoff_reach_every_task(tmp_path: Path) -> None:
    path = config_file(tmp_path, "{name: pos, conn_id: pos_db, retries: 5, retry_delay_seconds: 30}")
    dag = build_dag(load_config(path), path)
    extract = dag.get_task("t.extract")
    assert extract.retries == 5
    assert extract.retry_delay == dt.timedelta(seconds=30)
    assert extract.retry_exponential_backoff, "30 s, then about 1, 2, 4, 8 min"
    assert extract.max_retry_delay == dt.timedelta(hours=1)
    assert dag.get_task("t.commit").retries == 0, "commit touches no source"
