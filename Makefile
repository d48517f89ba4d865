# DriveSync — the two commands of the README:
#   make run    fresh machine → running server with the demo school on embedded SQLite
#   make test   install everything, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DS := $(VENV)/bin/drivesync
# `make run` listens where DRIVESYNC_HOST / DRIVESYNC_PORT say (as `drivesync serve` does),
# or HOST= / PORT= on the command line; 127.0.0.1:8080 otherwise.
HOST ?= $(or $(DRIVESYNC_HOST),127.0.0.1)
PORT ?= $(or $(DRIVESYNC_PORT),8080)

.PHONY: run install browser lint test test-fast clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(DS) migrate
	$(DS) seed-demo
	DRIVESYNC_RUN_DISPATCHER=$${DRIVESYNC_RUN_DISPATCHER:-true} $(DS) serve --host $(HOST) --port $(PORT)

# Debian's Chromium for the PWA's browser tests (never a downloaded browser build).
browser:
	./scripts/install-browser.sh

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy schemas sync workers server
	$(VENV)/bin/lint-imports

# The suite in three runs: the tests that do not measure time on both cores (pytest-xdist,
# each worker with its own template databases), then the ones that measure latency or speed
# (marker `timing`) alone, then the browser tests in their own process (Playwright's sync
# API keeps an event loop on the main thread, which the asyncio tests cannot share).
TEST_WORKERS ?= 2
test: install browser lint
	$(VENV)/bin/pytest -q -p no:cacheprovider --ignore=tests/e2e -m "not timing" -n $(TEST_WORKERS)
	$(VENV)/bin/pytest -q -p no:cacheprovider --ignore=tests/e2e -m timing
	$(VENV)/bin/pytest -q -p no:cacheprovider tests/e2e

# Without the browser tests and linters, for a quick loop while editing.
test-fast: install
	$(VENV)/bin/pytest -q -x --ignore=tests/e2e

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache test-artifacts
