"""``irsde demo``: restore the bundled sample photos and write figures."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the demonstration on the bundled sample photos")
    p.add_argument("-o", "--out", type=Path, default=Path("demo_out"), help="output folder")
    p.add_argument("--steps", type=int, default=10, help="sampler steps (NFE)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import oracle_demo

    res = oracle_demo(args.out, steps=args.steps, seed=args.seed)
    print(f"oracle demo: degraded input PSNR {res.psnr_lq:.2f} dB")
    for name, value in res.psnr_by_sampler.items():
        print(f"  {name:>9} sampler, {args.steps} steps: PSNR {value:.2f} dB")
    print(f"figure: {res.figure}")
    return 0
