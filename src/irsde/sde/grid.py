"""Timestep grids: the descending integer timesteps a sampler visits.

A spacing turns a number of network evaluations into a grid; samplers take the grid
as data (as k-diffusion's samplers take their ``sigmas``), so starting at an
intermediate timestep is a grid that starts there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .base import SDE

#: spacing names accepted by :func:`select_timesteps`
SPACINGS: tuple[str, ...] = ("uniform", "quadratic", "sigma")
DEFAULT_SPACING = "uniform"


def select_timesteps(
    sde: SDE, steps: int | None, spacing: str = DEFAULT_SPACING, start: int | None = None
) -> list[int]:
    """Descending visited timesteps ``[start, ..., t_N]`` for ``steps`` network evaluations.

    ``start`` defaults to ``T``. ``steps=None`` (or ``steps == start``) gives every
    timestep ``start..1``. Fewer steps pick a subsequence that always begins at
    ``start``: ``"uniform"`` in ``t``, ``"quadratic"`` (denser near ``t = 1``) or
    ``"sigma"`` (uniform in ``sigma_bar``).
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
    else:
        sig = sde.sigma_bars.double()[: top + 1]
        targets = torch.linspace(float(sig[top]), float(sig[1]), steps, dtype=torch.float64)
        grid = torch.stack([torch.argmin((sig[1:] - v).abs()) + 1 for v in targets]).double()
    return _strictly_descending([round(float(v)) for v in grid], top)


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
