"""Networks that predict x0 and return the equivalent noise (the call convention is kept)."""

from __future__ import annotations

import pytest
import torch

from irsde import IRSDE
from irsde.models import load_model, save_model
from irsde.nets import build_network

SDE = {"max_sigma": 30, "T": 100, "schedule": "cosine", "eps": 0.005}
PARAMS = {"width": 8, "enc_blocks": [1], "middle_blocks": 1, "dec_blocks": [1]}


def test_x0_network_returns_noise_whose_x0_is_the_residual_output():
    torch.manual_seed(0)
    net = build_network("ConditionalNAFNet", **PARAMS, prediction="x0", sde=SDE).eval()
    base = build_network("ConditionalNAFNet", **PARAMS).eval()
    base.load_state_dict(net.state_dict())
    sde = IRSDE(**SDE)
    x_t, mu = torch.rand(2, 3, 12, 10), torch.rand(2, 3, 12, 10)
    t = torch.tensor([1, 100])
    with torch.no_grad():
        noise = net(x_t, mu, t)
        x0_hat = sde.x0_from_noise(x_t, mu, noise, t)
        torch.testing.assert_close(x0_hat, mu + base(x_t, mu, t), atol=2e-5, rtol=1e-5)


def test_x0_network_round_trips_through_model_files(tmp_path):
    net = build_network("ConditionalNAFNet", **PARAMS, prediction="x0", sde=SDE)
    save_model(net, tmp_path / "m.safetensors", sde=SDE, task="sr4")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.irsde_config["arch_params"]["prediction"] == "x0"
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, x * 0.5, 7), net.eval()(x, x * 0.5, 7))


def test_x0_prediction_needs_sde():
    with pytest.raises(ValueError, match="needs the SDE"):
        build_network("ConditionalNAFNet", **PARAMS, prediction="x0")
    with pytest.raises(ValueError, match="prediction"):
        build_network("ConditionalNAFNet", **PARAMS, prediction="v")
