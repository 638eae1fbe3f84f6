# grpokit — the commands the README names.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK   := requirements/lock.txt
BUILD_LOCK := requirements/build-constraints.txt

# uv, pinned, installed by pip into .tools/ (a fresh machine needs only python3 with pip).
UV_VERSION := 0.13.9
UV     := .tools/uv-$(UV_VERSION)/bin/uv
# uv does not read pip's configuration: it gets pip's find-links, where the project's machines keep the CPU wheel of
# torch that the lock pins (without it, `make setup` fails rather than fetch PyPI's multi-GB CUDA build).
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
# requirements/wheels keeps the one locked package PyPI has no wheel for, prebuilt (`make planner-wheel`).
UV_PIP  = $(UV) pip $(1) --find-links requirements/wheels $(foreach f,$(FIND_LINKS),--find-links $(f))

.PHONY: setup lock planner-wheel train test test-fast lint bench clean

setup: $(STAMP)

# Makes .venv exactly requirements/lock.txt (uv removes anything the lock does not name), grpokit editable included;
# bytecode is compiled at install, as pip does. Idempotent: reruns only when the lock or pyproject.toml changes.
$(STAMP): $(LOCK) $(BUILD_LOCK) pyproject.toml $(wildcard requirements/wheels/*.whl) | $(UV)
	test -x $(BIN)/python || $(UV) venv -q --python $(PYTHON) $(VENV)
	$(call UV_PIP,sync) -q --compile-bytecode --python $(BIN)/python --build-constraints $(BUILD_LOCK) $(LOCK)
	touch $(STAMP)

$(UV):
	$(PYTHON) -m pip install --disable-pip-version-check -q --target .tools/uv-$(UV_VERSION) uv==$(UV_VERSION)

# Regenerates the locks from requirements/*.in, pyproject.toml and constraints.txt, keeping the pins that still fit
# (`make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed releases); `make setup` then installs them.
# It resolves with a cache of its own: through this network's registry proxy uv finds every cached download stale,
# and a compile in uv's main cache would drop the wheels `make setup` built from source (Fast Downward: minutes).
LOCK_CACHE := .tools/lock-cache
COMPILE = $(call UV_PIP,compile) -q --cache-dir $(LOCK_CACHE) --python $(PYTHON) --custom-compile-command 'make lock'
lock: | $(UV)
	$(COMPILE) $(LOCK_ARGS) requirements/build.in -o $(BUILD_LOCK)
	$(COMPILE) $(LOCK_ARGS) --build-constraints $(BUILD_LOCK) -c constraints.txt requirements/lock.in -o $(LOCK)
	$(COMPILE) --no-deps --no-header requirements/no-deps.in >> $(LOCK)

# Rebuilds requirements/wheels' Fast Downward wheel (TextWorld's planner) from its sdist: about 5 minutes of C++.
planner-wheel: | $(UV)
	$(PYTHON) requirements/wheels/build_planner_wheel.py $(abspath $(UV))

# The main job: SmolLM2-135M-Instruct learns arithmetic with DGPO on the CPU (under 10 minutes on 2 cores).
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
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis
