"""Training-data synthesis speed: milliseconds per item of ``SyntheticDataset`` per task, with
and without a dead-leaves bank (``data.train.deadleaves_bank``), one thread, after warm-up
(photos decoded and cached, the bank filled). Data synthesis, not the network, bounded the
GPU training runs (docs/benchmarks.md).

    python benchmarks/data_throughput.py --tasks denoise deblur --items 400
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from irsde.data import SyntheticDataset
from irsde.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["deadleaves", REPO / "datasets" / "skimage-train", REPO / "datasets" / "more-photos"]


def ms_per_item(task: str, crop: int, bank: int, items: int) -> float:
    sources = [s for s in SOURCES if s == "deadleaves" or Path(s).is_dir()]
    ds = SyntheticDataset(
        sources, task, crop=crop, length=10**6, deadleaves_ratio=0.4, cache=True,
        deadleaves_bank=bank, params={"fill": "smooth"} if task == "inpaint" else None,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    while len(ds._bank) < bank:  # warm-up: fill the bank
        ds._dead_leaves(rng)
    for i in range(50):  # and decode the photos
        ds[i]
    t0 = time.perf_counter()
    for i in range(items):
        ds[1000 + i]
    return (time.perf_counter() - t0) / items * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--bank", type=int, default=256)
    ap.add_argument("--items", type=int, default=400)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(
        f"| task | crop | ms/item, new image per item | ms/item, bank of {args.bank} | speed-up |"
    )
    print("|---|---|---|---|---|")
    for task in args.tasks:
        plain = ms_per_item(task, args.crop, 0, args.items)
        banked = ms_per_item(task, args.crop, args.bank, args.items)
        print(f"| {task} | {args.crop} | {plain:.2f} | {banked:.2f} | {plain / banked:.1f}x |")


if __name__ == "__main__":
    main()
