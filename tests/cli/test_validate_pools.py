"""``tributary validate`` and ``tributary pools``: the configs' errors as the DAG import words them,
and the pools as ``airflow pools import`` reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tributary.cli import build_parser, main
from tributary.config import load_all
from tributary.hooks.warehouse import POOL

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "configs"


def test_valid_folder_exits_0_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(FIXTURES / "valid")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: 5 pipeline config(s)")


def test_every_invalid_fixture_is_reported_as_the_dag_import_words_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(FIXTURES / "invalid")]) == 1
    err = capsys.readouterr().err
    _, errors = load_all(FIXTURES / "invalid")
    assert len(errors) == len(list((FIXTURES / "invalid").glob("*.yaml")))
    for error in errors:
        assert str(error) in err
    assert "bad_mode.yaml, line" in err
    assert f"{len(errors)} file(s) with errors" in err


def test_a_broken_extracts_file_fails_validation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pos.yaml").write_text((FIXTURES / "valid" / "minimal.yaml").read_text())
    (tmp_path / "extracts").mkdir()
    (tmp_path / "extracts" / "daily.yaml").write_text("extracts: 5\n")
    assert main(["validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "daily.yaml: invalid extract definitions (1 error)" in err
    assert "key extracts: not a list" in err


def test_a_missing_folder_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tmp_path / "nowhere")]) == 1
    assert "the pipeline config folder does not exist" in capsys.readouterr().err


def test_pools_are_airflow_pools_import_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pools", str(FIXTURES / "valid")]) == 0
    pools = json.loads(capsys.readouterr().out)
    configs, _ = load_all(FIXTURES / "valid")
    expected = {config.pool: config.source.max_connections for _, config in configs} | {POOL: 1}
    assert {name: pool["slots"] for name, pool in pools.items()} == expected
    assert any(slots != 2 for slots in expected.values())  # a fixture with its own max_connections
    for pool in pools.values():
        assert set(pool) == {"slots", "description", "include_deferred"}
        assert pool["include_deferred"] is False and pool["description"]


def test_every_subcommand_has_help_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("validate", "pools", "discover", "sample", "status"):
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args([command, "--help"])
        assert exit_.value.code == 0
        assert f"examples:\n  tributary {command}" in capsys.readouterr().out


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tributary.cli", "validate", str(FIXTURES / "invalid")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "duplicate_table.yaml" in done.stderr


def test_the_tributary_console_command_runs_outside_the_project(tmp_path: Path) -> None:
    """`make venv` installs the project, so `tributary` is a command of the venv: it runs from any
    folder, without PYTHONPATH, as a user types it."""
    command = Path(sys.executable).parent / "tributary"
    assert command.exists(), f"{command} is missing: `make venv` installs the project with -e ."
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(command), "validate", str(FIXTURES / "invalid")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "duplicate_table.yaml" in done.stderr
