# The two set-up commands of the README: `make demo` and `make test`. Everything installs from the lock.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__UNIT_TEST_MODE := False
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL := 10
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := False
export PYTHONDONTWRITEBYTECODE := 1
# OpenLineage: datasets of every sync, push and model task (etl/ops/lineage.py); emitted once a transport
# is set, e.g. AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "console"}' or an HTTP backend such as Marquez
export AIRFLOW__OPENLINEAGE__EXTRACTORS ?= etl.ops.lineage.EtlLineageExtractor
export ETL_TEST_PG_URL ?= postgresql://etl:etl@127.0.0.1:5432/etl_test

.PHONY: install demo test check bench ui clean

$(VENV)/.installed: uv.lock pyproject.toml examples/etl-example-plugin/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==$(UV_VERSION)
	# pyproject.toml is the one list of dependencies, uv.lock pins them; --inexact keeps uv itself
	$(VENV)/bin/uv sync -q --frozen --inexact --all-extras --compile-bytecode --python $(PY)
	touch $@

install: $(VENV)/.installed

## Run every sync DAG through Airflow against the demo sources, into warehouse.duckdb; print a summary.
demo: install
	$(PY) -m demo.run_demo

## The whole test suite: unit, integration (real servers, DuckDB, PostgreSQL, S3 via moto) and end-to-end
## (Airflow; the distributed test runs CeleryExecutor on the Redis that redis_up.sh installs and starts).
test: install
	bash scripts/postgres_up.sh
	bash scripts/redis_up.sh >/dev/null
	$(PY) -m pytest -q -p no:cacheprovider

## Lint, types and the fast tests, before committing.
check: install
	$(VENV)/bin/ruff check etl dags tests bench
	$(VENV)/bin/mypy etl
	$(PY) -m pytest -q tests/unit

bench: install
	bash scripts/postgres_up.sh
	$(PY) -m bench.run
	$(PY) -m bench.push
	$(PY) -m bench.airflow_runs

## The Airflow UI (api-server, then scheduler, dag-processor, triggerer) on http://localhost:8080; Ctrl-C stops it.
ui: install
	$(PY) -m demo.standalone

clean:
	rm -rf .airflow var warehouse.duckdb warehouse.duckdb.wal
