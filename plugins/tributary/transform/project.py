"""Where the dbt project and its manifest are, and what dbt is told about the lake (the warehouse:
``tributary.hooks.warehouse``).

No Airflow and no I/O beyond the pipeline configs' YAML: the DAG factory calls this at parse time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tributary.config import PROJECT_ROOT, PipelineConfig

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt"
DBT_PROJECT_DIR_ENV = "TRIBUTARY_DBT_PROJECT_DIR"
MANIFEST_ENV = "TRIBUTARY_DBT_MANIFEST"
DBT_PROFILE_NAME = "tributary"
DBT_TARGET_NAME = "warehouse"

LAKES_VAR = "tributary_lakes"
LAYERS = ("silver", "gold")
"""The model layers (dbt tags), in build order; the setup DAG clears them in reverse."""


def dbt_project_dir() -> Path:
    """The dbt project: ``$TRIBUTARY_DBT_PROJECT_DIR`` or ``dbt/`` of this project."""
    return Path(os.environ.get(DBT_PROJECT_DIR_ENV) or DBT_PROJECT_DIR)


def manifest_path(project_dir: Path | None = None) -> Path:
    """The manifest Cosmos renders the DAGs from, written by ``make dbt-manifest`` (``dbt parse``)."""
    explicit = os.environ.get(MANIFEST_ENV)
    if explicit:
        return Path(explicit)
    return (project_dir or dbt_project_dir()) / "target" / "manifest.json"


@dataclass(frozen=True)
class Lake:
    """The lake of one source, as the dbt project needs it."""

    source: str
    url: str
    conn_id: str | None

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0] if "://" in self.url else "file"


def lakes_of(configs: list[PipelineConfig]) -> list[Lake]:
    """The lake of every source, sorted by source name."""
    return sorted(
        (Lake(c.source.name, c.lake.resolved_url(), c.lake.conn_id) for c in configs),
        key=lambda lake: lake.source,
    )


def dbt_vars(lakes: list[Lake]) -> dict[str, object]:
    """The ``--vars`` of every dbt command: the lake root of each source."""
    return {LAKES_VAR: {lake.source: lake.url for lake in lakes}}
