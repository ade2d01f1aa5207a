# aequatio — `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-unit test-integration test-e2e test-faults soak bench bench-quick lint lint-migrations audit schema clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency lists change (idempotent).
$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The profilers the bench extra adds (py-spy, pyinstrument).
$(VENV)/.bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $(VENV)/.bench

run: install
	$(BIN)/aequatio serve

test: install
	$(BIN)/pytest

test-unit: install
	$(BIN)/pytest tests/unit tests/contract

test-integration: install
	$(BIN)/pytest tests/integration

test-e2e: install
	$(BIN)/pytest tests/e2e

# The fault suite's short run (also part of `make test`).
test-faults: install
	$(BIN)/pytest tests/faults

# The fault suite at full size: hours, not minutes.
soak: install
	AEQUATIO_SOAK=1 $(BIN)/pytest tests/faults --timeout 0

# Every figure of bench/RESULTS.md beside its same-run baseline (bench/results.json too).
bench: $(VENV)/.bench
	$(BIN)/python -m bench

# The same figures at small sizes, in about four minutes.
bench-quick: $(VENV)/.bench
	$(BIN)/python -m bench --quick

# Known vulnerabilities in the pinned dependencies (needs the PyPI advisory API).
audit: install
	$(BIN)/python -m pip install --quiet pip-audit
	$(BIN)/pip-audit --requirement constraints.txt --no-deps --disable-pip --progress-spinner off

lint: install lint-migrations
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/aequatio schema check
	$(BIN)/hadolint Dockerfile

# Every migration's SQL, rendered offline, through squawk (.squawk.toml).
lint-migrations: install
	BIN=$(BIN) bash scripts/lint-migrations

schema: install
	$(BIN)/aequatio schema export

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
