# Two commands from a fresh clone:  make repro  |  make test   (make test-all: the full tier)
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

.PHONY: install params repro smoke test test-all lint unit integration mlflow-ui mlflow-server serve plots browser clean

install: $(STAMP)

# The lock files pin every package, so the installer skips its resolver (--no-deps; the check at
# the end proves the set complete) and leaves bytecode to compileall, which uses every core and
# skips the packages' own test folders (nothing imports them). uv (pinned) installs the locked
# wheels in 12 s with a cold cache where pip took 73 s, and the project in 1.6 s where pip took
# 10.5 s (this machine, 2026-12-03). uv reads no pip config, so pip's find-links (where a machine
# may keep its torch build; /opt/wheels here) are passed on; if uv fails (say a mirror only pip is
# configured for), pip installs the same lock. compileall exits 1 for files written for a newer
# Python (torch's py312 test helpers), which pip skips silently too.
UV_VERSION := 0.13.9
FIND_LINKS = $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
LOCKS := -r requirements.lock -r requirements-dev.lock
UV_INSTALL := $(BIN)/uv pip install -q --python $(BIN)/python --no-deps
PIP_INSTALL := $(BIN)/python -m pip install -q --no-deps

$(STAMP): requirements.lock requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) uv==$(UV_VERSION)
	$(UV_INSTALL) $(addprefix --find-links ,$(FIND_LINKS)) $(LOCKS) || $(PIP_INSTALL) --no-compile $(LOCKS)
	$(UV_INSTALL) -e . || $(PIP_INSTALL) -e .
	$(BIN)/python -m compileall -j 0 -qq -x '/tests?/' $(VENV)/lib || true
	$(BIN)/uv pip check --python $(BIN)/python
	touch $(STAMP)

# params.yaml is generated from conf/; pass Hydra overrides with OVERRIDES="experiment=ci ..."
# (a misspelled key stops here, in about a second, naming the closest existing key)
params: install
	@$(BIN)/python -m llmops.config $(OVERRIDES)

# The whole pipeline on the embedded default data (or OVERRIDES), then the metrics.
repro: params
	time $(BIN)/dvc repro
	$(BIN)/dvc metrics show

# The ci pipeline (every stage, tiny) as a temporary DVC experiment: no tracked file changes; its
# results stay in `dvc exp show` and MLflow (OVERRIDES="finetune.lr=2e-3 ..." on top of experiment=ci)
smoke: install
	time $(BIN)/llmops smoke $(OVERRIDES)

lint: install
	$(BIN)/ruff check src tests benchmarks

# Two pytest workers: a ci pipeline spends most of its time in one process at a time (imports,
# DVC, MLflow), so two at once each took 1.04x their solo time on 2 cores. The ci pipeline and the
# first retrain are built once per session, by whichever worker asks first (tests/conftest.py).
# TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

unit: install
	$(BIN)/pytest -q -m "not integration" $(XDIST)

integration: install
	$(BIN)/pytest -q -m integration $(XDIST)

# Fast tier (5 min on 2 cores): unit tests and one end-to-end ci pipeline on the real DVC/GX/Lightning/MLflow stack
test: install lint
	$(BIN)/pytest -q -m "not slow" $(XDIST) --durations=5

# Full tier (19 min on 2 cores, what CI runs): adds DDP, resume after SIGKILL, MiniLM, the MLflow UI in a
# browser (`make browser` first), exp-run sequences, a tracking server and the retrain scenarios
test-all: install lint
	$(BIN)/pytest -q $(XDIST) --durations=10

MLFLOW_PORT ?= 5000

# The MLflow UI over the workspace's store: one worker, job execution off (mlflow ui's defaults
# start 11 processes on this 2-core machine)
mlflow-ui: install
	@$(BIN)/python -m llmops.tracking.lineage
	$(BIN)/python -m llmops.tracking.server --port $(MLFLOW_PORT) --db mlflow.db --artifacts mlartifacts

# The champion of this workspace's model over HTTP on 127.0.0.1 (MODEL=models:/NAME@ALIAS to choose;
# REQUEST_LOG=DIR logs each request for `llmops drift --requests DIR`)
SERVE_PORT ?= 5001
serve: install
	$(BIN)/llmops serve --port $(SERVE_PORT) $(if $(MODEL),--model $(MODEL)) $(if $(REQUEST_LOG),--request-log $(REQUEST_LOG))

# A tracking server for a team (sqlite store, one worker, job execution off); then
#   export MLFLOW_TRACKING_URI=http://127.0.0.1:$(MLFLOW_PORT)
mlflow-server: install
	$(BIN)/python -m llmops.tracking.server --port $(MLFLOW_PORT)

# DVC plots (training curves of the workspace, or REVS="exp-a exp-b" overlaid) as offline HTML
plots: install
	$(BIN)/llmops plots $(REVS)

# Headless Chromium (Debian package) for the MLflow UI test
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y -qq chromium >/dev/null) || echo "warning: chromium not installed (needs root/apt); the MLflow UI test will be skipped outside CI"

clean:
	rm -rf data/raw data/validated data/processed data/packed models reports/validation
