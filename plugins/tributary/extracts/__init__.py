"""Extract generation: config-driven CSV, TSV and Parquet files out of the warehouse (or any
supported source database), every active extract in one run of the ``extracts`` DAG."""
