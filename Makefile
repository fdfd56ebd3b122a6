# trio_realtime developer commands. Everything installs into .venv from this
# project's own files, so a fresh machine needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Two installs: the package alone is enough for `make demo` (quick); everything
# else needs the dev extra (test tools, the official SDKs the tests compare
# against, docs and lint tools). Installing dev also satisfies the demo.
BASE_STAMP := $(VENV)/.installed-base
STAMP := $(VENV)/.installed
LINT_PATHS := trio_realtime tests $(wildcard benchmarks examples tools)

.PHONY: help install test test-slow lint bench demo docs clean

help:
	@echo "make demo   - install the package into .venv, then a spoken conversation with the embedded fake server"
	@echo "make test   - install the dev extra into .venv and run the test suite"
	@echo "make docs   - build the documentation site (mkdocs --strict) into site/"
	@echo "make lint   - ruff and mypy --strict"
	@echo "make test-slow - the slow tests only (the paced benchmark's paired rounds)"
	@echo "make bench  - paced and flood benchmarks against a bare trio-websocket loop and the SDKs"

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BASE_STAMP): $(BIN)/python pyproject.toml
	@echo "Installing trio_realtime into $(VENV) (first run only)..."
	$(BIN)/python -m pip install --quiet -e .
	@touch $(BASE_STAMP)

$(STAMP): $(BIN)/python pyproject.toml
	@echo "Installing trio_realtime with the dev extra into $(VENV) (first run only; a few minutes)..."
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP) $(BASE_STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy
	cd examples && ../$(BIN)/mypy --strict .

demo: $(BASE_STAMP)
	$(BIN)/trio-realtime demo
	@echo
	@echo "The command is $(BIN)/trio-realtime (or run '. $(BIN)/activate' first, then trio-realtime)."

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache site
