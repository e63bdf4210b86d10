"""Classical baselines: each improves a degraded tiny image where it should."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")
pytest.importorskip("scipy")

from irsde import classical as C
from irsde import degrade as D


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a, np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    """A smooth 48x48 colour image with a few edges (easy for classical methods)."""
    y, x = np.mgrid[0:48, 0:48] / 47.0
    img = np.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 + 0.3 * np.sin(3 * x + 2 * y)], axis=-1)
    img[12:30, 16:36] *= 0.5
    return np.clip(img, 0, 1).astype(np.float32)


def _check(out: np.ndarray, shape: tuple[int, ...]) -> None:
    assert out.shape == shape
    assert out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("method", ["nlm", "bm3d", "bm3d-blind"])
def test_denoisers_improve(clean, method):
    if method.startswith("bm3d"):
        pytest.importorskip("bm3d")
    noisy = D.add_gaussian_noise(clean, 25, np.random.default_rng(0))
    out = C.run_baseline("denoise", method, noisy, sigma=25)
    _check(out, clean.shape)
    assert _mse(out, clean) < 0.5 * _mse(noisy, clean)


@pytest.mark.parametrize("method", ["nlm", "bm3d"])
def test_denoisers_keep_a_gray_image_gray(clean, method):
    if method == "bm3d":
        pytest.importorskip("bm3d")
    gray = D.grayscale(clean)
    noisy = D.add_gaussian_noise(gray, 25, np.random.default_rng(0), shared=True)
    out = C.run_baseline("denoise", method, noisy, sigma=25)
    _check(out, clean.shape)
    assert D.is_gray(out) and _mse(out, gray) < 0.5 * _mse(noisy, gray)


def test_sigma_estimate_is_close(clean):
    noisy = D.add_gaussian_noise(clean, 20, np.random.default_rng(1))
    assert abs(C.estimate_sigma(noisy) * 255 - 20) < 5
    _check(C.denoise_nlm(noisy), clean.shape)  # estimated sigma


def test_bicubic_upsamples(clean):
    lr = D.bicubic_downsample(clean, 4)
    out = C.run_baseline("sr4", "bicubic", lr)
    _check(out, clean.shape)
    assert _mse(out, clean) < 0.01


@pytest.mark.parametrize("method", ["wiener", "richardson-lucy"])
def test_deblurrers_improve(clean, method):
    k = D.gaussian_kernel(1.5)
    blurred = D.apply_kernel(clean, k)
    out = C.run_baseline("deblur", method, blurred, kernel=k)
    _check(out, clean.shape)
    assert _mse(out, clean) < 0.7 * _mse(blurred, clean)


def test_deblur_needs_kernel(clean):
    with pytest.raises(C.UsageError, match="wiener needs the blur kernel"):
        C.run_baseline("deblur", "wiener", clean)


@pytest.mark.parametrize("method", ["wiener-gaussian", "unsharp-mask"])
def test_blind_deblurrers_sharpen_without_the_kernel(clean, method):
    blurred = D.gaussian_blur(clean, 1.5)
    out = C.run_baseline("deblur", method, blurred)  # default parameters, no kernel
    _check(out, clean.shape)
    assert _mse(out, clean) < _mse(blurred, clean)


def test_grid_pick_is_the_best_parameter_against_the_reference(clean):
    blurred = D.gaussian_blur(clean, 2.0)
    picked = C.run_baseline("deblur", "wiener-gaussian", blurred, reference=clean)
    errors = {
        s: _mse(C.deblur_gaussian_guess(blurred, psf_sigma=s), clean)
        for s in C.PARAM_GRIDS["wiener-gaussian"]["psf_sigma"]
    }
    assert _mse(picked, clean) == pytest.approx(min(errors.values()), rel=0.05)
    assert _mse(picked, clean) < errors[0.5]  # a wrong guess is clearly worse
    fixed = C.run_baseline("deblur", "wiener-gaussian", blurred, reference=clean, psf_sigma=0.5)
    np.testing.assert_allclose(fixed, C.deblur_gaussian_guess(blurred, psf_sigma=0.5))


def test_non_blind_methods_are_labelled():
    assert C.baseline_label("bm3d") == "bm3d (true sigma)"
    assert C.baseline_label("wiener") == "wiener (true kernel)"
    assert C.baseline_label("bm3d-blind") == "bm3d-blind"
    assert set(C.NON_BLIND) <= {m for ms in C.BASELINES.values() for m in ms}


@pytest.mark.parametrize("method", ["biharmonic", "membrane"])
def test_inpainting_baselines_fill_holes(clean, method):
    mask = np.zeros(clean.shape[:2], bool)
    mask[20:26, 10:40] = True
    holed = D.fill_holes(clean, mask)
    out = C.run_baseline("inpaint", method, holed)  # mask from the white pixels
    _check(out, clean.shape)
    assert _mse(out, clean) < 0.05 * _mse(holed, clean)
    np.testing.assert_allclose(out[~mask], clean[~mask], atol=1e-6)


def test_dark_channel_recovers_closer_to_clean():
    rng = np.random.default_rng(2)
    # colourful blocks, each with a dark channel (the prior's assumption)
    blocks = rng.uniform(0.2, 0.9, (8, 8, 3))
    blocks[np.arange(8)[:, None], np.arange(8)[None, :], rng.integers(0, 3, (8, 8))] = 0.02
    clean = np.kron(blocks, np.ones((8, 8, 1))).astype(np.float32)
    depth = np.tile(np.linspace(2.0, 0.1, 64, dtype=np.float32)[:, None], (1, 64))
    hazy = D.add_haze(clean, rng, beta=1.2, airlight=0.9, depth=depth)
    out = C.run_baseline("dehaze", "dark-channel", hazy, patch=7, radius=4)
    _check(out, clean.shape)
    assert _mse(out, clean) < 0.5 * _mse(hazy, clean)
    air = C.estimate_airlight(hazy, C.dark_channel(hazy, 7))
    assert np.all(np.abs(air - 0.9) < 0.1)


def test_median_removes_thin_streaks(clean):
    rainy = clean.copy()
    rainy[:, 4::9] = 1.0  # one-pixel vertical streaks
    out = C.run_baseline("derain", "median", rainy, size=3)
    _check(out, clean.shape)
    assert _mse(out, clean) < 0.2 * _mse(rainy, clean)
    np.testing.assert_array_equal(C.run_baseline("derain", "input", rainy), rainy)


def test_unknown_method_and_missing_dependency(monkeypatch):
    with pytest.raises(C.UsageError, match="unknown method"):
        C.run_baseline("denoise", "wiener", np.zeros((4, 4, 3)))
    with pytest.raises(C.MissingDependencyError, match=r"irsde\[classic\]"):
        C._require("surely_not_a_module_xyz")
