# make study: the seed study (six runs, four critical-n searches) and its report in results/.
# make test: lint, types, the suite (installs Debian's Chromium for the report's browser test).
# Both bootstrap .venv from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: study test lint browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

study: $(STAMP)
	$(BIN)/servelab study --out results --lang all --memory-budget auto

lint: $(STAMP)
	$(BIN)/ruff check src tests test
	$(BIN)/ruff format --check src tests test
	$(BIN)/mypy

browser:
	scripts/install-browser

test: lint browser
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) results .mypy_cache .pytest_cache .ruff_cache
