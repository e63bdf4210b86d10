"""The deterministic few-step samplers (DDIM-like and 2nd-order multistep)."""

from __future__ import annotations

import pytest
import torch

from conftest import make_oracle
from irsde import IRSDE
from irsde.samplers import sample_ddim, sample_dpm2m

FAST = {"ddim": sample_ddim, "dpm2m": sample_dpm2m}


@pytest.mark.parametrize("name", list(FAST))
@pytest.mark.parametrize("steps", [1, 2, 5, 10, 100])
@pytest.mark.parametrize("spacing", ["uniform", "quadratic", "sigma"])
def test_oracle_recovers_x0(pair, name, steps, spacing):
    x0, mu = pair
    sde = IRSDE(10, 100)
    g = torch.Generator().manual_seed(0)
    out = FAST[name](make_oracle(sde, x0), sde, mu, steps, spacing=spacing, generator=g)
    assert (out - x0).abs().max() < 1e-4


@pytest.mark.parametrize("name", list(FAST))
def test_deterministic_given_x_T(pair, name):
    _x0, mu = pair
    sde = IRSDE(30, 100)
    net = lambda x, m, t: 0.5 * torch.tanh(x - m)  # noqa: E731
    x_T = sde.prior_sample(mu, torch.randn(mu.shape, generator=torch.Generator().manual_seed(1)))
    a = FAST[name](net, sde, mu, 7, x_T=x_T, generator=torch.Generator().manual_seed(2))
    b = FAST[name](net, sde, mu, 7, x_T=x_T, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ddim_trajectory_stays_on_the_marginal(pair):
    """With x_T on the marginal and the true noise, every state is q_sample(x0, s, same noise)."""
    x0, mu = pair
    sde = IRSDE(10, 100, dtype=torch.float64)
    x0, mu = x0.double(), mu.double()
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    seen = []
    net = lambda x, m, t: eps  # noqa: E731
    sample_ddim(net, sde, mu, 4, x_T=sde.q_sample(x0, mu, 100, eps), callback=seen.append)
    assert [c["t"] for c in seen] == sde.timesteps(4)
    for c in seen[:-1]:
        torch.testing.assert_close(c["x"], sde.q_sample(x0, mu, c["s"], eps))
    torch.testing.assert_close(seen[-1]["x"], x0)


def test_ddim_matches_hand_written_loop(pair):
    _x0, mu = pair
    sde = IRSDE(10, 100)
    net = lambda x, m, t: 0.3 * torch.tanh(x - m) + 0.01 * t.view(-1, 1, 1, 1).float() / 100  # noqa: E731
    x = sde.prior_sample(mu, torch.randn(mu.shape, generator=torch.Generator().manual_seed(4)))
    out = sample_ddim(net, sde, mu, 5, x_T=x.clone())
    ts = sde.timesteps(5)
    for t, s in zip(ts, [*ts[1:], 0], strict=True):
        eps = net(x, mu, torch.full((2,), t))
        x0_hat = sde.x0_from_noise(x, mu, eps, t)
        if s == 0:
            x = x0_hat
        else:
            c = torch.exp(-sde.thetas_cumsum[s] * sde.dt)
            x = mu + c * (x0_hat - mu) + sde.sigma_bar(s) * eps
    torch.testing.assert_close(out, x, atol=1e-5, rtol=1e-5)
