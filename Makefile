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

.PHONY: venv demo test lint clean

venv: $(STAMP)

$(STAMP): requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==0.13.8
	$(VENV)/bin/uv pip install --quiet -p $(PY) -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv
	$(PY) scripts/demo.py

test: venv
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check plugins dags tests scripts
	$(VENV)/bin/ruff format --check plugins dags tests scripts

clean:
	rm -rf data .airflow
