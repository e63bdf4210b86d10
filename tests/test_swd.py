"""Sliced Wasserstein distance of Laplacian-pyramid patches (``irsde.metrics.swd``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irsde.metrics import SWD, laplacian_pyramid, patch_descriptors, sliced_wasserstein, swd


def _photos(n: int = 3, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Smooth random images with edges (uint8, H x W x 3)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        yy, xx = np.mgrid[0:size, 0:size]
        base = 128 + 60 * np.sin(xx / rng.uniform(3, 9)) * np.cos(yy / rng.uniform(3, 9))
        base = base[..., None] + rng.uniform(-40, 40, 3) * (xx > rng.integers(10, 50))[..., None]
        out.append(np.clip(base, 0, 255).astype(np.uint8))
    return out


def test_one_dimensional_case_by_hand():
    """1x1 patches of a one-channel, one-level set: W1 of the normalised pixel values."""
    a = [np.array([[v]], dtype=np.uint8) for v in (0, 0, 0, 1)]
    b = [np.array([[v]], dtype=np.uint8) for v in (0, 1, 1, 1)]
    got = swd(a, b, levels=1, patch=1, per_image=1)
    # normalised: a -> (-1, -1, -1, 3) / sqrt(3), b -> (-3, 1, 1, 1) / sqrt(3): every |diff| 2/sqrt(3)
    assert got.levels == pytest.approx((1e3 * 2 / math.sqrt(3),))
    assert got.mean == pytest.approx(1e3 * 2 / math.sqrt(3))


def test_projection_of_known_point_sets():
    """Two 2-D point sets that differ by a reflection of one coordinate."""
    a = np.array([[0.0, 0.0], [1.0, 0.0]])
    b = np.array([[0.0, 0.0], [2.0, 0.0]])
    # along direction (c, s): projections (0, c) vs (0, 2c) -> mean |diff| = |c| / 2
    rng = np.random.default_rng(0)
    got = sliced_wasserstein(a, b, rng, directions=20000)
    assert got == pytest.approx(0.5 * 2 / math.pi, rel=0.02)  # E|cos| = 2 / pi


def test_identical_sets_score_zero_and_a_gain_is_invisible():
    imgs = _photos()
    assert swd(imgs, imgs).mean == 0.0
    brighter = [np.clip(1.0 * im * 0.5 + 40, 0, 255) for im in imgs]
    assert swd(brighter, imgs).mean == pytest.approx(0.0, abs=1e-6)


def test_noise_and_blur_raise_the_distance_where_expected():
    rng = np.random.default_rng(1)
    imgs = _photos()
    light = [np.clip(im + rng.normal(0, 4, im.shape), 0, 255) for im in imgs]
    heavy = [np.clip(im + rng.normal(0, 25, im.shape), 0, 255) for im in imgs]
    s_light, s_heavy = swd(light, imgs), swd(heavy, imgs)
    assert 0 < s_light.mean < s_heavy.mean
    assert s_heavy.levels[0] > s_heavy.levels[-1]  # noise lives in the finest band
    assert len(s_heavy.levels) == 4 and isinstance(s_heavy, SWD)


def test_pyramid_bands_reconstruct_and_vanish_on_flat_images():
    img = _photos(1, 40)[0].astype(np.float64)
    bands = laplacian_pyramid(img, 3)
    assert [b.shape[:2] for b in bands] == [(40, 40), (20, 20), (10, 10)]
    flat = laplacian_pyramid(np.full((32, 32, 3), 77.0), 3)
    assert all(np.abs(b).max() < 1e-9 for b in flat[:-1]) and np.allclose(flat[-1], 77.0)


def test_descriptors_shape_and_too_small_images():
    rng = np.random.default_rng(0)
    d = patch_descriptors(_photos(1, 64)[0], rng, levels=4, per_image=10)
    assert [x.shape for x in d] == [(10, 3, 7, 7)] * 4
    with pytest.raises(ValueError, match="too small for SWD with 4 levels"):
        patch_descriptors(np.zeros((40, 40, 3)), rng, levels=4)


def test_seed_changes_the_estimate_but_not_its_size():
    rng = np.random.default_rng(2)
    imgs = _photos()
    noisy = [np.clip(im + rng.normal(0, 10, im.shape), 0, 255) for im in imgs]
    a, b = swd(noisy, imgs, seed=0).mean, swd(noisy, imgs, seed=1).mean
    assert a != b and abs(a - b) < 0.35 * a
    with pytest.raises(ValueError, match="equal size"):
        swd(imgs, imgs[:2])


def test_irsde_eval_swd_matches_the_metric_and_reports_small_images(tmp_path, capsys):
    import json

    from irsde.cli import main
    from irsde.io import save_image

    gts = _photos(3, 64, seed=5)
    rng = np.random.default_rng(3)
    preds = [np.clip(g + rng.normal(0, 12, g.shape), 0, 255).astype(np.uint8) for g in gts]
    for i, (p, g) in enumerate(zip(preds, gts, strict=True)):
        save_image(tmp_path / f"pred/im{i}.png", p)
        save_image(tmp_path / f"gt/im{i}.png", g)
    save_image(tmp_path / "pred/small.png", np.zeros((30, 30, 3), np.uint8))
    save_image(tmp_path / "gt/small.png", np.zeros((30, 30, 3), np.uint8))
    args = ["eval", "--pred", str(tmp_path / "pred"), "--gt", str(tmp_path / "gt")]
    rc = main([*args, "--swd", "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert rc == 1 and "small.png: SWD: image 30x30 too small" in captured.err
    want = swd(preds, gts)  # the pairs in name order, as eval scores them
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["mean"]["swd"] == pytest.approx(want.mean)
    assert data["mean"]["swd_levels"] == pytest.approx(list(want.levels))
    assert data["mean"]["count"] == 4 and f"{want.mean:.2f}" in captured.out
    assert main(args) == 0 and "SWD" not in capsys.readouterr().out
