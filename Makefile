# Two entry points (see README): `make demo` and `make test`. Each creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export SIMCSE_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: demo test test-fast lint venv docs

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first: the extras' range admits it, so pip does not fetch a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[train,export,bench,faiss,serve,embed,ray,spark,openvino,export-openvino,dev]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/python examples/demo.py

# Two pytest-xdist workers, a test file each at a time (docs/development.md): on a 2-core AMD EPYC the suite took
# 663 s in one process, 434 s in two.
test: venv
	$(BIN)/python -m pytest -m "real or not real" -q -n 2 --dist loadfile
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

docs: venv
	$(BIN)/python benchmarks/report.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test-fast: venv
	$(BIN)/python -m pytest -q

lint: venv
	$(BIN)/ruff check sdk trainer export benchmarks tests examples
	$(BIN)/mypy sdk/simcse_sdk
