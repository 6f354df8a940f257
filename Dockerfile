# Astro Runtime for Airflow 3 (the runtime's Airflow must match requirements.txt: 3.3.x).
# `astro dev start` builds this image: the runtime installs requirements.txt and packages.txt,
# and copies dags/, plugins/ and include/ into /usr/local/airflow.
FROM astrocrpublic.azurecr.io/runtime:3.3-2

ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    TRIBUTARY_PIPELINES_DIR=/usr/local/airflow/include/pipelines

# Cosmos renders the dbt DAGs from dbt's manifest (never `dbt ls` at parse time): build it into
# the image (`dbt parse` needs no network and no database).
RUN PYTHONPATH=/usr/local/airflow/plugins python -m tributary.transform.manifest
