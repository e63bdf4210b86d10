#!/usr/bin/env bash
# Train the GPU recipes (configs/embedded/gpu/TASK.yml) side by side on one GPU, each
# fitted into SECONDS of training by train.time_budget, e.g.
#   scripts/train_gpu.sh 480                   # denoise, deblur and inpaint at once
#   scripts/train_gpu.sh 480 denoise           # just one
# Runs go to runs/embedded-TASK-gpu (resumed when a checkpoint is there); logs beside them.
# IRSDE="python -m irsde" runs from a source tree without installing (PYTHONPATH=src).
cd "$(dirname "$0")/.."
budget=${1:?usage: scripts/train_gpu.sh SECONDS [TASK...]}; shift
tasks=${*:-denoise deblur inpaint}
irsde=${IRSDE:-.venv/bin/irsde}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p runs
pids=()
for t in $tasks; do
  out=runs/embedded-$t-gpu
  resume=""
  [ -f "$out/checkpoints/last.pt" ] && resume="--resume"
  $irsde train "configs/embedded/gpu/$t.yml" --out "$out" $resume --time-budget "$budget" \
    --no-progress ${MAX_STEPS:+--max-steps $MAX_STEPS} > "runs/log-$t-gpu.txt" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
for t in $tasks; do echo "== $t"; tail -n 4 "runs/log-$t-gpu.txt"; done
exit $status
