#!/usr/bin/env bash
# Train (or resume) one phase of several embedded models, one after another, on one CPU
# thread per queue. PHASE is "" (phase 1), finetune, finetune2, finetune3 or finetune4:
#   scripts/train_phase.sh finetune2 denoise &
#   scripts/train_phase.sh finetune3 dehaze inpaint &
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
phase=$1; shift
case $phase in
  "") suffix="" ;;
  finetune) suffix="-ft" ;;
  finetune2) suffix="-ft2" ;;
  finetune3) suffix="-ft3" ;;
  finetune4) suffix="-ft4" ;;
  *) echo "unknown phase $phase" >&2; exit 2 ;;
esac
test -d datasets/skimage-train || .venv/bin/python scripts/prepare_training_photos.py datasets/skimage-train
test -d datasets/more-photos || .venv/bin/python scripts/prepare_training_photos.py --more datasets/more-photos
for t in "$@"; do
  out=runs/embedded-$t$suffix
  resume=""
  [ -f "$out/checkpoints/last.pt" ] && resume="--resume"
  .venv/bin/irsde train "configs/embedded/${phase:+$phase/}$t.yml" --out "$out" $resume --no-progress >> "runs/log-$t$suffix.txt" 2>&1
done
