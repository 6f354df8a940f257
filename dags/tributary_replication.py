"""Airflow DAGs: one replication DAG per pipeline config in include/pipelines
(or $TRIBUTARY_PIPELINES_DIR). Wiring only; the factory reads the YAML and nothing else."""

from tributary.factory import build_dags

globals().update(build_dags())
