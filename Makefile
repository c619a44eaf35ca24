# cams-server: `make run` starts the server on the embedded default; `make test` runs everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUNTIME := $(VENV)/.runtime

.PHONY: run test lint contracts typecheck unit release test-release node-deps browser-deps bench clean

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
	$(BIN)/ruff check src tests $(wildcard bench) setup.py build_backend
	$(BIN)/ruff format --check src tests $(wildcard bench) setup.py build_backend

# The layers of ARCHITECTURE.md, as import-linter contracts in pyproject.toml.
contracts: $(STAMP)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

# The release build compiles (one core) while the suite runs on the source; then the tests
# that drive the request path over HTTP run again against it.
test: $(STAMP) node-deps browser-deps lint contracts typecheck
	$(MAKE) --no-print-directory -j2 unit release
	$(MAKE) --no-print-directory test-release

# The release build: the request path compiled with mypyc (setup.py lists the modules), the
# wheel `CAMS_SERVER_COMPILE=1 pip install .` makes, installed into $(RELEASE) apart from the
# editable install (PYTHONPATH=$(RELEASE) puts it first). Rebuilt whenever a source changes.
RELEASE := build/release
SOURCES := $(shell find src -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*') \
	setup.py build_backend/cams_build.py pyproject.toml

$(RELEASE)/.built: $(STAMP) $(SOURCES)
	rm -rf build
	CAMS_SERVER_COMPILE=1 $(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir build/wheel .
	$(BIN)/python -m pip install --quiet --no-deps --target $(RELEASE) build/wheel/cams_server-*.whl
	touch $@

release: $(RELEASE)/.built

# The tests of the request path (the official SDKs and raw sockets over HTTP, the gateway,
# the wire) against the release build: mypyc checks declared types at run time, so a type
# a stub gets wrong fails there and not in the source build.
RELEASE_TESTS ?= tests/sdk tests/gateway tests/wire tests/test_release_build.py

test-release: $(RELEASE)/.built node-deps
	PYTHONPATH=$(RELEASE) $(BIN)/pytest $(RELEASE_TESTS)

# Benchmarks (needs wrk; PostgreSQL and Redis for the pg configurations): see bench/README.md.
# The release build is measured, and the source build beside it.
bench: $(STAMP) $(RELEASE)/.built
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py --release $(RELEASE) $(BENCH_ARGS)
	$(BIN)/python bench/roi_statistics.py

clean:
	rm -rf $(VENV) build tests/sdk/node/node_modules
