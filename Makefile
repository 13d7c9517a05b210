# Casebridge — `make run` starts the whole stack, `make test` runs the tests. `make help` lists all.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv browser run test lint bench clean

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

# Headless Chromium for tests/web: Debian's package where apt-get works (as root, or with sudo), else
# Playwright's own build. Without either the browser tests skip locally and fail in CI (CI=true).
CHROMIUM := /usr/bin/chromium
browser: venv ## install headless Chromium for the browser tests (Debian's chromium, else Playwright's)
	@if [ ! -x $(CHROMIUM) ] && command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else SUDO=none; fi; \
		if [ "$$SUDO" != none ]; then \
			echo "installing Debian's chromium for the browser tests"; \
			$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei >/dev/null 2>&1 \
			|| { $$SUDO apt-get update -q >/dev/null 2>&1 && \
			     $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium fonts-wqy-microhei >/dev/null; } \
			|| echo "apt-get could not install chromium"; \
		fi; \
	fi; \
	if [ ! -x $(CHROMIUM) ]; then \
		$(BIN)/python -m playwright install chromium || echo "no Chromium: the browser tests will skip (and fail in CI)"; \
	fi

run: venv ## start PostgreSQL, Temporal, worker, API and web UI in the foreground (Ctrl-C stops)
	$(BIN)/python -m casebridge.devstack

test: venv browser ## run the tests (e.g. make test PYTEST_ARGS='tests/domain -x')
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
