"""Build the dbt manifest the dbt DAGs are rendered from: ``python -m tributary.transform.manifest``.

``make dbt-manifest`` runs this (``make demo`` and ``make test`` depend on it): ``dbt parse`` with a
throwaway in-memory profile, since parsing needs the adapter type and nothing else. Airflow's DAG
parsing then only reads ``dbt/target/manifest.json``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from tributary.transform.project import DBT_PROFILE_NAME, DBT_TARGET_NAME, dbt_project_dir, manifest_path

_PARSE_PROFILE = f"""{DBT_PROFILE_NAME}:
  target: {DBT_TARGET_NAME}
  outputs:
    {DBT_TARGET_NAME}:
      type: duckdb
      path: ":memory:"
"""


def build_manifest(project_dir: Path | None = None) -> Path:
    """Run ``dbt parse`` in the project; return the manifest's path. Raises ``RuntimeError``."""
    from dbt.cli.main import dbtRunner

    project_dir = project_dir or dbt_project_dir()
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    with tempfile.TemporaryDirectory(prefix="tributary-dbt-profile-") as profiles:
        (Path(profiles) / "profiles.yml").write_text(_PARSE_PROFILE, encoding="utf-8")
        result = dbtRunner().invoke(
            ["parse", "--project-dir", str(project_dir), "--profiles-dir", profiles, "--quiet"]
        )
    if not result.success:
        raise RuntimeError(f"dbt parse failed in {project_dir}: {result.exception or 'see the output above'}")
    return manifest_path(project_dir)


def main() -> int:
    started = time.perf_counter()
    try:
        path = build_manifest()
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"dbt manifest: {path} ({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
