#!/usr/bin/env bash
# Phase 2 of the embedded models: fine-tune each phase-1 model (runs/embedded-<task>)
# with configs/embedded/finetune/<task>.yml into runs/embedded-<task>-ft, one CPU thread:
#   scripts/finetune_embedded.sh denoise deblur &
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for t in "$@"; do
  resume=""
  [ -f runs/embedded-$t-ft/checkpoints/last.pt ] && resume="--resume"
  .venv/bin/irsde train configs/embedded/finetune/$t.yml --out runs/embedded-$t-ft $resume --no-progress >> runs/log-$t-ft.txt 2>&1
done
