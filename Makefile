PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/seedrun validate examples/quickstart.yaml
	$(BIN)/seedrun plan examples/quickstart.yaml
	$(BIN)/seedrun apply examples/quickstart.yaml --sim
	$(BIN)/seedrun plan examples/quickstart.yaml
	@echo "report: examples/quickstart.report.html (open it in a browser)"
	@echo "seedrun is installed in $(BIN): run '. $(BIN)/activate' to put it on your PATH"

lint: $(VENV)/.installed-test
	$(BIN)/ruff check seedrun tests bench
	$(BIN)/mypy

unit: $(VENV)/.installed-test
	$(BIN)/python -m pytest

test: lint unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
