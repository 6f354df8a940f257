# Astro Runtime 3.3-8 carries Airflow 3.3.2, the Airflow of requirements.lock
# (tests/test_astro_project.py keeps this tag and the lock together). Its Python is pinned rather
# than left to the runtime's default: 3.12, the oldest the 3.3 runtimes ship, for which every pin of
# requirements.txt has a manylinux wheel (dbt, DuckDB and its extensions included).
#
# The runtime's ONBUILD steps run first: packages.txt, then requirements.txt (the runtime keeps its
# own apache-airflow and apache-airflow-task-sdk, so neither is in that file), then the project
# folder minus .dockerignore is copied into /usr/local/airflow, owned by astro, and the build goes
# on as user astro.
FROM astrocrpublic.azurecr.io/runtime:3.3-8-python-3.12

ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    TRIBUTARY_PIPELINES_DIR=/usr/local/airflow/include/pipelines

# Cosmos renders the dbt DAGs from dbt's manifest (never `dbt ls` at parse time): build it into
# the image (`dbt parse` needs no network and no database).
RUN PYTHONPATH=/usr/local/airflow/plugins python -m tributary.transform.manifest

# `tributary` (the operator commands) as a command of the image: the project installed editable,
# so it runs plugins/ as `astro dev start` mounts it. No dependencies: requirements.txt has them.
RUN pip install --no-cache-dir --no-deps -e /usr/local/airflow

# The demo source, as `make demo` generates it for include/pipelines/pos.yaml (four months from
# 2025-01-01): `astro dev start` mounts dags/, plugins/ and include/, not data/, so the image
# carries its own data/pos.sqlite (the pos_db connection of airflow_settings.yaml). The tasks write
# the lake (data/lake) and the warehouse (data/warehouse.duckdb) there too, as user astro: root
# creates data/, astro owns it. The generator is scripts/demo_source, outside plugins/: a tool the
# build runs, not code Airflow loads.
USER root
RUN install -d -o astro -g 0 -m 0775 /usr/local/airflow/data
USER astro
RUN PYTHONPATH=/usr/local/airflow python -m scripts.demo_source \
        --out /usr/local/airflow/data/pos.sqlite --start 2025-01-01 --months 4
