# Every target installs what it needs into .venv from pyproject.toml first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint notebooks schema clean

demo: $(STAMP)
	$(BIN)/opskit demo

test: $(STAMP) lint
	scripts/ensure-postgres.sh
	scripts/ensure-chromium.sh
	PYTHON=$(PYTHON) scripts/ensure-airflow.sh
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check opskit tests scripts benchmarks conftest.py
	$(BIN)/ruff format --check opskit tests scripts benchmarks conftest.py
	$(BIN)/mypy

notebooks: $(STAMP)
	$(BIN)/python scripts/refresh_notebooks.py

schema: $(STAMP)
	$(BIN)/python -c "import json; from opskit.records import record_schema; \
	print(json.dumps(record_schema(), indent=2, sort_keys=True))" \
	> opskit/schemas/record-v1.schema.json

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
