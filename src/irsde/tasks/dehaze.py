"""Dehazing: atmospheric scattering over a random smooth depth."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..degrade import Degraded, add_haze
from .base import Task, reference_sde, register_task


class Dehaze(Task):
    """``I = J t + A (1 - t)`` with airlight ``A`` tinted per channel by up to ``tint``
    (no tint for a gray image); the drawn airlight is reported per channel."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        tint = 0.0 if gray else float(p["tint"])
        airlight = np.clip(float(p["airlight"]) + rng.uniform(-tint, tint, 3), 0.0, 1.0)
        mu = add_haze(img, rng, beta=float(p["beta"]), airlight=airlight)
        p["airlight"] = [round(float(a), 4) for a in airlight]
        return Degraded(mu, params=p)


TASK = register_task(
    Dehaze(
        name="dehaze",
        description="atmospheric haze",
        sde=reference_sde(10),
        params={"beta": (0.5, 2.0), "airlight": (0.7, 1.0), "tint": 0.03},
        baselines=("dark-channel",),
    )
)
