"""Exact-posterior benchmark: every registered sampler against the true posterior.

The command line of the application module ``irsde.apps.posterior`` (whose docstring says
what is measured; derivation and numbers: ``docs/exact-posterior.md``; a quick version is
the ``irsde bench --posterior`` section). Re-exports its names
(``exact_posterior.make_problem``, ...) for the tests.

    python benchmarks/exact_posterior.py --out bench-posterior/ [--quick]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from irsde.apps.posterior import *  # noqa: F403  (the benchmark's names, re-exported)
from irsde.apps.posterior import (
    DEGRADATIONS,
    NFES,
    QUICK_NFES,
    QUICK_REFERENCE_T,
    QUICK_SAMPLES,
    SAMPLERS,
    SPACINGS,
    Settings,
    markdown,
    run,
    write_results,
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench-posterior"))
    p.add_argument("--quick", action="store_true", help="fewer samples and NFEs (< 1 minute)")
    p.add_argument("--samples", type=int, default=None, help="K (default 500; quick 200)")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--max-sigma", type=float, default=25.0)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--reference-T", type=int, default=1000)
    p.add_argument("--nfe", type=int, nargs="+", default=None)
    p.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    p.add_argument("--spacings", nargs="+", default=None, choices=list(SPACINGS))
    p.add_argument("--degradations", nargs="+", default=list(DEGRADATIONS), choices=DEGRADATIONS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="the samplers' state (the network and distances use float64)",
    )
    return p.parse_args(argv)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Full settings, or the quick ones (``K = 200``, NFE 1/3/10/100, uniform, T_ref = 300)."""
    quick = args.quick
    return Settings(
        size=args.size,
        samples=args.samples or (QUICK_SAMPLES if quick else 500),
        max_sigma=args.max_sigma,
        T=args.T,
        reference_T=QUICK_REFERENCE_T if quick and args.reference_T == 1000 else args.reference_T,
        nfes=tuple(args.nfe or (QUICK_NFES if quick else NFES)),
        samplers=tuple(args.samplers),
        spacings=tuple(args.spacings or (("uniform",) if quick else SPACINGS)),
        degradations=tuple(args.degradations),
        seed=args.seed,
        dtype=args.dtype,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = settings_from_args(args)
    with torch.inference_mode():
        result = run(cfg)
    paths = write_results(result, args.out)
    sys.stdout.write(markdown(result) + f"\n{result['seconds']:.1f} s; wrote {args.out}/"
                     + ", ".join(p.name for p in paths) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
