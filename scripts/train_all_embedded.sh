#!/usr/bin/env bash
cd /work/main
for t in denoise sr4 deblur derain dehaze inpaint; do
  if [ -f runs/embedded-$t/checkpoints/last.pt ]; then
    nice -n 10 .venv/bin/irsde train configs/embedded/$t.yml --out runs/embedded-$t --resume --no-progress > runs/log-$t.txt 2>&1
  else
    nice -n 10 .venv/bin/irsde train configs/embedded/$t.yml --out runs/embedded-$t --no-progress > runs/log-$t.txt 2>&1
  fi
done
