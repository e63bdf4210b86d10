"""Degradations, dead-leaves images and the ``irsde degrade`` command."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from PIL import Image

from irsde import degrade as D
from irsde.cli import main
from irsde.data import dead_leaves
from irsde.errors import ConfigError
from irsde.io import read_image, write_image
from irsde.tasks import TASKS


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture
def photo() -> np.ndarray:
    """A small textured image (dead leaves), 48 x 64."""
    return dead_leaves((48, 64), rng(7))


def flat(value: float = 0.5, shape=(64, 64, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


def connected_8(mask: np.ndarray) -> bool:
    """Whether the True pixels form one 8-connected piece."""
    pts = set(zip(*np.nonzero(mask), strict=True))
    start = next(iter(pts))
    seen, todo = {start}, deque([start])
    while todo:
        y, x = todo.popleft()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                q = (y + dy, x + dx)
                if q in pts and q not in seen:
                    seen.add(q)
                    todo.append(q)
    return len(seen) == len(pts)


# ----------------------------------------------------------------------------- noise


@pytest.mark.parametrize("sigma", [5, 25, 50])
def test_gaussian_noise_sigma(sigma):
    out = D.add_gaussian_noise(flat(), sigma, rng())
    assert out.dtype == np.float32 and out.shape == (64, 64, 3)
    assert np.std(out) * 255 == pytest.approx(sigma, rel=0.03)
    assert abs(np.mean(out) - 0.5) < 0.01


def test_poisson_gaussian_variance():
    img = flat(0.4, (128, 128, 3))
    out = D.add_poisson_gaussian_noise(img, rng(), peak=50, sigma=3, clip=False)
    expected = 0.4 / 50 + (3 / 255) ** 2
    assert np.var(out) == pytest.approx(expected, rel=0.05)
    assert np.mean(out) == pytest.approx(0.4, abs=0.005)


def test_jpeg_changes_image_keeps_shape(photo):
    out = D.jpeg_compress(photo, 20)
    assert out.shape == photo.shape and out.dtype == np.float32
    assert np.abs(out - photo).mean() > 1e-3
    assert np.abs(D.jpeg_compress(photo, 95) - photo).mean() < np.abs(out - photo).mean()


# ----------------------------------------------------------------------------- kernels


@pytest.mark.parametrize("sigma", [0.5, 1.0, 3.0])
def test_gaussian_kernel_normalised(sigma):
    k = D.gaussian_kernel(sigma)
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0)
    assert k.shape[0] % 2 == 1 and np.allclose(k, k.T) and np.allclose(k, k[::-1])
    aniso = D.gaussian_kernel(1.0, sigma2=3.0, angle=30)
    assert aniso.min() >= 0 and aniso.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(8))
def test_motion_kernel_normalised_and_connected(seed):
    k = D.motion_kernel(rng(seed), size=21)
    assert k.shape == (21, 21)
    assert k.min() >= 0 and k.sum() == pytest.approx(1.0)
    assert (k > 0).sum() > 5
    assert connected_8(k > 0)
    assert np.array_equal(k, D.motion_kernel(rng(seed), size=21))


def test_apply_kernel_is_a_reflect_padded_convolution():
    g = rng(1)
    img = g.random((9, 11, 2), dtype=np.float32)
    k = g.random((3, 5))
    k /= k.sum()
    pad = np.pad(img, ((1, 1), (2, 2), (0, 0)), mode="reflect")
    direct = np.zeros_like(img)
    for i in range(3):
        for j in range(5):
            # convolution: the kernel is flipped
            direct += k[2 - i, 4 - j] * pad[i : i + 9, j : j + 11]
    assert np.allclose(D.apply_kernel(img, k), direct, atol=1e-5)
    assert np.allclose(D.apply_kernel(flat(0.3, (6, 6, 3)), D.gaussian_kernel(3)), 0.3, atol=1e-5)


def test_blur_keeps_mean_and_smooths(photo):
    out = D.gaussian_blur(photo, 2.0)
    assert out.shape == photo.shape
    assert abs(out.mean() - photo.mean()) < 0.01
    assert np.abs(np.diff(out, axis=1)).mean() < np.abs(np.diff(photo, axis=1)).mean()


# ----------------------------------------------------------------------------- resize


def test_bicubic_shapes_and_constants(photo):
    lr = D.bicubic_downsample(photo, 4)
    assert lr.shape == (12, 16, 3)
    assert D.bicubic_down_up(photo, 4).shape == photo.shape
    assert D.bicubic_down_up(photo, 2).shape == photo.shape
    assert D.bicubic_resize(photo, (24, 32)).shape == (24, 32, 3)
    assert np.allclose(D.bicubic_downsample(flat(0.37), 4), 0.37, atol=1e-6)
    assert np.allclose(D.bicubic_resize(flat(0.37, (5, 7, 3)), (20, 28)), 0.37, atol=1e-6)
    assert np.array_equal(D.bicubic_resize(photo, photo.shape[:2]), photo)


# ----------------------------------------------------------------------------- masks


@pytest.mark.parametrize("shapes", ["mixed", "strokes", "boxes"])
@pytest.mark.parametrize("coverage", [0.1, 0.25, 0.4])
def test_mask_coverage(shapes, coverage):
    for seed in range(3):
        m = D.inpaint_mask((64, 80), rng(seed), coverage=coverage, shapes=shapes)
        assert m.dtype == bool and m.shape == (64, 80)
        assert abs(m.mean() - coverage) <= 0.025


def test_inpaint_holes_are_white(photo):
    out, mask = D.inpaint_holes(photo, rng(), coverage=0.3)
    assert np.all(out[mask] == 1.0)
    assert np.array_equal(out[~mask], photo[~mask])


def test_smooth_fill_keeps_known_pixels_and_interpolates_a_ramp():
    y, x = np.mgrid[0:48, 0:70].astype(np.float32)
    ramp = np.stack([x / 70, y / 48, (x + y) / 118], -1)
    mask = np.zeros((48, 70), bool)
    mask[10:30, 20:55] = True
    mask[40:, :5] = True  # touching the border
    out = D.smooth_fill(ramp, mask)
    assert out.dtype == np.float32 and out.shape == ramp.shape
    assert np.array_equal(out[~mask], ramp[~mask])
    inner = np.s_[10:30, 20:55]  # away from the border, a membrane is close to linear
    assert np.abs(out[inner] - ramp[inner]).max() < 0.02
    assert np.abs(out - ramp).max() < 0.1  # at the border it flattens (zero normal slope)
    gray = D.smooth_fill(ramp[..., 0], mask)
    assert gray.shape == (48, 70) and np.abs(gray[inner] - ramp[..., 0][inner]).max() < 0.02
    assert np.all(D.smooth_fill(ramp, np.ones((48, 70), bool)) == 0.5)
    assert np.array_equal(D.smooth_fill(ramp, np.zeros((48, 70), bool)), ramp)


def test_smooth_fill_stays_within_the_known_range(photo):
    _, mask = D.inpaint_holes(photo, rng(1), coverage=0.4)
    out = D.smooth_fill(photo, mask)
    known = photo[~mask]
    assert out[mask].min() >= known.min() - 1e-6 and out[mask].max() <= known.max() + 1e-6


def test_inpaint_fill_choice_keeps_the_mask(photo):
    white = D.synthesize(photo, "inpaint", rng(3))
    smooth = D.synthesize(photo, "inpaint", rng(3), fill="smooth")
    assert np.array_equal(white.mask, smooth.mask)  # the fill draws nothing random
    assert np.all(white.mu[white.mask] == 1.0) and not np.all(smooth.mu[smooth.mask] == 1.0)
    with pytest.raises(ConfigError, match="fill"):
        D.synthesize(photo, "inpaint", rng(3), fill="black")


# ----------------------------------------------------------------------------- haze, rain


def test_haze_between_scene_and_airlight(photo):
    depth = D.depth_map(photo.shape[:2], rng())
    assert depth.min() >= 0 and depth.max() <= 1
    t = D.haze_transmission(depth, 1.5)
    assert t.min() >= np.exp(-1.5) - 1e-6 and t.max() <= 1
    a = np.array([0.9, 0.85, 0.8], dtype=np.float32)
    out = D.add_haze(photo, rng(), beta=1.5, airlight=a, depth=depth)
    lo, hi = np.minimum(photo, a), np.maximum(photo, a)
    assert np.all(out >= lo - 1e-6) and np.all(out <= hi + 1e-6)
    assert np.abs(out - photo).mean() > 0.05


def test_rain_adds_bright_streaks(photo):
    out = D.add_rain(photo, rng(), density=0.01, angle=20, length=15, brightness=0.9)
    assert out.shape == photo.shape and out.dtype == np.float32
    assert np.all(out >= photo - 1e-6) and out.max() <= 1
    assert 0.01 < ((out - photo).max(-1) > 0.05).mean() < 0.6
    s = D.rain_streaks((64, 64), rng(), density=0.01, length=20)
    assert s.min() >= 0 and s.max() <= 1


# ----------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("task", list(TASKS))
def test_degrade_for_task(task, photo):
    mu = D.degrade_for_task(photo, task, rng(3))
    assert mu.shape == photo.shape and mu.dtype == np.float32
    assert mu.min() >= 0 and mu.max() <= 1
    assert np.abs(mu - photo).mean() > 1e-3
    assert np.array_equal(mu, D.degrade_for_task(photo, task, rng(3)))
    if task != "sr4":
        assert not np.array_equal(mu, D.degrade_for_task(photo, task, rng(4)))


def test_task_params_and_inputs(photo):
    noisy = D.degrade_for_task(flat(), "denoise", rng(), sigma=10)
    assert np.std(noisy) * 255 == pytest.approx(10, rel=0.05)
    res = D.synthesize(photo, "denoise", rng(), sigma=[20, 30])
    assert 20 <= res.params["sigma"] <= 30
    res = D.synthesize(photo, "deblur", rng(), kind="motion", noise_sigma=0)
    assert res.params["kind"] == "motion"
    with pytest.raises(ConfigError, match="sigmaa"):
        D.degrade_for_task(photo, "denoise", rng(), sigmaa=3)
    assert D.restore_input_for_task(photo, "sr4", rng()).shape == (12, 16, 3)
    res = D.synthesize(photo, "inpaint", rng(), coverage=0.2)
    assert res.mask is not None and abs(res.mask.mean() - 0.2) < 0.03


def test_log_uniform_draws_as_many_per_octave_low_as_high():
    draws = np.array([D._draw("sigma", {"log_uniform": [5, 45]}, rng(i)) for i in range(2000)])
    assert draws.min() >= 5 and draws.max() <= 45
    # 5-15 and 15-45 are equal in log scale: about half the draws in each (uniform: 1/4)
    assert abs(np.mean(draws < 15) - 0.5) < 0.05
    res = D.synthesize(flat(), "denoise", rng(), sigma={"log_uniform": [20, 20]})
    assert res.params["sigma"] == pytest.approx(20)
    for bad in ({"log_uniform": [0, 10]}, {"log": [5, 10]}, {"log_uniform": 5}):
        with pytest.raises(ConfigError, match="log_uniform"):
            D.synthesize(flat(), "denoise", rng(), sigma=bad)


def test_tiny_images_work():
    tiny = rng().random((8, 8, 3), dtype=np.float32)
    for task in TASKS:
        assert D.degrade_for_task(tiny, task, rng()).shape == (8, 8, 3)


# ----------------------------------------------------------------------------- dead leaves


def test_dead_leaves_range_and_variety():
    img = dead_leaves(64, rng(1))
    assert img.shape == (64, 64, 3) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() <= 1
    assert np.abs(np.diff(img, axis=0)).mean() > 0.01
    assert len(np.unique((img * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 500
    assert np.array_equal(img, dead_leaves(64, rng(1)))
    assert not np.array_equal(img, dead_leaves(64, rng(2)))


def test_dead_leaves_options():
    img = dead_leaves((32, 48), rng(), shapes=("disk",), palette="samples", blur=(0, 0))
    assert img.shape == (32, 48, 3)
    pal = np.array([[0.2, 0.4, 0.6]], dtype=np.float32)
    one = dead_leaves(32, rng(), palette=pal, texture=0, blur=(0, 0))
    assert np.allclose(one, pal[0], atol=1e-5)


# ----------------------------------------------------------------------------- CLI


@pytest.fixture
def images(tmp_path):
    src = tmp_path / "in"
    for i, size in enumerate([(32, 40), (48, 32), (40, 40)]):
        write_image(src / f"im{i}.png", dead_leaves(size, rng(i)))
    return src


def test_cli_degrade_writes_and_refuses_overwrite(images, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["degrade", str(images), "-o", str(out), "--task", "denoise"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["im0.png", "im1.png", "im2.png"]
    before = (out / "im0.png").read_bytes()
    # an existing output is skipped, as `irsde restore` does: not a failure, never replaced
    assert main(["degrade", str(images / "im0.png"), "-o", str(out), "--task", "dehaze"]) == 0
    assert "skipped" in capsys.readouterr().err
    assert (out / "im0.png").read_bytes() == before
    args = ["degrade", str(images / "im0.png"), "-o", str(out), "--task", "dehaze"]
    assert main([*args, "--overwrite"]) == 0
    assert (out / "im0.png").read_bytes() != before


def test_cli_degrade_bad_file_reported_rest_done(images, tmp_path, capsys):
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    code = main(["degrade", str(images / "*.png"), "-o", str(out), "--task", "derain"])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken.png" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["im0.png", "im1.png", "im2.png"]
    assert main(["degrade", str(tmp_path / "nope.png"), "-o", str(out), "--task", "derain"]) == 1
    assert main(["degrade", str(images), "-o", str(out), "--task", "nope"]) == 2


def test_cli_degrade_sr4_mask_and_order_independence(images, tmp_path):
    out = tmp_path / "out"
    assert main(["degrade", str(images), "-o", str(out), "--task", "sr4"]) == 0
    assert read_image(out / "im0.png").shape == (8, 10, 3)
    full = tmp_path / "full"
    assert main(["degrade", str(images), "-o", str(full), "--task", "sr4", "--no-lr"]) == 0
    assert read_image(full / "im0.png").shape == (32, 40, 3)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["degrade", str(images), "-o", str(a), "--task", "inpaint", "--save-mask"]) == 0
    assert main(["degrade", str(images / "im2.png"), "-o", str(b), "--task", "inpaint"]) == 0
    assert (a / "im2.png").read_bytes() == (b / "im2.png").read_bytes()
    mask = np.asarray(Image.open(a / "masks" / "im2.png"))
    assert mask.shape == (40, 40) and 0.05 < (mask > 127).mean() < 0.5
    assert np.all(read_image(a / "im2.png")[mask > 127] == 1.0)


@pytest.mark.parametrize("task", ["denoise", "deblur", "derain", "dehaze", "inpaint"])
def test_a_gray_image_stays_gray(photo, task):
    gray = np.repeat(photo.mean(axis=2, keepdims=True), 3, axis=2)
    params = {"noise_sigma": 2.0} if task == "deblur" else {}
    mu = D.synthesize(gray, task, rng(3), **params).mu
    assert D.is_gray(mu) and not np.array_equal(mu, gray)
    if task in ("denoise", "deblur", "dehaze"):  # colour photos get per-channel noise / tint
        assert not D.is_gray(D.synthesize(photo, task, rng(3), **params).mu)


def test_shared_noise_is_one_field_of_the_requested_strength():
    out = D.add_gaussian_noise(flat(shape=(200, 200, 3)), 25, rng(), clip=False, shared=True)
    assert D.is_gray(out)
    assert abs(float((out - 0.5).std()) * 255 - 25) < 0.5


def test_cli_degrades_a_gray_file_into_a_gray_file(tmp_path, photo):
    write_image(tmp_path / "g.png", photo[..., :1])
    assert (
        main(["degrade", str(tmp_path / "g.png"), "-o", str(tmp_path / "out"), "--task", "denoise"])
        == 0
    )
    out = Image.open(tmp_path / "out" / "g.png")
    assert out.mode == "L" and np.abs(np.asarray(out) / 255.0 - photo[..., 0]).mean() > 0.02
