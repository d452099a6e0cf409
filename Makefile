# hospiflow — two commands for a newcomer:
#   make demo   set up, build a year of history, run the hospital live, serve the dashboard
#   make test   set up, then lint and run the whole test suite
# Both bootstrap their own virtual environment in .venv.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/hospiflow demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup
	bash scripts/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/simulation.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/api.py
	$(BIN)/python benchmarks/dashboard.py
	$(BIN)/python benchmarks/forecast.py
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache
