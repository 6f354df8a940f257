"""Where Tributary opens what it connects to: the sources (``sources``), the lake (``lake``) and
the DuckDB warehouse (``warehouse``), each from its Airflow connection.

The one place that looks connections up and builds the providers' hooks; operators, sensors,
triggers and the extracts take a ``*_conn_id`` and call these. Importing this package imports no
Airflow: each module imports it where it opens something.
"""
