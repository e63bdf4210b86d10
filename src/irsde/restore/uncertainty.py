"""Uncertainty of posterior samples: their running mean and std, and the std's heat map."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

_INFERNO = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)


def colorize(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """``H x W`` non-negative values -> ``H x W x 3`` uint8 heat map (inferno colormap).

    Uses matplotlib's colormap when installed, else a built-in approximation of it.
    """
    vmax = float(vmax if vmax is not None else values.max(initial=0.0))
    v = np.clip(values / vmax, 0.0, 1.0) if vmax > 0 else np.zeros_like(values)
    try:
        from matplotlib import colormaps

        return (colormaps["inferno"](v)[..., :3] * 255 + 0.5).astype(np.uint8)
    except ImportError:
        pos = v * (len(_INFERNO) - 1)
        lo = np.floor(pos).astype(int).clip(0, len(_INFERNO) - 2)
        frac = (pos - lo)[..., None]
        rgb = _INFERNO[lo] * (1 - frac) + _INFERNO[lo + 1] * frac
        return (rgb + 0.5).astype(np.uint8)


class RunningMoments:
    """Welford's running mean and sum of squared deviations of equal-shaped tensors."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: Tensor | None = None
        self.m2: Tensor | None = None

    def add(self, x: Tensor) -> None:
        """Account for one more sample ``x``."""
        if self.mean is None or self.m2 is None:
            self.mean, self.m2 = x.clone(), torch.zeros_like(x)
        else:
            delta = x - self.mean
            self.mean += delta / (self.count + 1)
            self.m2 += delta * (x - self.mean)
        self.count += 1

    def std(self) -> Tensor:
        """The sample standard deviation (``count - 1`` degrees of freedom)."""
        if self.m2 is None or self.count < 2:
            raise ValueError("a standard deviation needs at least two samples")
        return (self.m2 / (self.count - 1)).sqrt_()
