# The two commands: `make run` (try the product) and `make test` (the whole suite, as CI runs it).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
UV_VERSION := 0.13.9

.PHONY: run test install lint typecheck bench bench-pipeline services clean

$(VENV)/.installed: requirements/dev.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	@$(VENV)/bin/uv pip sync --quiet --python $(PY) requirements/dev.txt
	@touch $@

install: $(VENV)/.installed

## run: install, migrate, seed the demo merchant and serve on 127.0.0.1:$(PORT)
run: install
	@PORT=$(PORT) scripts/run

## test: ruff, mypy and the whole pytest suite on the real PostgreSQL and Redis
test: install
	@scripts/test

lint: install
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

typecheck: install
	@$(VENV)/bin/mypy .

## bench: load-test named scenarios against the bare-stack baseline (see bench/README.md)
bench: install
	@$(PY) bench/run.py $(BENCH_ARGS)

## bench-pipeline: end-to-end reward pipeline throughput vs a bare Celery task
bench-pipeline: install
	@$(PY) bench/pipeline.py $(BENCH_ARGS)

services:
	@scripts/services-up

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
