# The two commands of the README: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint clean browser

$(BIN)/oms: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: $(BIN)/oms
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## Install, migrate and start OMS on the embedded default (SQLite + in-memory bus).
run: $(BIN)/oms
	$(BIN)/oms db upgrade
	$(BIN)/oms serve

## Install and run every test (ruff and the import-linter contracts run as tests too).
test: $(VENV)/.test-deps browser
	$(BIN)/pytest

## Headless Chromium and its driver for the browser tests (CORS); quick when installed.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -q && apt-get install -y -q chromium chromium-driver; }

## Benchmark OMS (embedded and broker mode) against this machine's ceilings: ~5 minutes.
bench: $(VENV)/.test-deps
	$(BIN)/oms bench

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
