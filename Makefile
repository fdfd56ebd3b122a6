# trio_realtime developer commands. Everything installs into .venv from this
# project's own files, so a fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINT_PATHS := trio_realtime tests $(wildcard benchmarks examples)

.PHONY: help install test lint bench demo docs clean

help:
	@echo "make demo   - a spoken conversation with the embedded fake server (both providers)"
	@echo "make test   - set up .venv and run the test suite"
	@echo "make docs   - build the documentation site (mkdocs --strict) into site/"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make bench  - CPU benchmarks against a bare trio-websocket loop"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	cd examples && ../$(BIN)/mypy --strict .

demo: $(STAMP)
	$(BIN)/trio-realtime demo

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache site
