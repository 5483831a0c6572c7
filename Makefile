# Two commands on a fresh machine: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/quickstart
SCALE ?= 1
PYTEST_ARGS ?=
TRAIN_ARGS ?=
REST_PORT ?= 8501
GRPC_PORT ?= 8500

export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: install install-test quickstart lint test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,beam]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# The main job on the built-in sample shop: data, then train, evaluate and export, then serve the
# export with the development server and ask it for a user's recommendations through the client.
quickstart: install
	$(BIN)/mtrec data sample --out $(RUN)/data --scale $(SCALE)
	$(BIN)/mtrec data inspect $(RUN)/data
	$(BIN)/mtrec data examples $(RUN)/data --out $(RUN)/examples --split time
	$(BIN)/mtrec train --events $(RUN)/data/events.parquet --items $(RUN)/data/items.parquet \
		--queries $(RUN)/data/queries.parquet --output-dir $(RUN)/model $(TRAIN_ARGS)
	$(BIN)/mtrec serve --model-base-path $(RUN)/model/export/mtrec --rest-port $(REST_PORT) \
		--grpc-port $(GRPC_PORT) & server=$$!; \
	$(BIN)/python -m serving.demo --server http://127.0.0.1:$(REST_PORT) \
		--events $(RUN)/data/events.parquet --items $(RUN)/data/items.parquet; status=$$?; \
	kill $$server; wait $$server; exit $$status

# Lint (ruff) and type-check (mypy; its configuration names what it checks): both in pyproject.toml.
lint: install-test
	$(BIN)/python -m ruff check .
	$(BIN)/python -m mypy

test: install-test lint
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/data_pipeline.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
