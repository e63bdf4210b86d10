# Two commands do all set-up on a fresh machine:  make demo  and  make test.
# Other hardware: pick your PyTorch build, e.g.  make demo TORCH="torch --index-url ..."
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check

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
# (every phase in configs/embedded{,/finetune,/finetune2,/finetune3,/finetune4}/TASK.yml, in order)
train-embedded: dev
	@test -n "$(TASK)" || (echo "usage: make train-embedded TASK=denoise|sr4|deblur|derain|dehaze|inpaint" && exit 2)
	$(PIP) install -q -e ".[train-data]"
	test -d datasets/skimage-train || $(BIN)/python scripts/prepare_training_photos.py datasets/skimage-train
	test -d datasets/more-photos || $(BIN)/python scripts/prepare_training_photos.py --more datasets/more-photos
	$(BIN)/irsde train configs/embedded/$(TASK).yml --out runs/embedded-$(TASK)
	test ! -f configs/embedded/finetune/$(TASK).yml || $(BIN)/irsde train configs/embedded/finetune/$(TASK).yml --out runs/embedded-$(TASK)-ft
	test ! -f configs/embedded/finetune2/$(TASK).yml || $(BIN)/irsde train configs/embedded/finetune2/$(TASK).yml --out runs/embedded-$(TASK)-ft2
	test ! -f configs/embedded/finetune3/$(TASK).yml || $(BIN)/irsde train configs/embedded/finetune3/$(TASK).yml --out runs/embedded-$(TASK)-ft3
	test ! -f configs/embedded/finetune4/$(TASK).yml || $(BIN)/irsde train configs/embedded/finetune4/$(TASK).yml --out runs/embedded-$(TASK)-ft4
	$(BIN)/python scripts/finalize_embedded.py export $(TASK)
	$(BIN)/python benchmarks/quality.py --tasks $(TASK) --json runs/quality-$(TASK).json --md runs/quality-$(TASK).md
	$(BIN)/python scripts/finalize_embedded.py card $(TASK) --quality runs/quality-$(TASK).json

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
