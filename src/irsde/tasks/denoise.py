"""Blind Gaussian denoising: ``mu`` is the noisy image itself (reference: T = 1000)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..degrade import Degraded, add_gaussian_noise, grayscale
from .base import Task, reference_sde, register_task


class Denoise(Task):
    """Additive white Gaussian noise of ``sigma`` (8-bit units); a gray image gets one
    noise field for all channels."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        return Degraded(add_gaussian_noise(img, float(p["sigma"]), rng, shared=gray), params=p)

    def degrade_variant(
        self, gt: np.ndarray, rng: np.random.Generator, variant: str = ""
    ) -> tuple[np.ndarray, Degraded]:
        """A fixed ``sigma``; the ``gray`` variants make the photo (and its noise) gray."""
        settings = self.variant_settings(variant)
        if settings.pop("gray", False):
            gt = grayscale(gt)
        return gt, self.synthesize(gt, rng, **settings)


TASK = register_task(
    Denoise(
        name="denoise",
        description="blind additive Gaussian noise",
        sde=reference_sde(70, 1000),
        params={"sigma": (5.0, 50.0)},
        variants={
            "sigma15": {"sigma": 15.0},
            "sigma25": {"sigma": 25.0},
            "sigma50": {"sigma": 50.0},
            "gray-sigma25": {"sigma": 25.0, "gray": True},
        },
        curve_variant="sigma25",
        baselines=("nlm", "bm3d", "bm3d-blind"),
    )
)
