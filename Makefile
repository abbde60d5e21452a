# The two set-up commands: `make app` serves the dashboard, `make test` runs the whole suite.
# Each creates .venv when missing and installs the project (with its dev extra) into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501
# Tests in one worker per core (pytest-xdist), each test file on one worker so that the compiled
# functions its tests share are compiled once: `make test PARALLEL=` runs them in one process.
PARALLEL ?= -n auto --dist loadfile

.PHONY: app test test-fast notebooks docs install clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "glamsim needs Python >= 3.11"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

app: $(VENV)/.installed
	$(VENV)/bin/glamsim app --port $(PORT)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PARALLEL)

# The fast tier while developing: lint, layers, and every test not marked slow (tests/conftest.py).
test-fast: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -m "not slow" $(PARALLEL)

# JupyterLab on notebooks/, from the project's .venv (the optional `notebooks` extra, installed once).
$(VENV)/.notebooks: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[dev,notebooks]"
	touch $@

notebooks: $(VENV)/.notebooks
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# The documentation site (docs/, mkdocs.yml) at http://127.0.0.1:8000; its tools are in the dev extra.
docs: $(VENV)/.installed
	@echo "glamsim docs: http://127.0.0.1:8000"
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve -a 127.0.0.1:8000

clean:
	rm -rf $(VENV) .pytest_cache
