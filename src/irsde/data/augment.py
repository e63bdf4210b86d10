"""Crops, padding and flips/rotations applied identically to aligned images."""

from __future__ import annotations

import numpy as np


def pad_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pad an ``H x W x C`` image at the bottom and right (mirror, edge pixel repeated)
    to at least ``height x width``."""
    ph, pw = max(0, height - img.shape[0]), max(0, width - img.shape[1])
    if ph == 0 and pw == 0:
        return img
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode="symmetric")


def crop_origin(
    height: int,
    width: int,
    crop: int,
    rng: np.random.Generator | None,
    *,
    align: int = 1,
) -> tuple[int, int]:
    """Top-left corner of a ``crop x crop`` window, a multiple of ``align``: uniformly
    random, or centred when ``rng`` is None."""
    ny, nx = (height - crop) // align, (width - crop) // align
    if ny < 0 or nx < 0:
        raise ValueError(f"crop {crop} does not fit in {height}x{width}")
    if rng is None:
        return (ny // 2) * align, (nx // 2) * align
    return int(rng.integers(0, ny + 1)) * align, int(rng.integers(0, nx + 1)) * align


def random_augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """The same random horizontal flip, vertical flip and 90-degree rotation for all
    ``H x W x C`` arrays (one of the 8 symmetries of the square)."""
    hflip, vflip = bool(rng.random() < 0.5), bool(rng.random() < 0.5)
    k = int(rng.integers(0, 4))
    return [augment_fixed(a, hflip, vflip, k) for a in arrays]


def augment_fixed(img: np.ndarray, hflip: bool, vflip: bool, k: int) -> np.ndarray:
    """Flip left-right, then up-down, then rotate by ``k`` quarter turns."""
    if hflip:
        img = img[:, ::-1]
    if vflip:
        img = img[::-1]
    if k:
        img = np.rot90(img, k, axes=(0, 1))
    return np.ascontiguousarray(img)
