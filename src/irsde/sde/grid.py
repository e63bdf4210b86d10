"""Timestep grids: the descending integer timesteps a sampler visits.

A spacing turns a number of network evaluations into a grid; samplers take the grid
as data (as k-diffusion's samplers take their ``sigmas``), so starting at an
intermediate timestep is a grid that starts there.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from torch import Tensor

    from .base import SDE

#: spacing names accepted by :func:`select_timesteps`
SPACINGS: tuple[str, ...] = ("uniform", "quadratic", "sigma", "logsnr", "tuned")
DEFAULT_SPACING = "uniform"
#: the ``"logsnr"`` spacing's span of ``rho = log(alpha_t sigma_T / sigma_t)``: the log-odds
#: of ``alpha_t^2`` from 1/55 to 54/55 for IR-SDE (``docs/few-step-logsnr.md``)
LOGSNR_SPAN: tuple[float, float] = (-2.0, 2.0)
#: the ``"tuned"`` spacing: per number of evaluations, the scaled log-SNR targets after ``T``,
#: chosen for ``unipc`` by a minimax search of the exact (infinite-sample) distance to the
#: posterior over eight Gaussian problems (noise and blur; T 100 and 1000; max_sigma 10, 25
#: and 50) and checked on eight others (``docs/few-step-tuned.md``)
TUNED_RHO: Mapping[int, tuple[float, ...]] = MappingProxyType(
    {
        5: (-2.25, -0.5, 1.15, 4.0),
        6: (-2.45, -1.083, 0.483, 1.55, 3.5),
        7: (-3.1, -1.625, -0.35, 0.925, 1.8, 3.2),
        8: (-2.7, -1.6, -0.4, 0.4, 1.5, 2.0, 3.6),
        9: (-3.3, -2.317, -1.133, -0.35, 0.833, 1.217, 2.0, 3.0),
        10: (-2.3, -1.529, -0.657, -0.086, 0.286, 1.257, 1.429, 1.6, 3.6),
    }
)


def select_timesteps(
    sde: SDE, steps: int | None, spacing: str = DEFAULT_SPACING, start: int | None = None
) -> list[int]:
    """Descending visited timesteps ``[start, ..., t_N]`` for ``steps`` network evaluations.

    ``start`` defaults to ``T``. ``steps=None`` (or ``steps == start``) gives every
    timestep ``start..1``. Fewer steps pick a subsequence that always begins at
    ``start``: ``"uniform"`` in ``t``, ``"quadratic"`` (denser near ``t = 1``),
    ``"sigma"`` (uniform in ``sigma_bar``) or ``"logsnr"`` (``start``, then evenly in the
    scaled log-SNR over :data:`LOGSNR_SPAN`; see :func:`logsnr_grid`) or ``"tuned"``
    (:data:`TUNED_RHO`'s targets where it has them, else ``"logsnr"``; see :func:`tuned_grid`).
    """
    top = check_start(sde, start)
    if spacing not in SPACINGS:
        raise ValueError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
    if steps is None or steps == top:
        return list(range(top, 0, -1))
    if isinstance(steps, bool) or int(steps) != steps or not 1 <= steps <= top:
        bound = "the model's T" if top == sde.T else "the start timestep"
        raise ValueError(f"steps must be an integer in 1..{top} ({bound}), got {steps!r}")
    steps = int(steps)
    if spacing == "uniform":
        grid = torch.linspace(top, 1, steps, dtype=torch.float64)
    elif spacing == "quadratic":
        grid = 1 + (top - 1) * torch.linspace(1, 0, steps, dtype=torch.float64) ** 2
    elif spacing == "logsnr":
        return logsnr_grid(sde, steps, top)
    elif spacing == "tuned":
        return tuned_grid(sde, steps, top)
    else:
        sig = sde.sigma_bars.double()[: top + 1]
        targets = torch.linspace(float(sig[top]), float(sig[1]), steps, dtype=torch.float64)
        grid = torch.stack([torch.argmin((sig[1:] - v).abs()) + 1 for v in targets]).double()
    return _strictly_descending([round(float(v)) for v in grid], top)


def scaled_log_snr(sde: SDE, top: int) -> Tensor:
    """``rho_t = log(alpha_t sigma_T / sigma_t)`` for ``t = 0..top`` (``inf`` at 0), float64.

    ``lambda_t = log(alpha_t / sigma_t)`` measured against the process's own noise scale
    ``sigma_T``: for IR-SDE (``sigma_t^2 = lam^2 (1 - alpha_t^2)``) ``rho_t`` is the
    log-odds of ``alpha_t^2``, the same for every ``lam``.
    """
    ref = sde.marginal_coefs(sde.T)[1]
    if ref <= 0:  # a bridge pinned at T: measure against its widest marginal instead
        ref = max(sde.marginal_coefs(t)[1] for t in range(1, sde.T + 1))
    rho = [math.inf]
    for t in range(1, top + 1):
        a, s = sde.marginal_coefs(t)
        if s <= 0:
            rho.append(math.inf if a > 0 else -math.inf)
        else:
            rho.append(math.log(a * ref / s) if a > 0 else -math.inf)
    return torch.tensor(rho, dtype=torch.float64)


def logsnr_grid(sde: SDE, steps: int, top: int) -> list[int]:
    """``top``, then ``steps - 1`` timesteps evenly spaced in :func:`scaled_log_snr`.

    The points after ``top`` run from ``LOGSNR_SPAN[0]`` (or ``rho_top`` when that is
    higher, ``top`` then being the first point of the span) to ``LOGSNR_SPAN[1]`` (or
    ``rho_1`` when lower), each at the nearest timestep. Falls back to ``"uniform"``
    when the span is empty below ``top``.
    """
    if steps == 1:
        return [top]
    rho = scaled_log_snr(sde, top)
    lo, hi = max(LOGSNR_SPAN[0], float(rho[top])), min(LOGSNR_SPAN[1], float(rho[1]))
    if top < 3 or not hi > lo:
        grid = torch.linspace(top, 1, steps, dtype=torch.float64)
        return _strictly_descending([round(float(v)) for v in grid], top)
    if lo == float(rho[top]):
        targets = torch.linspace(lo, hi, steps, dtype=torch.float64)[1:]
    elif steps == 2:
        targets = torch.tensor([hi], dtype=torch.float64)
    else:
        targets = torch.linspace(lo, hi, steps - 1, dtype=torch.float64)
    return _strictly_descending([top, *nearest_timesteps(rho, targets)], top)


def tuned_grid(sde: SDE, steps: int, top: int) -> list[int]:
    """``T``, then the timesteps nearest :data:`TUNED_RHO`'s ``rho`` targets for ``steps``.

    The targets were searched from ``T`` only: from an intermediate ``top``, or for a number
    of steps without targets, this is :func:`logsnr_grid`.
    """
    targets = TUNED_RHO.get(steps)
    if not targets or top != sde.T or top < 2 * steps:
        return logsnr_grid(sde, steps, top)
    return _strictly_descending([top, *nearest_timesteps(scaled_log_snr(sde, top), targets)], top)


def nearest_timesteps(rho: Tensor, targets: Sequence[float]) -> list[int]:
    """For each target, the timestep in ``1..top-1`` whose ``rho`` (:func:`scaled_log_snr`
    up to ``top``) is nearest; repeats are kept."""
    inner = rho[1:-1]  # timesteps 1..top-1
    return [int(torch.argmin((inner - float(v)).abs())) + 1 for v in targets]


def check_start(sde: SDE, start: int | None) -> int:
    """``start`` (default ``T``) checked to be an integer timestep in ``1..T``."""
    if start is None:
        return sde.T
    if isinstance(start, bool) or int(start) != start or not 1 <= start <= sde.T:
        raise ValueError(f"start must be an integer timestep in 1..{sde.T}, got {start!r}")
    return int(start)


def check_grid(sde: SDE, timesteps: Sequence[int]) -> list[int]:
    """An explicit grid checked to be strictly descending integers inside ``1..T``."""
    ts = [int(t) for t in timesteps]
    if not ts or any(int(a) != a for a in timesteps):
        raise ValueError("timesteps must be a non-empty sequence of integers")
    if ts[0] > sde.T or ts[-1] < 1 or any(b >= a for a, b in itertools.pairwise(ts)):
        raise ValueError(f"timesteps must descend strictly inside 1..{sde.T}, got {ts}")
    return ts


def _strictly_descending(values: Sequence[int], top: int) -> list[int]:
    """Make rounded grid points distinct, descending and inside ``1..top``, ``top`` first."""
    out: list[int] = []
    n = len(values)
    for i, v in enumerate(values):
        lo = n - i  # leave room for the remaining points down to 1
        hi = top if not out else out[-1] - 1
        out.append(max(lo, min(hi, v)))
    return out
