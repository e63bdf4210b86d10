# Two commands do all set-up on a fresh machine:  make demo  and  make test.
# Other hardware: pick your PyTorch build, e.g.  make demo TORCH="torch --index-url ..."
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
# the task names, read from the registry (for usage messages)
TASK_NAMES = $(BIN)/python -c "from irsde.tasks import TASKS; print('|'.join(TASKS))"

.PHONY: demo test lint format install dev bench clean train-embedded

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first, pinned, so that nothing pulls a different (multi-GB) build
$(VENV)/.torch: | $(BIN)/python
	$(PIP) install -q "$(TORCH)"
	touch $@

$(VENV)/.installed: $(VENV)/.torch pyproject.toml
	$(PIP) install -q -e ".[plot]"
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/irsde demo -o demo_out

# Retrain one embedded model, e.g.  make train-embedded TASK=denoise
# (every phase of configs/embedded/phases.yml, then export, quality table and model card)
train-embedded: dev
	@test -n "$(TASK)" || (echo "usage: make train-embedded TASK=$$($(TASK_NAMES))" && exit 2)
	$(PIP) install -q -e ".[train-data]"
	test -d datasets/skimage-train || $(BIN)/python scripts/prepare_training_photos.py datasets/skimage-train
	test -d datasets/more-photos || $(BIN)/python scripts/prepare_training_photos.py --more datasets/more-photos
	test -d datasets/debian-photos || $(BIN)/python scripts/prepare_training_photos.py --debian datasets/debian-photos
	test -d datasets/debian-photos-sharp || $(BIN)/python scripts/prepare_training_photos.py --debian --sharp-only datasets/debian-photos-sharp
	$(BIN)/python scripts/train_embedded.py $(TASK)

test: dev
	$(BIN)/python -m pytest

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: install
	$(BIN)/irsde bench

clean:
	rm -rf $(VENV) demo_out build dist .pytest_cache .ruff_cache
