# Two commands on a fresh machine with only Python: `make demo` and `make test`.
# Each creates the virtual environment in .venv and installs what it needs first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch/torchvision pair whose compiled ops work together; override for other machines,
# e.g. `make test TORCH="torch torchvision"`.
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: demo test test-fast lint bench-losses studies mutation clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the main job on the built-in data: the robustness grid of `noisybox bench`'s quick
## preset (FCOS with iou and alpha-iou at noise rates 0 and 0.2, seeds 0 and 1: 8 runs in two
## processes sharing the grid), its table and plots in $(OUT)/bench; and the paper's Figure 1.
## Run again, it continues.
demo: $(STAMP)
	$(BIN)/noisybox losses plot --output $(OUT)/alpha_iou_curves.png --overwrite
	$(BIN)/noisybox bench --out $(OUT)/bench --jobs 2

## test: the whole test suite and the linter
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

## test-fast: the inner loop: everything but whole grids, torchrun and multi-process tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

## studies: re-render every committed study (report.md, plots/) and the README tables quoting them
studies: $(STAMP)
	$(BIN)/python benchmarks/render_studies.py

## mutation: mutation testing of the core modules with mutmut (outside CI; tools/mutation.py
## lists the modules and their tests), a markdown table of the scores; MODULES= picks some
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet mutmut==3.8.1
	$(BIN)/python tools/mutation.py $(MODULES) --json build/mutation/scores.json

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-losses: $(STAMP)
	$(BIN)/python benchmarks/bench_losses.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
