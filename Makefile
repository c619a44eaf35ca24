# cams-server: `make run` starts the server on the embedded default; `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime

.PHONY: run test lint contracts typecheck unit node-deps browser-deps bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `make run` installs what running needs; `make test` adds the test extras (the official
# SDKs, Playwright, mypy, ruff, import-linter).
$(RUNTIME): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUNTIME)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(RUNTIME) $(STAMP)

run: $(RUNTIME)
	$(BIN)/cams-server serve

node-deps: tests/sdk/node/node_modules/.installed

tests/sdk/node/node_modules/.installed: tests/sdk/node/package.json tests/sdk/node/package-lock.json
	cd tests/sdk/node && npm ci --silent --no-audit --no-fund
	touch $@

# Debian's Chromium for the Explorer's browser tests (Playwright never downloads one).
browser-deps:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei)

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard bench)
	$(BIN)/ruff format --check src tests $(wildcard bench)

# The layers of ARCHITECTURE.md, as import-linter contracts in pyproject.toml.
contracts: $(STAMP)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: $(STAMP) node-deps browser-deps lint contracts typecheck unit

# Benchmarks (needs wrk; PostgreSQL and Redis for the pg configurations): see bench/README.md.
bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/roi_statistics.py

clean:
	rm -rf $(VENV) tests/sdk/node/node_modules
