# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    creates .venv, installs scratchnn, runs main.py
#   make test   creates .venv, installs scratchnn with its test tools, runs ruff (lint and format) and pytest
#               (the tests include the strict build of the documentation site)
#   make docs   builds the site into site/, warnings as errors; make docs-serve serves it on 127.0.0.1:8000
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench lint clean docs docs-serve chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench,docs]"
	touch $@ $(VENV)/.run-deps

run: $(VENV)/.run-deps
	$(BIN)/python main.py $(ARGS)

# The browser tests (the documentation site opened offline) need Debian's chromium: installed here when
# missing and running as root, else the command to run is printed.
chromium:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "install Debian's chromium first: sudo apt-get install chromium"; exit 1; }

# The test files are shared out to two worker processes, a file at a time (its module fixtures built
# once); each process's BLAS uses one thread, so two workers keep two cores busy without contending.
test: $(VENV)/.test-deps chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile $(ARGS)

# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, set on some machines, make current NumPy pick slow
# kernels; the benchmark runs without them (only here: never in the tests).
bench: $(VENV)/.test-deps
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/run.py $(ARGS)

# NO_MKDOCS_2_WARNING: silences a banner about a future MkDocs; the build is strict either way.
docs: $(VENV)/.test-deps
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs-serve: $(VENV)/.test-deps
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) build site *.egg-info
