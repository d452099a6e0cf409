# hospiflow — two commands for a newcomer:
#   make demo   set up, build a year of history, run the hospital live, serve the dashboard
#   make test   set up, then lint and run the whole test suite
# Both bootstrap their own virtual environment in .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
# Exact versions with hashes (uv pip compile, from PyPI): a fresh machine gets
# the versions that passed. Runtime for the demo, runtime + dev for the tests.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: setup demo test lint bench clean lock check-lock

$(STAMP): pyproject.toml $(LOCK)
	@echo "Installing hospiflow and its locked dependencies into $(VENV)..."
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes --no-deps -r $(LOCK)
	$(PIP) --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) $(DEV_LOCK)
	@echo "Installing the locked test tools into $(VENV)..."
	$(PIP) --require-hashes --no-deps -r $(DEV_LOCK)
	touch $(DEV_STAMP)

setup: $(DEV_STAMP)

PORT ?= 8000

demo: $(STAMP)
	$(BIN)/hospiflow demo --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup
	bash scripts/check-lock.sh
	bash scripts/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/simulation.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/forecast.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/startup.py

lock: setup
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 --universal -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 --universal -o $(DEV_LOCK)

check-lock: setup
	bash scripts/check-lock.sh

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache
