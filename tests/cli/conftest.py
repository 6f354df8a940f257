"""A lake replicated from the demo source by Tributary's own extract, verify and commit (the
dbt tests' ``build_lake``), for the commands that read the lake."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.transform.conftest import build_lake


@pytest.fixture(scope="module")
def built_lake(tmp_path_factory: pytest.TempPathFactory, demo_sqlite: Path) -> Path:
    folder = tmp_path_factory.mktemp("cli_lake")
    build_lake(demo_sqlite, folder)
    return folder


@pytest.fixture
def lake_copy(built_lake: Path, tmp_path: Path) -> Path:
    """A copy of the built lake a test may change: its folder (``pipelines/``, ``lake/``); the
    config's lake URL points at the copy."""
    shutil.copytree(built_lake, tmp_path, dirs_exist_ok=True)
    config = tmp_path / "pipelines" / "pos.yaml"
    config.write_text(
        config.read_text().replace((built_lake / "lake").as_uri(), (tmp_path / "lake").as_uri())
    )
    return tmp_path
