# One command each: `make demo` sets up and runs the main job, `make test` sets up and runs the tests,
# `make docs` sets up and builds the documentation site (CI runs `make test docs`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch goes in first, so the project's torch range is already met
# and pip does not pull a multi-GB CUDA build. Override with TORCH= to skip it.
TORCH ?= torch==2.13.0

.PHONY: setup demo test lint typecheck docs bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(if $(TORCH),$(BIN)/python -m pip install --quiet $(TORCH))
	$(BIN)/python -m pip install --quiet -e ".[dev,ray,docs]"
	touch $@

demo: setup
	$(BIN)/seqcast fetch eurpln --source sample --from 2015-01-01
	$(BIN)/seqcast train
	$(BIN)/seqcast plot
	$(BIN)/seqcast predict-next

lint: setup
	$(BIN)/ruff check src tests examples benchmarks scripts

# mypy --strict over src/ (settings in pyproject.toml's [tool.mypy]). Only on Python 3.11+:
# the newest numpy for 3.10 (2.2) has stubs where a bare np.ndarray lacks type arguments.
typecheck: setup
	@if $(BIN)/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		echo "$(BIN)/mypy"; $(BIN)/mypy; \
	else echo "typecheck: skipped on Python < 3.11 (numpy 2.2's stubs); CI checks types on 3.11 and 3.12"; fi

# Two worker processes (pytest-xdist), one test file each at a time: the Ray cluster and other
# module-scoped fixtures start once; each test still bounds its own torch threads.
test: lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The site from docs/ and mkdocs.yml, warnings as errors, into site/ (the API pages from the
# docstrings). NO_MKDOCS_2_WARNING silences mkdocs-material's banner about MkDocs 2.0.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: setup
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
