# `make up` runs ELU Twins (embedded mode), `make up-distributed` runs it as separate
# processes over Postgres and Redis, `make test` runs every test.
# Both create the virtualenv in $(VENV) and install the project into it when needed.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.elu-installed

.PHONY: install up up-distributed test lint format lab notebooks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/elu-twins up

# Distributed mode without Docker: local Postgres and Redis, WORKERS Celery workers.
WORKERS ?= 2
up-distributed: $(STAMP)
	$(BIN)/elu-twins up --distributed --workers $(WORKERS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The notebooks in notebooks/, against a running `make up` (started first, in another shell).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

# Run every notebook against a running `make up` and store it with its outputs (the plots).
notebooks: $(STAMP)
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.record_timing=False notebooks/*.ipynb
