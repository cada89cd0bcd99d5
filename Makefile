# The two commands of the README are `make backtest` and `make test`; each sets up
# the virtual environment first when it is missing or older than pyproject.toml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TIMERANGE ?= 20240701-20260721
PYTEST_ARGS ?=

.PHONY: backtest test test-fast analysis lint typecheck replay check-config settings dryrun

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m metalabel.ops.frequi  # offline FreqUI from ../shared/frequi, if present
	@touch $(STAMP)

## The main job: walk-forward FreqAI backtest over the bundled data, offline.
backtest: $(STAMP)
	$(BIN)/metalabel backtest --timerange $(TIMERANGE)

## The whole test suite (slow end-to-end tests included, as CI runs it).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Quick feedback while developing: skips the slow end-to-end tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

## freqtrade lookahead- and recursive-analysis in every mode; fails on any bias.
analysis: $(STAMP)
	$(BIN)/metalabel analysis

lint: $(STAMP)
	$(BIN)/ruff check extensions tests user_data/strategies user_data/freqaimodels

typecheck: $(STAMP)
	$(BIN)/mypy

## The replay exchange in the foreground (Ctrl-C stops it).
replay: $(STAMP)
	$(BIN)/metalabel replay --port 18269

check-config: $(STAMP)
	$(BIN)/metalabel check-config --config user_data/config.json

settings: $(STAMP)
	$(BIN)/metalabel settings

## freqtrade trade --dry-run offline against the replay live clock; REST API on 127.0.0.1
## (session credentials in user_data/dryrun.env). Ctrl-C stops it.
dryrun: $(STAMP)
	$(BIN)/metalabel dryrun
