"""Large images (e.g. a 4000x3000 photo) through the tiled Restorer with an embedded model.

For each tile batch size, a fresh subprocess restores one ``W x H`` image (a bundled
sample photo resized up, then degraded for the task) with the model's default sampler
and reports wall time, megapixels per second and peak RSS. A run with a zero-cost
network (it returns zeros) gives the time spent outside the network: tiling, blending,
sampler arithmetic and I/O-free pre/post-processing. ``torch.profiler`` then breaks one
tile's forward pass down by operator.

    .venv/bin/python benchmarks/bench_large.py --task denoise --size 4000x3000 \\
        --tile-batch 1 4 --threads 2 --json bench-large.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def test_image(w: int, h: int, task: str, seed: int = 0):
    """The astronaut sample resized to ``w x h`` and degraded for ``task`` (float32 RGB)."""
    import numpy as np
    from PIL import Image

    from irsde.degrade import restore_input_for_task
    from irsde.io import read_image, sample_images_dir

    gt = read_image(sample_images_dir() / "astronaut.png")
    big = Image.fromarray((gt * 255).round().astype(np.uint8)).resize((w, h), Image.BICUBIC)
    gt = np.asarray(big, np.float32) / 255
    # sr4: the low-resolution image, so that the output is w x h
    return restore_input_for_task(gt, task, np.random.default_rng(seed))


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints a JSON line."""
    import resource

    import torch

    from irsde.models import load_model
    from irsde.restore import Restorer
    from irsde.weights import default_model_path

    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = map(int, args.size.split("x"))
    net = load_model(args.model or default_model_path(args.task))
    if args.zero_net:
        config = net.irsde_config

        class ZeroNet(torch.nn.Module):
            irsde_config = config

            def forward(self, x, mu, t):
                return torch.zeros_like(x)

        net = ZeroNet()
    lq = test_image(w, h, args.task)
    r = Restorer(
        net, sampler=None, tile=args.tile, overlap=args.overlap, tile_batch=args.child_batch,
        device="cpu", task=args.task, ensemble=1,
    )  # fmt: skip
    t0 = time.perf_counter()
    ((out, _),) = r.restore_rgb([lq])
    seconds = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "tile_batch": args.child_batch,
                "zero_net": args.zero_net,
                "seconds": seconds,
                "megapixels_per_s": out.shape[0] * out.shape[1] / 1e6 / seconds,
                "peak_rss_bytes": rss,
                "steps": len(r.timesteps),
                "out_shape": list(out.shape),
                "threads": torch.get_num_threads(),
            }
        )
    )


def run_child(args: argparse.Namespace, batch: int, zero: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", "--child-batch", str(batch), "--task", args.task]
    cmd += ["--size", args.size, "--tile", str(args.tile), "--overlap", str(args.overlap)]
    cmd += ["--threads", str(args.threads)] + (["--zero-net"] if zero else [])
    cmd += ["--model", str(args.model)] if args.model else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def profile_tile(args: argparse.Namespace, top: int = 12) -> list[dict]:
    """Self CPU time per operator for one ``tile x tile`` forward of the model."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from irsde.models import load_model
    from irsde.weights import default_model_path

    if args.threads:
        torch.set_num_threads(args.threads)
    net = load_model(args.model or default_model_path(args.task))
    x = torch.rand(1, 3, args.tile, args.tile).contiguous(memory_format=torch.channels_last)
    t = torch.full((1,), 100, dtype=torch.long)
    with torch.inference_mode():
        net(x, x, t)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            net(x, x, t)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    rows = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    return [
        {
            "op": e.key,
            "calls": e.count,
            "self_ms": e.self_cpu_time_total / 1e3,
            "share": e.self_cpu_time_total / total,
        }
        for e in rows
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", default="denoise")
    p.add_argument("--model", type=Path, help="default: the embedded model of --task")
    p.add_argument("--size", default="4000x3000", help="output WxH")
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--tile-batch", type=int, nargs="+", default=[1, 4])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--json", type=Path)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--child-batch", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--zero-net", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    runs = [run_child(args, b, zero=False) for b in args.tile_batch]
    best = min(runs, key=lambda r: r["seconds"])
    zero = run_child(args, best["tile_batch"], zero=True)
    ops = profile_tile(args)
    result = {
        "task": args.task,
        "size": args.size,
        "tile": args.tile,
        "overlap": args.overlap,
        "runs": runs,
        "zero_net": zero,
        "outside_network_share": zero["seconds"] / best["seconds"],
        "tile_profile": ops,
    }
    print(f"{args.task} {args.size}, tile {args.tile} overlap {args.overlap}:")
    print("| tile batch | seconds | MP/s | peak RSS |")
    print("|---|---|---|---|")
    for r in runs:
        print(
            f"| {r['tile_batch']} | {r['seconds']:.1f} | {r['megapixels_per_s']:.2f} "
            f"| {r['peak_rss_bytes'] / 2**30:.2f} GiB |"
        )
    print(
        f"\nzero-cost network (tile batch {best['tile_batch']}): {zero['seconds']:.2f} s = "
        f"{100 * result['outside_network_share']:.1f}% of the real run"
    )
    print(f"\nOne {args.tile}x{args.tile} forward, self CPU time by operator:")
    print("| operator | calls | ms | share |")
    print("|---|---|---|---|")
    for o in ops:
        print(f"| `{o['op']}` | {o['calls']} | {o['self_ms']:.1f} | {100 * o['share']:.1f}% |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
