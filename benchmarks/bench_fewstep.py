"""Few-step sampling research: PSNR vs NFE for samplers x timestep spacings.

Besides the toolkit's spacings (uniform, quadratic, sigma) this script tries ``logsnr``:
timesteps uniform in ``lambda_t = log(alpha_t / sigma_t)`` (the DPM-Solver grid), by
overriding ``IRSDE.timesteps`` in a subclass (research only). Inputs are the held-out
photos degraded as in ``irsde bench`` (denoise at sigma 25, deblur Gaussian sigma 2).

    python benchmarks/bench_fewstep.py --model runs/embedded-denoise/best.safetensors \
        --samplers posterior ddim dpm2m ode sde --nfe 1 2 3 4 5 10 20 --json fewstep.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

from irsde.apps.bench import (
    REFERENCE_SAMPLER,
    degrade_case,
    fewest_steps,
    heldout_images,
    mean_scores,
    quantize,
    scores,
)
from irsde.models import load_model
from irsde.samplers import SAMPLERS, SPACINGS
from irsde.sde import DEFAULT_SPACING, IRSDE
from irsde.sde.grid import _strictly_descending
from irsde.tasks import get_task


class ResearchSDE(IRSDE):
    """An IRSDE that also knows the ``logsnr`` spacing."""

    def timesteps(
        self, steps: int | None = None, spacing: str = DEFAULT_SPACING, start: int | None = None
    ) -> list[int]:
        if spacing != "logsnr" or steps is None or steps >= self.T or start not in (None, self.T):
            spacing = DEFAULT_SPACING if spacing == "logsnr" else spacing
            return super().timesteps(steps, spacing, start)
        theta_bar = self.thetas_cumsum.double() * self.dt
        lam = -theta_bar[1:] - torch.log(self.sigma_bars.double()[1:])  # log(alpha / sigma)
        targets = torch.linspace(float(lam[-1]), float(lam[0]), steps, dtype=torch.float64)
        grid = [int(torch.argmin((lam - v).abs())) + 1 for v in targets]
        return _strictly_descending(grid, self.T)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("runs/embedded-denoise/best.safetensors"))
    p.add_argument("--task", default=None, help="default: the model's task")
    p.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    p.add_argument("--spacings", nargs="+", default=[*SPACINGS, "logsnr"])
    p.add_argument("--nfe", nargs="+", type=int, default=[1, 2, 3, 4, 5, 8, 10, 20, 50])
    p.add_argument("--crop", type=int, default=128, help="center crop (0: whole photos)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", type=Path)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    net = load_model(args.model)
    task = args.task or net.irsde_config["task"]
    sde = ResearchSDE(**net.irsde_config["sde"])
    imgs = heldout_images(None, args.crop)
    cases = [
        degrade_case(n, g, task, args.seed, get_task(task).curve_variant) for n, g in imgs.items()
    ]
    for c in cases:
        c.lq = quantize(c.lq)
    dev = torch.device("cpu")
    rows = []

    def run(sampler: str, spacing: str, nfe: int) -> dict:
        from irsde.restore import Restorer

        r = Restorer(net, sampler=sampler, steps=nfe, spacing=DEFAULT_SPACING, tile=None, device=dev,
                     seed=args.seed, task=task, sde=sde)  # fmt: skip
        r.spacing = spacing  # the Restorer validates spacings through the base class
        outs = [o for o, _ in r.restore_rgb([c.lq for c in cases], [c.mask for c in cases])]
        return mean_scores(scores(o, c.gt) for o, c in zip(outs, cases, strict=True))

    t0 = time.perf_counter()
    ref = run(REFERENCE_SAMPLER, DEFAULT_SPACING, sde.T)
    rows.append({"sampler": REFERENCE_SAMPLER, "spacing": DEFAULT_SPACING, "nfe": sde.T, **ref})
    print(f"reference {REFERENCE_SAMPLER} {sde.T} NFE: PSNR-Y {ref['psnr_y']:.2f}", file=sys.stderr)
    for sampler in args.samplers:
        for spacing in args.spacings:
            for nfe in args.nfe:
                if nfe >= sde.T:
                    continue
                m = run(sampler, spacing, nfe)
                rows.append({"sampler": sampler, "spacing": spacing, "nfe": nfe, **m})
                print(f"{sampler:9s} {spacing:9s} {nfe:3d}  {m['psnr_y']:.2f}", file=sys.stderr)
    best = fewest_steps(rows, sde.T)
    print_table(rows, ref, best)
    if args.json:
        info = {"model": str(args.model), "task": task, "crop": args.crop, "T": sde.T,
                "trained_steps": (net.irsde_config.get("provenance") or {}).get("trained_steps"),
                "seconds": time.perf_counter() - t0, "rows": rows, "fewest_steps": best}  # fmt: skip
        args.json.write_text(json.dumps(info, indent=2))
    return 0


def print_table(rows: list[dict], ref: dict, best: dict | None) -> None:
    nfes = sorted({r["nfe"] for r in rows})
    print("| sampler | spacing | " + " | ".join(map(str, nfes)) + " |")
    print("|---|---|" + "---|" * len(nfes))
    for key in dict.fromkeys((r["sampler"], r["spacing"]) for r in rows):
        vals = {r["nfe"]: r["psnr_y"] for r in rows if (r["sampler"], r["spacing"]) == key}
        print(f"| {key[0]} | {key[1]} | " + " | ".join(
            f"{vals[n]:.2f}" if n in vals and math.isfinite(vals[n]) else "" for n in nfes) + " |")  # fmt: skip
    print(f"\nreference: {ref['psnr_y']:.2f} dB; fewest within 0.1 dB: {best}")


if __name__ == "__main__":
    raise SystemExit(main())
