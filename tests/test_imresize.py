"""MATLAB-compatible bicubic imresize (antialiased, a = -0.5) and the sr4 downscaling."""

from __future__ import annotations

import numpy as np
import pytest

from irsde.degrade import bicubic_resize, downscale, matlab_imresize
from irsde.errors import ConfigError
from irsde.tasks import get_task
from irsde.tasks.sr4 import trained_downscale

# Derived by hand from MATLAB's imresize (Keys cubic, a = -0.5; pixel x samples
# u = x / s + (1 - 1 / s) / 2; shrinking: kernel s * cubic(s * d), 4 / s wide;
# symmetric edges, the edge pixel repeated), see the comments.
# x0.5 of [a b c d]: u = 1.5, taps at -3..6 (1-based) with weights
# 0.5 * cubic(0.5 * (1.5 - i)) = 0, -0.01171875, -0.03515625, 0.11328125, 0.43359375,
# 0.43359375, 0.11328125, -0.03515625, -0.01171875, 0 on d, c, b, a, a, b, c, d, d, c:
DOWN_HALF = np.array(
    [[0.546875, 0.3984375, 0.1015625, -0.046875], [-0.046875, 0.1015625, 0.3984375, 0.546875]]
)
# x2 of [a b]: u = 0.75 -> cubic of 2.75..-2.25 on b, b, a, a, b, b (taps -2..3) and
# u = 1.25 -> on b, a, a, b, b, a (taps -1..4); the last two outputs mirror the first two:
UP_TWO = np.array(
    [[1.09375, -0.09375], [0.796875, 0.203125], [0.203125, 0.796875], [-0.09375, 1.09375]]
)


def test_hand_derived_one_dimensional_cases():
    x = np.array([0.1, 0.7, 0.3, 0.9])
    row = matlab_imresize(np.tile(x, (4, 1)), 0.5, clip=False)
    np.testing.assert_allclose(row, np.tile(DOWN_HALF @ x, (2, 1)), atol=1e-6)
    y = np.array([0.2, 0.6])
    col = matlab_imresize(np.tile(y[:, None], (1, 3)), 2, clip=False)
    np.testing.assert_allclose(col, np.tile((UP_TWO @ y)[:, None], (1, 6)), atol=1e-6)


def test_separable_on_an_outer_product_and_per_channel():
    u, v = np.array([0.2, 0.9, 0.4, 0.6]), np.array([0.5, 0.1, 0.8, 0.3])
    img = np.stack([np.outer(u, v), np.outer(v, u)], axis=2)
    out = matlab_imresize(img, 0.5, clip=False)
    np.testing.assert_allclose(out[..., 0], np.outer(DOWN_HALF @ u, DOWN_HALF @ v), atol=1e-6)
    np.testing.assert_allclose(out[..., 1], np.outer(DOWN_HALF @ v, DOWN_HALF @ u), atol=1e-6)


def test_sizes_constants_and_bad_arguments():
    img = np.full((10, 7, 3), 0.37, np.float32)
    assert matlab_imresize(img, 0.25).shape == (3, 2, 3)  # ceil, as MATLAB
    np.testing.assert_allclose(matlab_imresize(img, size=(5, 9)), 0.37, atol=1e-6)
    with pytest.raises(ValueError, match="scale or a size"):
        matlab_imresize(img)
    with pytest.raises(ConfigError, match="unknown downscale method 'box'"):
        downscale(img, 4, "box")


def test_matlab_and_pillow_agree_inside_the_image_and_differ_at_the_edges():
    rng = np.random.default_rng(0)
    img = bicubic_resize(rng.random((16, 16, 3), dtype=np.float32), (64, 64))  # smooth
    matlab, pillow = downscale(img, 4), downscale(img, 4, "pillow-bicubic")
    assert matlab.shape == pillow.shape == (16, 16, 3)
    np.testing.assert_allclose(matlab[2:-2, 2:-2], pillow[2:-2, 2:-2], atol=1e-5)
    assert np.abs(matlab - pillow).max() > 1e-3


def test_sr4_makes_matlab_lr_images_and_models_record_how():
    sr4 = get_task("sr4")
    img = np.random.default_rng(1).random((32, 32, 3), dtype=np.float32)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(sr4.synthesize(img, rng).lr, downscale(img, 4))
    old = sr4.synthesize(img, rng, downscale="pillow-bicubic").lr
    np.testing.assert_array_equal(old, downscale(img, 4, "pillow-bicubic"))
    assert sr4.task_params_from({}) == {"downscale": "matlab-bicubic"}
    assert trained_downscale({}) == "pillow-bicubic"  # the models made before it was recorded
    with pytest.raises(ConfigError, match="sr4 downscale"):
        sr4.check_task_params({"downscale": "nearest"})


def test_degrade_command_writes_matlab_lr_images(tmp_path):
    from irsde.cli import main
    from irsde.io import read_image, to_uint8, write_image

    img = np.random.default_rng(2).random((16, 20, 3), dtype=np.float32)
    write_image(tmp_path / "hr.png", img)
    assert (
        main(["degrade", str(tmp_path / "hr.png"), "-o", str(tmp_path / "lr"), "--task", "sr4"])
        == 0
    )
    lr = read_image(next((tmp_path / "lr").glob("hr*.png")))
    expected = downscale(read_image(tmp_path / "hr.png"), 4)
    np.testing.assert_array_equal(to_uint8(lr), to_uint8(expected))
