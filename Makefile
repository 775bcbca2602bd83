# The README's two commands: `make demo` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint lab venv clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m lab.demo

test: lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The layer contracts (pyproject.toml [tool.importlinter]). The product folders are an import package only
# through the editable install's finder, which import-linter cannot walk: it reads them through symlinks
# in build/lint/prefect_windows_nodes/ instead.
lint: $(STAMP)
	@rm -rf build/lint && mkdir -p build/lint/prefect_windows_nodes
	@for d in blocks tasks flows deployments; do ln -s ../../../$$d build/lint/prefect_windows_nodes/$$d; done
	PYTHONPATH=build/lint $(VENV)/bin/lint-imports

lab: $(STAMP)
	$(PY) -m lab up --windows 1

clean:
	rm -rf $(VENV) .lab .demo build
