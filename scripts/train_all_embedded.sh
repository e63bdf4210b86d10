#!/usr/bin/env bash
# Train (or resume) embedded models one after another, one CPU thread per queue:
#   scripts/train_all_embedded.sh denoise deblur dehaze &
#   scripts/train_all_embedded.sh sr4 derain inpaint &
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
test -d datasets/skimage-train || .venv/bin/python scripts/prepare_training_photos.py datasets/skimage-train
for t in "$@"; do
  resume=""
  [ -f runs/embedded-$t/checkpoints/last.pt ] && resume="--resume"
  .venv/bin/irsde train configs/embedded/$t.yml --out runs/embedded-$t $resume --no-progress >> runs/log-$t.txt 2>&1
done
