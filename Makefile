# make study: the seed study (six runs) into results/.  make test: lint, types, the suite.
# Both bootstrap .venv from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: study test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/servelab study --out results

lint: $(STAMP)
	$(BIN)/ruff check src tests test
	$(BIN)/ruff format --check src tests test
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) results .mypy_cache .pytest_cache .ruff_cache
