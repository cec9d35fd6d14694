# coverctl developer tasks. `make demo` and `make test` are the two commands in the README.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_HOME ?= $(CURDIR)/.coverctl-demo

.PHONY: demo test lint format bench services install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"

## Set up and run the main job offline on the bundled example (no keys, no network).
demo: install
	COVERCTL_HOME=$(DEMO_HOME) $(BIN)/coverctl batch examples/movies.csv --out out/movies.jsonl
	@echo "wrote out/movies.jsonl"

## Set up and run the whole test suite (lint, types, tests with real SQLite, Azurite, PostgreSQL, Redis, Chromium).
test: install-dev services lint
	bash scripts/run-tests.sh

## PostgreSQL, Redis, Azurite and Chromium for the tests. Outside CI a failed install is a warning (those
## tests then skip, naming the fix); under CI (CI set) it stops the run.
services:
	bash scripts/services.sh || { [ -z "$$CI" ] && echo "make: services not installed; their tests will be skipped" >&2; }
	bash scripts/install-browser.sh || { [ -z "$$CI" ] && echo "make: browser not installed; its tests will be skipped" >&2; }

lint: install-dev
	$(BIN)/ruff check coverctl tests scripts
	$(BIN)/ruff format --check coverctl tests scripts
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix coverctl tests scripts
	$(BIN)/ruff format coverctl tests scripts

bench: install-dev
	$(BIN)/python scripts/bench_cli.py
	$(BIN)/python scripts/bench_batch.py
	$(BIN)/python scripts/bench_images.py
	$(BIN)/python scripts/bench_dead_links.py
	$(BIN)/python scripts/bench_maintenance.py
	$(BIN)/python scripts/bench_accuracy.py

clean:
	rm -rf $(VENV) out $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache node_modules
