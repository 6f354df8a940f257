"""dbt on the bronze lake: silver and gold models built with dbt-duckdb, run by Airflow through Cosmos.

The core here needs no Airflow: where the dbt project and its manifest are (``project``), reading
dbt's run results into a report (``results``), DuckDB's lock errors made readable (``locks``). The
Airflow adapters sit on top: the Cosmos profile mapping (``profile``), the callback that keeps each
dbt task's run results (``callbacks``), the report operator (``report``) and the DAG factory
(``factory``).
"""

from __future__ import annotations
