"""Rain-streak removal."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..degrade import Degraded, add_rain
from .base import Task, reference_sde, register_task


class Derain(Task):
    """Layers of thin bright slanted streaks, screen-blended (:func:`irsde.degrade.add_rain`)."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        return Degraded(add_rain(img, rng, **p), params=p)


TASK = register_task(
    Derain(
        name="derain",
        description="rain streaks",
        sde=reference_sde(10),
        params={
            "density": (0.002, 0.01),
            "angle": (-30.0, 30.0),
            "length": (10.0, 40.0),
            "width": (0.8, 2.0),
            "brightness": (0.5, 0.95),
            "layers": (1, 3),
        },
        int_params=frozenset({"layers"}),
        baselines=("input", "median"),
    )
)
