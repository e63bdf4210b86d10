"""Inpainting: holes painted white (or given by a mask); known pixels are kept exactly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor

from ..degrade import HOLE_FILLS, Degraded, fill_holes_as, inpaint_holes
from ..errors import ConfigError, InputError
from .base import Task, reference_sde, register_task


def mask_from_array(mask: np.ndarray | Image.Image | Tensor) -> np.ndarray:
    """``H x W`` bool: True where pixels are missing (white in the mask image)."""
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    elif isinstance(mask, Tensor):
        mask = mask.detach().float().cpu().numpy().squeeze()
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        return m if m.ndim == 2 else m.any(axis=-1)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(m.dtype, 1.0)
    m = m.astype(np.float32) / scale
    if m.ndim == 3:
        m = m.mean(axis=2)
    return m > 0.5


class Inpaint(Task):
    """Random strokes and boxes covering ``coverage`` of the image, filled per ``fill``."""

    def degrade(
        self, img: np.ndarray, rng: np.random.Generator, p: dict[str, Any], gray: bool
    ) -> Degraded:
        mu, mask = inpaint_holes(
            img, rng, coverage=float(p["coverage"]), shapes=p["shapes"], fill=p["fill"]
        )
        return Degraded(mu, mask=mask, params=p)

    def holes(self, rgb: np.ndarray, mask: Any = None) -> np.ndarray:
        """The missing pixels of ``rgb``: the mask's white, or pure-white pixels without one."""
        if mask is None:
            return (rgb >= 1.0).all(axis=2)
        missing = mask_from_array(mask)
        if missing.shape != rgb.shape[:2]:
            raise InputError(
                f"mask size {missing.shape[1]}x{missing.shape[0]} does not match "
                f"the image size {rgb.shape[1]}x{rgb.shape[0]}"
            )
        return missing

    def check_task_params(self, task_params: Mapping[str, Any]) -> None:
        fill = task_params.get("fill", "white")
        if fill not in HOLE_FILLS:
            raise ConfigError(
                f"inpainting fill must be one of {', '.join(HOLE_FILLS)}, not {fill!r}"
            )

    def network_input(
        self,
        rgb: np.ndarray,
        mask: Any = None,
        task_params: Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The holes painted white, or filled smoothly for models trained that way
        (``task_params`` ``{"fill": "smooth"}``); the other pixels are known."""
        missing = self.holes(rgb, mask)
        fill = (task_params or {}).get("fill", "white")
        return fill_holes_as(rgb, missing, fill), ~missing


TASK = register_task(
    Inpaint(
        name="inpaint",
        description="holes painted white (or given by a mask)",
        sde=reference_sde(30),
        params={"coverage": (0.1, 0.4), "shapes": "mixed", "fill": "white"},
        model_params=("fill",),
        uses_mask=True,
        baselines=("biharmonic", "membrane"),
    )
)
