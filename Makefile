# mltrail: two commands on a fresh machine.
#   make serve   install into .venv and start the server + UI on ./mltrail.db
#   make test    install what the tests need and run them all

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
# The 20 slowest tests are listed at the end of every run: `make test` must stay under 10 minutes.
PYTEST_DURATIONS ?= --durations=20 --durations-min=5
# `make test` runs the tests on pytest-xdist workers, a test module (or a folder named in
# tests/conftest.py) at a time per worker; PYTEST_XDIST= runs them in one process. One worker more
# than the cores: many tests wait on servers, subprocesses and the browser, and on 2 cores three
# workers finished the suite in 10.8 min where two took 13.7 and four 11.5 (session 5).
XDIST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
PYTEST_XDIST ?= -n $(XDIST_WORKERS) --dist loadfile --no-loadscope-reorder

# Some machines set PYTHONDONTWRITEBYTECODE=1 for everything: then every server and subprocess the
# tests start compiles each module it imports again (a server start took 2.9 s of CPU instead of
# 1.0). Recipes here let Python keep its bytecode caches (__pycache__, gitignored).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: serve test lint format install install-test browser bench bench-quick clean test-mlflow2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files keep re-runs fast; they are redone when pyproject.toml changes.
# `make serve` also installs the `genai` extra (pandas, openai): the README's tour needs them.
$(VENV)/.installed-server: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server,genai]'
	touch $@

# The test extra's torch pin (the CPU build this machine kind keeps on disk) goes in with pip,
# which looks there; uv would download a CUDA build of several GB. uv then installs the rest in
# seconds where pip took minutes. No byte-compiling up front (pip's default, minutes for torch
# alone): Python compiles the modules the tests import when they first do, a few seconds.
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml)
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile uv $(TORCH_PIN)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[test]'
	touch $@

install: $(VENV)/.installed-server

install-test: $(VENV)/.installed-test browser

# Headless Chromium from Debian for the UI tests (Playwright drives it).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "warning: could not install chromium; browser tests will fail"; }

serve: install
	$(BIN)/mltrail server --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache  # the layer contracts in pyproject.toml (docs/DESIGN.md)
	$(BIN)/python -m pytest $(PYTEST_XDIST) $(PYTEST_DURATIONS) $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install-test
	$(BIN)/python bench/run.py

bench-quick: install-test
	$(BIN)/python bench/run.py --quick

# The official MLflow 2.x client (mlflow-skinny 2.22) against mltrail server, in its own venv.
MLFLOW2_VENV ?= .venv-mlflow2
$(MLFLOW2_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(MLFLOW2_VENV)
	$(MLFLOW2_VENV)/bin/python -m pip install --quiet -e '.[server]' pytest pytest-timeout pandas 'mlflow-skinny==2.22.*'
	touch $@

test-mlflow2: $(MLFLOW2_VENV)/.installed
	$(MLFLOW2_VENV)/bin/python -m pytest -p no:cacheprovider tests/server/test_mlflow_client.py $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist
