# Casebridge — `make run` starts the whole stack, `make test` runs the tests. `make help` lists all.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench clean

help: ## list the targets
	@echo "Casebridge targets (Python: PYTHON=$(PYTHON); extra pytest flags: PYTEST_ARGS=...):"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-6s %s\n", $$1, $$2}'

venv: $(STAMP) ## create .venv and install casebridge with its dev tools (again when pyproject.toml changes)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Casebridge needs Python 3.11 or newer; run e.g. make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

run: venv ## start PostgreSQL, Temporal, worker, API and web UI in the foreground (Ctrl-C stops)
	$(BIN)/python -m casebridge.devstack

test: venv ## run the tests (e.g. make test PYTEST_ARGS='tests/domain -x')
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: venv ## ruff and mypy (strict on domain, workflows, activities, api)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: venv ## run the benchmarks and print their figures
	@if [ -f bench/run_all.py ]; then $(BIN)/python bench/run_all.py; \
	else echo "no benchmarks yet (bench/run_all.py is missing)"; fi

clean: ## remove .venv and caches (keeps .data, the embedded servers' data)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache test-output *.egg-info
	find . -name __pycache__ -type d -not -path './.data/*' -prune -exec rm -rf {} +
