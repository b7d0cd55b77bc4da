# CityFabric: `make run` starts the platform, `make test` runs lint, types and the suite.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# the dashboard: npm ci when the lock file changes, a build when its sources change
UI_DEPS := ui/node_modules/.ci-stamp
UI_STAMP := src/cityfabric/ui_dist/.built
UI_SOURCES := $(shell find ui/src -type f 2>/dev/null) ui/index.html ui/package.json ui/vite.config.ts ui/tsconfig.json

.PHONY: install run test lint format bench clean

install: $(STAMP) $(UI_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(UI_DEPS): ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund
	touch $(UI_DEPS)

$(UI_STAMP): $(UI_DEPS) $(UI_SOURCES)
	cd ui && npm run build
	touch $(UI_STAMP)

run: install
	$(BIN)/cityfabric run --demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

test: lint
	cd ui && npm test
	$(BIN)/pytest

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis ui/node_modules src/cityfabric/ui_dist
