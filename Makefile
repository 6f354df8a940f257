# Two commands do all the set-up: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock | sha1sum | cut -c1-12)

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)

.PHONY: venv demo test lint clean airflow

venv: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==0.13.8
	$(VENV)/bin/uv pip install --quiet --compile-bytecode -p $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --no-deps -p $(PY) -e .
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv dbt-manifest
	$(PY) scripts/demo.py

# scripts/install_chromium.sh: Debian's chromium for the Lake view's browser tests, if missing.
test: venv dbt-manifest
	@bash scripts/install_chromium.sh
	$(PY) -m pytest

# A local Airflow 3 on this project, in the foreground (scripts/local_airflow.py): API server and
# UI, scheduler, DAG processor, triggerer, over a PostgreSQL metadata database it starts and
# stops; Ctrl-C stops them all. Its home is .airflow/local (AIRFLOW_ARGS="--port 8080" for a port).
airflow: venv dbt-manifest
	$(PY) scripts/local_airflow.py $(AIRFLOW_ARGS)

# The dbt manifest the dbt DAGs are rendered from (Cosmos LoadMode.DBT_MANIFEST): `dbt parse`,
# again whenever a file of the dbt project changes.
.PHONY: dbt-manifest
DBT_MANIFEST := dbt/target/manifest.json
DBT_SOURCES := $(shell find dbt -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) \
	-not -path 'dbt/target/*' -not -path 'dbt/logs/*' -not -path 'dbt/dbt_packages/*')

dbt-manifest: $(DBT_MANIFEST)

$(DBT_MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(PY) -m tributary.transform.manifest

# The extraction benchmark (bench/README.md): a throwaway PostgreSQL, 5,000,000 rows, every
# method measured in one run, ~15 minutes. Options go in BENCH_ARGS, e.g. BENCH_ARGS="--rows 500000".
.PHONY: bench
bench: venv
	$(PY) bench/run.py $(BENCH_ARGS)

# The orchestrated backfill (bench/README.md, "Backfill benchmark"): 50 tables x 3 months (15M rows)
# through a real scheduler (LocalExecutor, parallelism 4) against Tributary's functions called in
# one process. BACKFILL_ARGS="--scale 0.1 --tables 10" for a quick run.
.PHONY: bench-backfill
bench-backfill: venv dbt-manifest
	$(PY) bench/backfill.py $(BACKFILL_ARGS)

# mypy's files and settings are in pyproject.toml: the package and the DAG files, the core strict.
lint: venv
	$(VENV)/bin/ruff check plugins dags tests scripts bench
	$(VENV)/bin/ruff format --check plugins dags tests scripts bench
	$(VENV)/bin/mypy

clean:
	rm -rf data .airflow
