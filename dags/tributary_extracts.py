"""Airflow DAG: `extracts`, every active extract of include/pipelines/extracts (or
$TRIBUTARY_EXTRACTS_DIR) as CSV, TSV or Parquet files. Wiring only; the factory reads the YAML."""

from tributary.extracts.dag import build_extract_dags

globals().update(build_extract_dags())
