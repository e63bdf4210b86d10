"""Theta schedules of the mean-reverting SDEs (arrays of length ``T + 1``)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Schedule = Literal["cosine", "linear", "constant"]

SCHEDULES: tuple[str, ...] = ("cosine", "linear", "constant")


def cosine_thetas(T: int, s: float = 0.008, dtype: torch.dtype = torch.float32) -> Tensor:
    """Cosine schedule: ``1 - abar`` on a grid of ``T + 3`` points, first and last dropped."""
    n = T + 2
    x = torch.linspace(0, n, n + 1, dtype=dtype, device="cpu")
    abar = torch.cos(((x / n) + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = abar / abar[0]
    return 1 - abar[1:-1]


def linear_thetas(T: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Linear schedule from ``k * 1e-4`` to ``k * 0.02`` with ``k = 1000 / (T + 1)``."""
    k = 1000 / (T + 1)
    return torch.linspace(k * 0.0001, k * 0.02, T + 1, dtype=dtype, device="cpu")


def constant_thetas(T: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Constant schedule: ``theta_t = 1``."""
    return torch.ones(T + 1, dtype=dtype, device="cpu")


def make_thetas(schedule: str, T: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Theta array of length ``T + 1`` for a named schedule."""
    if schedule == "cosine":
        return cosine_thetas(T, dtype=dtype)
    if schedule == "linear":
        return linear_thetas(T, dtype=dtype)
    if schedule == "constant":
        return constant_thetas(T, dtype=dtype)
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")


def lam_from_max_sigma(max_sigma: float) -> float:
    """Stationary noise std: ``max_sigma / 255`` for 8-bit units (``>= 1``), else as is."""
    return max_sigma / 255 if max_sigma >= 1 else float(max_sigma)
