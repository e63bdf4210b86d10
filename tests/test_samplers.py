"""Samplers with an oracle network: exact recovery, convergence, reproducibility."""

from __future__ import annotations

import itertools

import pytest
import torch

from conftest import make_oracle
from irsde import IRSDE
from irsde.samplers import SAMPLERS, sample, sample_posterior


@pytest.mark.parametrize("steps", [1, 2, 5, 10, 33, 100])
@pytest.mark.parametrize("spacing", ["uniform", "quadratic", "sigma"])
def test_posterior_recovers_x0_with_oracle(pair, steps, spacing):
    x0, mu = pair
    sde = IRSDE(10, 100)
    out = sample_posterior(
        make_oracle(sde, x0),
        sde,
        mu,
        steps,
        spacing=spacing,
        generator=torch.Generator().manual_seed(0),
    )
    assert (out - x0).abs().max() < 1e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_posterior_full_run_matches_reference_loop(pair, dtype):
    """steps = T reproduces the reference loop x_{t-1} = posterior_step(x_t, t) with the same
    noise: to rounding in float64 (the sampler folds the step into three coefficients).
    In float32 the sampler's coefficients are computed in float64, so it stays within
    2e-4 of the float64 reference loop (measured 5e-5), closer than the float32 loop
    itself (2e-3 after 100 chaotic steps)."""
    net = lambda x, m, t: 0.3 * torch.tanh(x - m) + 0.01 * t.view(-1, 1, 1, 1).to(x.dtype) / 100  # noqa: E731
    g = torch.Generator().manual_seed(7)
    zs64 = [torch.randn(pair[0].shape, generator=g, dtype=torch.float64) for _ in range(101)]

    def reference_loop(dt):
        sde = IRSDE(10, 100, dtype=dt)
        mu, zs = pair[1].to(dt), [z.to(dt) for z in zs64]
        x = sde.prior_sample(mu, zs[0])
        for i, t in enumerate(range(sde.T, 0, -1)):
            x = sde.posterior_step(x, mu, net(x, mu, torch.full((2,), t)), t, zs[i + 1])
        return x.double()

    sde, mu = IRSDE(10, 100, dtype=dtype), pair[1].to(dtype)
    zs = [z.to(dtype) for z in zs64]
    out = sample_posterior(net, sde, mu, noise_fn=lambda i, like: zs[i + 1]).double()
    truth = reference_loop(torch.float64)
    tol = 1e-9 if dtype == torch.float64 else 2e-4
    torch.testing.assert_close(out, truth, atol=tol, rtol=0)
    if dtype == torch.float32:
        loop32 = float((reference_loop(torch.float32) - truth).abs().max())
        assert float((out - truth).abs().max()) < loop32 / 5


def test_posterior_transition_coefficients_are_float64_accurate():
    """With T = 1000, float32 coefficients lose their digits near t = 1 (k_x at t = 2 was
    0.975); computed in float64 and cast, they match the float64 SDE's."""
    like = torch.zeros(1, 1, 2, 2)
    s32, s64 = IRSDE(25, 1000), IRSDE(25, 1000, dtype=torch.float64)
    for t in (2, 20, 500):
        got = s32.posterior_transition(t, like=like)
        want = s64.posterior_transition(t, like=like.double())
        assert all(g.dtype == torch.float32 for g in got)
        assert float(got[0]) == pytest.approx(float(want[0]), abs=1e-6)
        for g_, w in zip(got[1:], want[1:], strict=True):  # float32 schedule arrays: 3e-3
            assert float(g_) == pytest.approx(float(w), rel=5e-3)
    k_x, _, _ = s32.posterior_transition(torch.tensor([2, 2]), like=like.expand(2, 1, 2, 2))
    assert k_x.shape == (2, 1, 1, 1) and float(k_x[0]) == pytest.approx(1.0, abs=1e-3)


def test_posterior_few_step_is_exact_transition():
    """Composing two exact posterior transitions t->s->r equals... the marginal law of x_r.

    With the oracle x0, x_s drawn from q(x_s | x_t, x0) for x_t ~ q(x_t | x0) must follow
    the forward marginal q(x_s | x0): check its mean and std on many samples.
    """
    sde = IRSDE(10, 100, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    n = 50000
    x0 = torch.full((n, 1, 1, 1), 0.7, dtype=torch.float64)
    mu = torch.full_like(x0, 0.3)
    t, s = 80, 30
    x_t = sde.q_sample(x0, mu, t, torch.randn(x0.shape, generator=g, dtype=torch.float64))
    mean = sde.optimal_prev(x_t, x0, mu, t, s)
    x_s = mean + sde.posterior_std(t, s, like=x_t) * torch.randn(
        x0.shape, generator=g, dtype=torch.float64
    )
    assert float(x_s.mean()) == pytest.approx(
        float(sde.mu_bar(x0[:1], mu[:1], s).squeeze()), abs=5e-4
    )
    assert float(x_s.std()) == pytest.approx(float(sde.sigma_bars[s]), rel=0.02)


def _exact_start(sde, x0, mu, seed):
    """x_T drawn from the true marginal q(x_T | x0), removing the prior's small bias."""
    return sde.q_sample(
        x0, mu, sde.T, torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    )


def test_ode_sampler_converges_as_steps_grow(pair):
    x0, mu = pair
    sde = IRSDE(10, 100)
    errs = []
    for steps in (2, 5, 10, 20, 50, 100):
        out = sample(make_oracle(sde, x0), sde, mu, "ode", steps, x_T=_exact_start(sde, x0, mu, 0))
        errs.append(float((out - x0).abs().mean()))
    assert all(a > b for a, b in itertools.pairwise(errs)), errs
    assert errs[-1] < 1e-3


@pytest.mark.parametrize("steps", [3, 10, 100])
def test_sde_sampler_ends_at_x0_plus_last_step_noise(steps):
    """With the exact score the reverse SDE lands on x0 up to the noise of its last Euler step."""
    sde = IRSDE(10, 100)
    g = torch.Generator().manual_seed(5)
    x0 = torch.rand(4, 3, 32, 32, generator=g)
    mu = 0.7 * x0 + 0.1
    out = sample(
        make_oracle(sde, x0), sde, mu, "sde", steps, x_T=_exact_start(sde, x0, mu, 1), generator=g
    )
    ts = sde.timesteps(steps)
    h = float(sde.thetas_cumsum[ts[-1]]) * sde.dt  # integrated theta of the last step (to 0)
    expected_std = sde.lam * (2 * h) ** 0.5
    err = out - x0
    assert float(err.mean()).__abs__() < 0.1 * expected_std
    assert float(err.std()) == pytest.approx(expected_std, rel=0.15)


def test_ode_is_deterministic_given_start(pair):
    x0, mu = pair
    sde = IRSDE(10, 100)
    x_T = sde.prior_sample(mu, torch.randn(mu.shape, generator=torch.Generator().manual_seed(0)))
    a = sample(
        make_oracle(sde, x0),
        sde,
        mu,
        "ode",
        10,
        x_T=x_T,
        generator=torch.Generator().manual_seed(1),
    )
    b = sample(
        make_oracle(sde, x0),
        sde,
        mu,
        "ode",
        10,
        x_T=x_T,
        generator=torch.Generator().manual_seed(2),
    )
    torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", [n for n, s in SAMPLERS.items() if s.supports(IRSDE())])
def test_seeded_runs_reproduce_and_differ(pair, name):
    _x0, mu = pair
    sde = IRSDE(10, 100)
    net = lambda x, m, t: torch.zeros_like(x)  # noqa: E731
    a = sample(net, sde, mu, name, 5, generator=torch.Generator().manual_seed(0))
    b = sample(net, sde, mu, name, 5, generator=torch.Generator().manual_seed(0))
    c = sample(net, sde, mu, name, 5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_callback_and_batch(pair):
    x0, mu = pair
    sde = IRSDE(10, 100)
    seen = []
    out = sample(make_oracle(sde, x0), sde, mu, "posterior", 4, callback=seen.append)
    assert [s["t"] for s in seen] == sde.timesteps(4)
    assert seen[-1]["s"] == 0 and seen[0]["steps"] == 4
    assert out.shape == x0.shape


def test_network_receives_per_sample_long_timesteps(pair):
    _, mu = pair
    sde = IRSDE(10, 100)
    seen = []

    def net(x, m, t):
        seen.append(t)
        return torch.zeros_like(x)

    sample(net, sde, mu, "sde", 3)
    assert all(t.dtype == torch.long and t.shape == (2,) for t in seen)
    assert [int(t[0]) for t in seen] == sde.timesteps(3)


def test_unknown_sampler_and_bad_steps(pair):
    _, mu = pair
    sde = IRSDE(10, 100)
    net = lambda x, m, t: torch.zeros_like(x)  # noqa: E731
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(net, sde, mu, "heun")
    with pytest.raises(ValueError, match="steps"):
        sample(net, sde, mu, "posterior", 1000)
