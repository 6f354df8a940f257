"""Airflow DAGs: dbt_setup and dbt_transform, silver and gold over the bronze lake, with Cosmos.
Wiring only; the factory reads the pipeline configs' YAML and the dbt manifest."""

from tributary.transform.factory import build_dbt_dags

globals().update(build_dbt_dags())
