"""x4 super-resolution: the user gives the low-resolution image, ``mu`` is its bicubic
upscaling (:func:`irsde.degrade.bicubic_resize`, the one resize of the toolkit)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..degrade import Degraded, bicubic_downsample, bicubic_resize
from .base import Task, reference_sde, register_task, reject_mask

SCALE = 4


def upscale(img: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Bicubic ``scale``-times upscaling of an ``H x W x C`` image, clipped to ``[0, 1]``."""
    h, w = img.shape[:2]
    return bicubic_resize(img, (h * scale, w * scale))


class SuperResolution(Task):
    """Bicubic downsampling by ``scale``; ``mu`` is the LR image upscaled back."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        lr = bicubic_downsample(img, p["scale"])
        return Degraded(bicubic_resize(lr, img.shape[:2]), lr=lr, params=p)

    def network_input(
        self,
        rgb: np.ndarray,
        mask: Any = None,
        task_params: Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        reject_mask(mask)
        return upscale(rgb, self.scale), None


TASK = register_task(
    SuperResolution(
        name="sr4",
        description="x4 super-resolution (input: the low-resolution image)",
        sde=reference_sde(30),
        params={"scale": SCALE},
        scale=SCALE,
        int_params=frozenset({"scale"}),
        baselines=("bicubic",),
    )
)
