"""Peak memory (RSS) of tiled restoration versus image size.

Each measurement runs in a fresh subprocess (``resource.getrusage(...).ru_maxrss``) that
restores a random ``H x W`` image with a tiny 3-layer convolutional network (16 hidden
channels) for a few posterior steps, tiled or not. Usage::

    .venv/bin/python benchmarks/bench_tiling.py [--tile 256] [--steps 2]
        [--sizes 1000x750 2000x1500 4000x3000] [--untiled-max 2000x1500]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(h: int, w: int, tile: int, steps: int) -> None:
    import numpy as np
    import torch
    from torch import nn

    from irsde.restore import Restorer

    torch.set_num_threads(2)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(6, 16, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 16, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 3, 3, padding=1),
            )
            self.irsde_config = {"sde": {"max_sigma": 10, "T": 100}, "task": None}

        def forward(self, x, mu, t):
            return 0.01 * self.body(torch.cat([x, mu], 1))

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    img = np.random.default_rng(0).random((h, w, 3), dtype=np.float32)
    r = Restorer(Tiny(), steps=steps, tile=tile or None, overlap=32, device="cpu")
    t0 = time.perf_counter()
    out = r.restore(img)
    secs = time.perf_counter() - t0
    assert out.shape == (h, w, 3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_mib": base / 1024, "peak_mib": peak / 1024, "seconds": secs}))


def measure(h: int, w: int, tile: int, steps: int) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        f"{h}x{w}",
        "--tile",
        str(tile),
        "--steps",
        str(steps),
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def size(text: str) -> tuple[int, int]:
    w, h = (int(v) for v in text.lower().split("x"))
    return h, w


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", type=size)
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument(
        "--sizes",
        nargs="+",
        type=size,
        default=[size(s) for s in ("1000x750", "2000x1500", "4000x3000")],
    )
    p.add_argument("--untiled-max", type=size, default=size("2000x1500"))
    args = p.parse_args()
    if args.child:
        child(*args.child, args.tile, args.steps)
        return
    print(f"{'image (WxH)':>12} {'tile':>6} {'Mpx':>6} {'peak RSS MiB':>13} {'seconds':>8}")
    for h, w in args.sizes:
        tiles = [args.tile]
        if h * w <= args.untiled_max[0] * args.untiled_max[1]:
            tiles.append(0)
        for tile in tiles:
            r = measure(h, w, tile, args.steps)
            label = str(tile) if tile else "none"
            print(
                f"{w:>5}x{h:<6} {label:>6} {h * w / 1e6:>6.2f} {r['peak_mib']:>13.0f} {r['seconds']:>8.1f}"
            )


if __name__ == "__main__":
    main()
