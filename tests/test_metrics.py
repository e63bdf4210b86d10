"""PSNR / SSIM with restoration-paper conventions on known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irsde.metrics import psnr, rgb_to_y, ssim


@pytest.fixture
def img() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(40, 36, 3), dtype=np.uint8)


def test_identical_images(img):
    assert psnr(img, img) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)


def test_known_mse():
    a = np.full((20, 20, 3), 100, np.uint8)
    b = np.full((20, 20, 3), 110, np.uint8)  # constant shift of 10: MSE 100
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    # Y channel: the shift scales by the sum of luma weights (219/255)
    assert psnr(a, b, y_channel=True) == pytest.approx(
        10 * math.log10(255**2 / (10 * 219.0 / 255) ** 2), rel=1e-9
    )


def test_crop_border_ignores_edges(img):
    b = img.copy()
    b[:4] = 0
    b[:, -4:] = 255
    assert psnr(img, b, crop_border=4) == math.inf
    assert psnr(img, b) < 20


def test_luma_range():
    assert rgb_to_y(np.zeros((1, 1, 3))).item() == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255.0)).item() == pytest.approx(235.0)


def test_ssim_constant_shift_and_noise(img):
    shifted = np.clip(img.astype(int) + 5, 0, 255).astype(np.uint8)
    noisy = np.clip(
        img.astype(int) + np.random.default_rng(1).normal(0, 25, img.shape), 0, 255
    ).astype(np.uint8)
    s_shift, s_noise = ssim(img, shifted), ssim(img, noisy)
    assert 0.95 < s_shift < 1.0
    assert s_noise < s_shift
    assert ssim(img, noisy, y_channel=True, crop_border=2) < 1


def test_ssim_matches_scikit_image(img):
    skm = pytest.importorskip("skimage.metrics")
    noisy = np.clip(
        img.astype(int) + 20 * np.sin(np.arange(img.size)).reshape(img.shape), 0, 255
    ).astype(np.uint8)
    ref = skm.structural_similarity(
        img,
        noisy,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
    )
    assert ssim(img, noisy) == pytest.approx(ref, abs=1e-9)


def test_shape_mismatch_and_tiny_images(img):
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(img, img[:-1])
    with pytest.raises(ValueError, match="11x11"):
        ssim(img[:8, :8], img[:8, :8])
    with pytest.raises(ValueError, match="crop_border"):
        psnr(img, img, crop_border=20)
