"""x4 super-resolution: the user gives the low-resolution image, ``mu`` is its bicubic
upscaling (:func:`irsde.degrade.bicubic_resize`, the one upscaler of the toolkit).

Training inputs are made by :func:`irsde.degrade.downscale` with the ``downscale``
parameter: ``"matlab-bicubic"`` (MATLAB's ``imresize``, as the SR benchmarks' LR
images; the default) or ``"pillow-bicubic"``. A model records it as its
``task_params``; a model without it (the first embedded ``sr4`` model) was trained with
``"pillow-bicubic"`` (:func:`trained_downscale`); the benchmark variant
``"pillow-bicubic"`` makes its inputs as its model card measured them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..degrade import DOWNSCALE_METHODS, Degraded, bicubic_resize, downscale
from ..errors import ConfigError
from .base import Task, reference_sde, register_task, reject_mask

SCALE = 4
#: how the LR images of a model that records no ``downscale`` were made
LEGACY_DOWNSCALE = "pillow-bicubic"


def upscale(img: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Bicubic ``scale``-times upscaling of an ``H x W x C`` image, clipped to ``[0, 1]``."""
    h, w = img.shape[:2]
    return bicubic_resize(img, (h * scale, w * scale))


def trained_downscale(task_params: Mapping[str, Any] | None) -> str:
    """The downscaling a model's LR training inputs were made with."""
    return (task_params or {}).get("downscale", LEGACY_DOWNSCALE)


class SuperResolution(Task):
    """Bicubic downsampling by ``scale``; ``mu`` is the LR image upscaled back."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        lr = downscale(img, p["scale"], p["downscale"])
        return Degraded(bicubic_resize(lr, img.shape[:2]), lr=lr, params=p)

    def task_params_from(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The downscaling of the training inputs, the default one included."""
        return {"downscale": params.get("downscale", self.params["downscale"])}

    def check_task_params(self, task_params: Mapping[str, Any]) -> None:
        method = trained_downscale(task_params)
        if method not in DOWNSCALE_METHODS:
            raise ConfigError(
                f"sr4 downscale must be one of {', '.join(DOWNSCALE_METHODS)}, not {method!r}"
            )

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
        params={"scale": SCALE, "downscale": "matlab-bicubic"},
        scale=SCALE,
        int_params=frozenset({"scale"}),
        model_params=("downscale",),
        variants={"": {}, "pillow-bicubic": {"downscale": "pillow-bicubic"}},
        baselines=("bicubic",),
    )
)
