"""The parse test of `astro dev parse` and `astro deploy`: the Astro CLI runs this file with pytest
in the project's image. Every DAG file of dags/ imports, except those listed in
.astro/dag_integrity_exceptions.txt. Tributary's DAG files open no connection and read no Variable
at parse time, so nothing is mocked here; the full DAG-integrity suite is tests/test_dag_integrity.py.
"""

from __future__ import annotations

from pathlib import Path

from airflow.dag_processing.dagbag import DagBag

PROJECT = Path(__file__).resolve().parents[1]
EXCEPTIONS = PROJECT / ".astro" / "dag_integrity_exceptions.txt"


def _exempt() -> set[str]:
    if not EXCEPTIONS.exists():
        return set()
    lines = (line.strip() for line in EXCEPTIONS.read_text(encoding="utf-8").splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def test_dag_files_import() -> None:
    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    errors = {
        Path(path).resolve().relative_to(PROJECT).as_posix(): error
        for path, error in bag.import_errors.items()
    }
    failing = {path: error for path, error in errors.items() if path not in _exempt()}
    assert not failing, "\n\n".join(f"{path}:\n{error}" for path, error in sorted(failing.items()))
    assert bag.dags, "no DAG in dags/"
