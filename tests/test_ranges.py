"""Public entry points check the dtype and range of images and say what they expect."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from irsde import metrics
from irsde.errors import InputError
from irsde.restore import Restorer

RNG = np.random.default_rng(0)


def pair() -> tuple[np.ndarray, np.ndarray]:
    a = RNG.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    b = np.clip(a + RNG.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    return a, b


def test_metrics_refuse_floats_in_0_1_instead_of_scoring_them_as_8_bit():
    a, b = pair()
    true = metrics.psnr(a, b)
    assert metrics.psnr(a.astype(np.float64), b.astype(np.float64)) == pytest.approx(true)
    for fn in (metrics.psnr, metrics.ssim, metrics.psnr_y, metrics.paper_scores):
        with pytest.raises(ValueError, match=r"in \[0, 1\].*0\.\.255 scale.*to_uint8"):
            fn(a / 255, b / 255)
    with pytest.raises(ValueError, match=r"uint16 image with values .*0\.\.255"):
        metrics.psnr(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257)
    zeros = np.zeros((4, 4, 3))
    assert metrics.psnr(zeros, zeros) == math.inf  # all-zero floats are no evidence of [0, 1]


class Identity(nn.Module):
    """Predicts no noise: restores ``mu`` itself; carries a minimal config."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        sde = {"max_sigma": 10, "T": 10, "schedule": "cosine", "eps": 0.005}
        self.irsde_config = {"sde": sde, "task": "denoise", "sampler": None}

    def forward(self, x, mu, t):
        return torch.zeros_like(x) + self.w


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    return Restorer(Identity(), steps=1, tile=None, device="cpu")


def test_restore_refuses_float_arrays_on_the_0_255_scale(restorer):
    img = RNG.random((6, 7, 3)).astype(np.float32)
    assert restorer.restore(img).shape == (6, 7, 3)
    with pytest.raises(
        InputError, match=r"values .*: expected uint8, uint16 or float in \[0, 1\].*divide by 255"
    ):
        restorer.restore(img * 255)
    with pytest.raises(InputError, match=r"shape \(3, 6, 7\).*transpose"):
        restorer.restore(img.transpose(2, 0, 1))
    with pytest.raises(InputError, match=r"int32 image with values"):
        restorer.restore((img * 1000).astype(np.int32))
    with pytest.raises(InputError, match=r"float tensor .*\(C, H, W\)"):
        restorer.restore(torch.from_numpy(img.transpose(2, 0, 1)) * 255)
    assert restorer.restore((img * 255).astype(np.uint8)).dtype == np.uint8
