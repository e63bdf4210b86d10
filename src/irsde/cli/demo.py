"""``irsde demo``: restore the bundled sample photos with the embedded models, write figures."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="restore the bundled sample photos for every task and write figures"
    )
    p.add_argument("-o", "--out", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument(
        "--tasks", nargs="+", default=None, help="tasks to show (default: every embedded model)"
    )
    p.add_argument(
        "--samples", type=int, default=3, help="posterior samples per image (uncertainty map)"
    )
    p.add_argument("--steps", type=int, default=10, help="steps of the oracle demonstration")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..apps.demo import embedded_demo, oracle_demo

    res = oracle_demo(args.out, steps=args.steps, seed=args.seed)
    print(f"oracle demo (the SDE with a known x0): degraded input PSNR {res.psnr_lq:.2f} dB")
    for name, value in res.psnr_by_sampler.items():
        print(f"  {name:>9} sampler, {args.steps} steps: PSNR {value:.2f} dB")
    print(f"  figure: {res.figure}")
    results = embedded_demo(args.out, args.tasks, samples=args.samples, seed=args.seed)
    if not results:
        print("no embedded models in this installation: only the oracle demo was run")
    for r in results:
        print(
            f"{r.task:>8}: PSNR-Y {r.psnr_input:6.2f} -> {r.psnr_output:6.2f} dB   figure: {r.figure}"
        )
    return 0
