# Two commands from a fresh clone:  make repro  |  make test
# Both bootstrap .venv from the pinned lock file first (Python 3.11; torch 2.13.0 CPU wheel).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export OMP_NUM_THREADS ?= 1
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false

.PHONY: install params repro test lint unit integration mlflow-ui clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

# params.yaml is generated from conf/; pass Hydra overrides with OVERRIDES="experiment=ci ..."
params: install
	$(BIN)/python -m llmops.config $(OVERRIDES)

# The whole pipeline on the embedded default data (or OVERRIDES), then the metrics.
repro: params
	time $(BIN)/dvc repro
	$(BIN)/dvc metrics show

lint: install
	$(BIN)/ruff check src tests benchmarks

unit: install
	$(BIN)/pytest -q -m "not integration"

integration: install
	$(BIN)/pytest -q -m integration

test: install lint
	$(BIN)/pytest -q --durations=10

mlflow-ui: install
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean:
	rm -rf data/raw data/validated data/processed data/packed models reports/validation
