# One venv for the library, the tests, the notebooks and JupyterLab.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast bench lab clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: setup
	$(VENV)/bin/cachecast demo

test: setup
	$(PY) -m pytest -q

# The same suite without the tests marked slow (notebooks, kernels, the demo, the browser).
test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) bench/run.py

# JupyterLab refuses to start as root (a container's default user) unless told it may.
lab: setup
	@if [ "$$(id -u)" = "0" ] && [ -z "$(ALLOW_ROOT)" ]; then \
	  echo "make lab: you are root, and JupyterLab will not start as root; run it as a normal user, or (in a container) run: make lab ALLOW_ROOT=1" >&2; \
	  exit 2; \
	fi
	$(VENV)/bin/jupyter lab notebooks/ $(if $(ALLOW_ROOT),--allow-root)

clean:
	rm -rf $(VENV) reports/*.html build/ .pytest_cache
