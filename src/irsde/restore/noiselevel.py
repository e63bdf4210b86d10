"""Blind Gaussian noise level of an image: Donoho's wavelet median absolute deviation.

The finest diagonal Haar detail coefficients of an image are nearly all noise; for white
Gaussian noise of std ``sigma`` they are Gaussian with the same std (the transform is
orthonormal), so ``sigma ~= median(|HH|) / 0.6745`` (Donoho & Johnstone, 1994). This is
the estimator of scikit-image's ``estimate_sigma`` with the Haar wavelet, in numpy.
"""

from __future__ import annotations

import numpy as np

#: median of |N(0, 1)|: the MAD of a standard normal
MAD_OF_UNIT_NORMAL = 0.6744897501960817


def estimate_noise_level(img: np.ndarray) -> float:
    """Noise std of an ``H x W [x C]`` image in [0, 1], as a fraction (x255: 8-bit units).

    Channels are estimated separately and averaged. Raises ``ValueError`` for an image
    smaller than 2 x 2.
    """
    x = np.asarray(img, dtype=np.float64)
    if x.ndim == 2:
        x = x[..., None]
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    if x.ndim != 3 or h < 2 or w < 2:
        raise ValueError(f"cannot estimate the noise of an image of shape {np.shape(img)}")
    x = x[:h, :w]
    hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2
    return float(np.mean(np.median(np.abs(hh), axis=(0, 1)) / MAD_OF_UNIT_NORMAL))
