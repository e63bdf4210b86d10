"""Seconds per restore of a 512x512 image with each embedded model's stored setting.

The image is the centre crop of a held-out Debian photo (``--photo``; default EveningGlow
of ``scripts/prepare_training_photos.py --debian datasets/debian-photos``), degraded once
per task (seed 0); sr4 restores a 128x128 input to 512x512. Times
:meth:`irsde.restore.Restorer.restore_rgb` (best of ``--repeat`` after a warm-up on a
small crop), so model loading and file I/O are not included. Run it on an idle machine.

    python benchmarks/time_defaults.py --threads 2 [--mode realistic] [--amp bf16]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from irsde.degrade import synthesize
from irsde.io import read_image
from irsde.restore import Restorer
from irsde.samplers import MODES
from irsde.weights import available_models

REPO = Path(__file__).resolve().parents[1]
PHOTO = REPO / "datasets" / "debian-photos" / "heldout" / "EveningGlow.png"
SIDE = 512


def centre_crop(img: np.ndarray, side: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(img[y : y + side, x : x + side, :3], dtype=np.float32)


def time_task(task: str, gt: np.ndarray, args: argparse.Namespace) -> tuple[Restorer, tuple, float]:
    """The restorer, the input's shape and the best time of ``args.repeat`` restores."""
    deg = synthesize(gt, task, np.random.default_rng(0))
    restorer = Restorer(task, device="cpu", seed=0, mode=args.mode, amp=args.amp)
    small = 16 if task == "sr4" else 64
    mask = None if deg.mask is None else deg.mask[:small, :small]
    restorer.restore_rgb([deg.restore_input[:small, :small]], [mask])  # warm-up
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        restorer.restore_rgb([deg.restore_input], [deg.mask])
        times.append(time.perf_counter() - t0)
    return restorer, deg.restore_input.shape[:2], min(times)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=None, help="default: every embedded model")
    p.add_argument("--photo", type=Path, default=PHOTO)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--mode", choices=MODES, default="faithful")
    p.add_argument("--amp", choices=("bf16",), default=None)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.photo.is_file():
        raise SystemExit(
            f"error: {args.photo}: no such photo (prepare_training_photos.py --debian)"
        )
    gt = centre_crop(read_image(args.photo), SIDE)
    for task in args.tasks or [m.task for m in available_models()]:
        r, shape, seconds = time_task(task, gt, args)
        print(f"{task}: {r.sampler} {r.steps} NFE x{r.ensemble}, input {shape}: {seconds:.2f} s",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
