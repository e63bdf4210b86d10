"""Blind deblurring: Gaussian or camera-motion blur plus a little noise."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..degrade import (
    Degraded,
    add_gaussian_noise,
    apply_kernel,
    gaussian_blur,
    gaussian_kernel,
    motion_kernel,
)
from ..errors import ConfigError
from .base import Task, reference_sde, register_task


class Deblur(Task):
    """A Gaussian blur of ``blur_sigma`` or a random motion kernel of ``motion_size``,
    then Gaussian noise of ``noise_sigma``."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        if p["kind"] == "gaussian":
            out = gaussian_blur(img, float(p["blur_sigma"]))
        elif p["kind"] == "motion":
            out = apply_kernel(img, motion_kernel(rng, int(p["motion_size"])))
        else:
            raise ConfigError(f"deblur kind must be gaussian or motion, not {p['kind']!r}")
        return Degraded(
            add_gaussian_noise(out, float(p["noise_sigma"]), rng, shared=gray), params=p
        )

    def degrade_variant(
        self, gt: np.ndarray, rng: np.random.Generator, variant: str = ""
    ) -> tuple[np.ndarray, Degraded]:
        """A fixed kernel (returned with the input, for the non-blind baselines) and noise."""
        settings = self.variant_settings(variant)
        if not settings:
            return super().degrade_variant(gt, rng, variant)
        if settings["kernel"] == "motion":
            kernel = motion_kernel(rng, settings["motion_size"], length=settings["length"])
        else:
            kernel = gaussian_kernel(settings["blur_sigma"])
        noise = settings["noise_sigma"]
        lq = add_gaussian_noise(apply_kernel(gt, kernel), noise, rng)
        return gt, Degraded(np.clip(lq, 0, 1), kernel=kernel, params={"noise_sigma": noise})


TASK = register_task(
    Deblur(
        name="deblur",
        description="Gaussian and motion blur",
        sde=reference_sde(10),
        params={
            "kind": ("gaussian", "motion"),
            "blur_sigma": (0.5, 3.0),
            "motion_size": (9, 25),
            "noise_sigma": (0.0, 2.0),
        },
        int_params=frozenset({"motion_size"}),
        variants={
            "gaussian2": {"kernel": "gaussian", "blur_sigma": 2.0, "noise_sigma": 1.0},
            "motion": {"kernel": "motion", "motion_size": 21, "length": 15.0, "noise_sigma": 1.0},
        },
        curve_variant="gaussian2",
        baselines=("wiener", "richardson-lucy", "wiener-gaussian", "unsharp-mask"),
    )
)
