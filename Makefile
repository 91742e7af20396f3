# The two commands of the README: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint clean chromium lock

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
test: $(VENV)/.test-deps chromium
	$(BIN)/pytest


## Benchmark OMS (embedded and broker mode) against this machine's ceilings: ~5 minutes.
bench: $(VENV)/.test-deps
	$(BIN)/python -m benchmarks

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

## The browser tests (the console, CORS) drive Debian's headless Chromium: installed when missing.
chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

## Re-pin the runtime dependencies (and the build's) with hashes into requirements.lock,
## which the container installs with --require-hashes. Run after changing setup.cfg.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet pip-tools==7.6.2
	.venv-lock/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
		--no-emit-index-url --no-emit-find-links \
		--build-deps-for=wheel --no-header --annotation-style=line \
		-o requirements.lock pyproject.toml
