"""Full-reference image quality metrics with the conventions of restoration papers.

Inputs are ``H x W x C`` (or ``H x W``) uint8 RGB arrays (other dtypes are taken to be
on the 0..255 scale). All math is float64. ``crop_border`` pixels are removed from each
edge; with ``y_channel=True`` the metric is computed on BT.601 luma in 16..235.
SSIM uses an 11x11 Gaussian window (sigma 1.5) over the valid region and the mean over
channels, as BasicSR and the IR-SDE reference do.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image on the 0..255 scale, in 16..235 (float64)."""
    return img.astype(np.float64) @ _Y_WEIGHTS + 16.0


def _prepare(
    a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if y_channel and a.ndim == 3 and a.shape[2] == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if crop_border:
        c = int(crop_border)
        if 2 * c >= min(a.shape[:2]):
            raise ValueError(f"crop_border {c} leaves nothing of a {a.shape[0]}x{a.shape[1]} image")
        a = a[c:-c, c:-c]
        b = b[c:-c, c:-c]
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB for peak 255 (``inf`` for identical images)."""
    a, b = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D image with ``outer(k, k)``."""
    rows = sliding_window_view(img, k.size, axis=0) @ k
    return sliding_window_view(rows, k.size, axis=1) @ k


def _ssim_channel(a: np.ndarray, b: np.ndarray, k: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    mu_a = _filter_valid(a, k)
    mu_b = _filter_valid(b, k)
    var_a = _filter_valid(a * a, k) - mu_a**2
    var_b = _filter_valid(b * b, k) - mu_b**2
    cov = _filter_valid(a * b, k) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5."""
    a, b = _prepare(a, b, crop_border, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(
            f"SSIM needs images of at least 11x11 pixels, got {a.shape[0]}x{a.shape[1]}"
        )
    k = _gaussian_1d()
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], k) for c in range(a.shape[2])]))
