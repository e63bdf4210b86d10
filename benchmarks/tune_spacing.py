"""Search the ``"tuned"`` spacing's log-SNR targets on the exact-posterior benchmark.

For each number of evaluations ``n`` a grid is ``T`` followed by ``n - 1`` targets of the
scaled log-SNR ``rho`` (``irsde.sde.grid.scaled_log_snr``), each at its nearest timestep.
The score of a grid is the worst, over a set of Gaussian problems, of the sampler's exact
distance to the posterior (``irsde.apps.posterior.exact_law``: the output law itself, K ->
infinity) divided by the exact distance of the reference posterior sampler at every step of
T = 100. Coordinate descent (steps 0.4 down to 0.025 in ``rho``) from a few structured
starts minimises it on eight training problems; eight others, never searched on, check it.
The result is ``irsde.sde.grid.TUNED_RHO``; ``docs/few-step-tuned.md`` has the numbers.

    python benchmarks/tune_spacing.py --nfe 5 6 --json tuned.json
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from irsde.apps import posterior as ep
from irsde.sde import IRSDE
from irsde.sde.grid import TUNED_RHO, nearest_timesteps, scaled_log_snr

#: the problems searched on: (degradation, T, max_sigma), 25/255 noise, blur std 1.5 px
TRAIN: tuple[dict[str, Any], ...] = tuple(
    {"degradation": d, "T": T, "max_sigma": lam}
    for T, lam in ((100, 25.0), (1000, 25.0), (100, 10.0), (100, 50.0))
    for d in ("noise", "blur")
)
#: problems never searched on: other blurs, noise levels, spectra, T and draws of y
HELD_OUT: tuple[dict[str, Any], ...] = (
    {"degradation": "blur", "T": 100, "max_sigma": 25.0, "blur_sigma": 2.5},
    {"degradation": "noise", "T": 100, "max_sigma": 15.0, "noise_std": 15.0},
    {"degradation": "noise", "T": 100, "max_sigma": 50.0, "noise_std": 50.0},
    {"degradation": "noise", "T": 100, "max_sigma": 25.0, "slope": 2.5},
    {"degradation": "blur", "T": 100, "max_sigma": 25.0, "slope": 1.5},
    {"degradation": "noise", "T": 500, "max_sigma": 25.0, "seed": 1},
    {"degradation": "blur", "T": 300, "max_sigma": 25.0, "seed": 2},
    {"degradation": "blur", "T": 100, "max_sigma": 25.0, "blur_sigma": 1.0, "noise_std": 10.0},
)
#: structured starts: (first, last inner target, final target), inner ones evenly between
STARTS: tuple[tuple[float, float, float], ...] = (
    (-2.25, 1.25, 4.0), (-2.0, 2.0, 4.0), (-2.5, 1.0, 3.5), (-2.0, 1.0, 3.0),
    (-2.5, 2.0, 5.0), (-2.7, 2.0, 3.6), (-2.3, 1.6, 3.6),
)  # fmt: skip
STEPS: tuple[float, ...] = (0.4, 0.2, 0.1, 0.05, 0.025)


@dataclass
class Case:
    """One Gaussian problem with its degraded image, optimal network and reference distance."""

    spec: dict[str, Any]
    sde: IRSDE
    net: ep.OptimalNoise
    y: torch.Tensor
    mean_dft: torch.Tensor
    var: torch.Tensor
    reference: float = 0.0

    def distance(self, sampler: str, grid: Sequence[int]) -> float:
        """Exact W2 of ``sampler`` on ``grid``, 8-bit units."""
        law = ep.exact_law(self.net, self.sde, self.y, sampler, grid)
        return ep.EIGHT_BIT * ep.law_w2(*law, self.mean_dft, self.var)


def make_problem(spec: dict[str, Any]) -> ep.GaussianProblem:
    """The benchmark's problem, with another spectral slope where ``spec`` asks."""
    noise = spec.get("noise_std", 25.0) / ep.EIGHT_BIT
    problem = ep.make_problem(spec["degradation"], noise_std=noise,
                              blur_sigma=spec.get("blur_sigma", 1.5))  # fmt: skip
    slope = spec.get("slope", 2.0)
    if slope != 2.0:
        f2 = ep.squared_frequency(problem.size).clamp(min=1.0)
        power = f2 ** (-slope / 2)
        power = power / power.mean() * float(problem.power.mean())
        problem = dataclasses.replace(problem, power=power)
    return problem


def build_case(spec: dict[str, Any], with_reference: bool = True) -> Case:
    problem = make_problem(spec)
    gen = torch.Generator().manual_seed(spec.get("seed", 0))
    y = problem.degrade(problem.sample_prior(1, gen), gen)
    sde = IRSDE(max_sigma=spec["max_sigma"], T=spec["T"])
    case = Case(spec, sde, ep.OptimalNoise(problem, sde), y,
                problem.posterior_mean_dft(y)[0, 0], problem.posterior_var())  # fmt: skip
    if with_reference:  # the posterior sampler at every step of T = 100
        ref = case if spec["T"] == 100 else build_case({**spec, "T": 100}, False)
        case.reference = ref.distance("posterior", list(range(100, 0, -1)))
    return case


def targets_grid(case: Case, targets: Sequence[float]) -> list[int] | None:
    """``T``, then the timestep nearest each target; None when two targets share one."""
    T = case.sde.T
    grid = [T, *nearest_timesteps(scaled_log_snr(case.sde, T), targets)]
    return grid if all(a > b for a, b in itertools.pairwise(grid)) else None


GridOf = Callable[[Case], list[int] | None]


def ratios(cases: Sequence[Case], sampler: str, grid_of: GridOf) -> list[float] | None:
    """Each case's distance on ``grid_of(case)`` over its reference; None when a grid is."""
    out = []
    for case in cases:
        grid = grid_of(case)
        if grid is None:
            return None
        out.append(case.distance(sampler, grid) / case.reference)
    return out


def on_targets(targets: Sequence[float]) -> GridOf:
    return lambda case: targets_grid(case, targets)


def on_spacing(spacing: str, n: int) -> GridOf:
    """A registered spacing's grid (for comparison)."""
    return lambda case: case.sde.timesteps(n, spacing)


def worst(cases: Sequence[Case], sampler: str, targets: Sequence[float]) -> float:
    r = ratios(cases, sampler, on_targets(targets))
    return float("inf") if r is None else max(r)


def descend(cases: Sequence[Case], sampler: str, start: list[float]) -> tuple[list[float], float]:
    """Coordinate descent on the worst ratio, keeping the targets increasing."""
    x, best = list(start), worst(cases, sampler, start)
    for step in STEPS:
        improved = True
        while improved:
            improved = False
            for i in range(len(x)):
                for d in (-step, step):
                    y = list(x)
                    y[i] = round(y[i] + d, 6)
                    if any(a >= b for a, b in itertools.pairwise(y)):
                        continue
                    score = worst(cases, sampler, y)
                    if score < best - 1e-4:
                        x, best, improved = y, score, True
    return x, best


def tune(cases: Sequence[Case], sampler: str, n: int) -> tuple[list[float], float]:
    """The best targets for ``n`` evaluations over :data:`STARTS`."""
    results = []
    for lo, hi, end in STARTS:
        inner = torch.linspace(lo, hi, n - 2).tolist() if n > 2 else []
        results.append(descend(cases, sampler, [*inner, end]))
    return min(results, key=lambda r: r[1])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nfe", type=int, nargs="+", default=sorted(TUNED_RHO))
    p.add_argument("--sampler", default="unipc")
    p.add_argument("--check", action="store_true", help="score the shipped TUNED_RHO only")
    p.add_argument("--json", type=Path, default=None)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    train = [build_case(s) for s in TRAIN]
    held = [build_case(s) for s in HELD_OUT]
    rows = []
    for n in args.nfe:
        if args.check:
            targets = list(TUNED_RHO[n])
        else:
            targets, _ = tune(train, args.sampler, n)
        row = {"nfe": n, "targets": [round(v, 3) for v in targets]}
        for name, cases in (("train", train), ("held_out", held)):
            for key, grid_of in ((name, on_targets(targets)),
                                 (f"{name}_logsnr", on_spacing("logsnr", n))):  # fmt: skip
                row[key] = [round(v, 3) for v in ratios(cases, args.sampler, grid_of) or []]
        rows.append(row)
        print(f"{n} NFE: targets {row['targets']}; worst ratio to the reference: train "
              f"{max(row['train']):.3f} (logsnr {max(row['train_logsnr'], default=float('nan')):.3f}), "
              f"held out {max(row['held_out']):.3f} "
              f"(logsnr {max(row['held_out_logsnr'], default=float('nan')):.3f})", flush=True)  # fmt: skip
    if args.json:
        refs = {"train": [c.reference for c in train], "held_out": [c.reference for c in held]}
        payload = {"sampler": args.sampler, "train": list(TRAIN), "held_out": list(HELD_OUT),
                   "references": refs, "rows": rows}  # fmt: skip
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
