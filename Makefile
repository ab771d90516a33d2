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

.PHONY: demo test lint bench-losses clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: the main job on built-in data (until `noisybox bench` lands: make the shapes
## dataset, train FCOS with alpha-IoU on it for 1000 steps on the CPU, evaluate; and Figure 1)
demo: $(STAMP)
	$(BIN)/noisybox losses plot --output $(OUT)/alpha_iou_curves.png
	$(BIN)/noisybox make-dataset shapes --out $(OUT)/shapes --images 1000 --seed 0 --overwrite
	rm -rf $(OUT)/run-alpha-iou
	$(BIN)/noisybox train --data $(OUT)/shapes --loss alpha-iou --max-steps 1000 --device cpu --out $(OUT)/run-alpha-iou
	$(BIN)/noisybox eval --run $(OUT)/run-alpha-iou

## test: the whole test suite and the linter
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-losses: $(STAMP)
	$(BIN)/python benchmarks/bench_losses.py

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .ruff_cache .hypothesis
