"""Contract of every registered SDE: its closed forms agree with each other and with a
fine Euler-Maruyama simulation of its own forward SDE. A new process registered in
``irsde.sde.SDES`` is tested here by itself."""

from __future__ import annotations

import math

import pytest
import torch

from irsde.sde import SDE, SDES, build_sde

F64 = torch.float64


def instance(name: str, **kw) -> SDE:
    """The process with its default settings (float64 arrays where it takes a dtype)."""
    try:
        return SDES[name](dtype=F64, **kw)
    except TypeError:
        return SDES[name](**kw)


@pytest.fixture(params=sorted(SDES))
def sde(request) -> SDE:
    return instance(request.param)


def states(sde: SDE, n: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0 = torch.rand(n, 3, 5, 7, generator=g, dtype=F64)
    mu = 0.7 * x0 + 0.2 + 0.05 * torch.randn(x0.shape, generator=g, dtype=F64)
    return x0, mu


def probe_times(sde: SDE) -> list[int]:
    T = sde.T
    return sorted({1, 2, T // 4, T // 2, T - 1, T} - {0})


def test_spec_round_trips_through_the_registry(sde):
    spec = sde.spec()
    assert spec["type"] == sde.type and SDES[spec["type"]] is type(sde)
    again = build_sde(spec)
    assert type(again) is type(sde) and again.config() == sde.config()
    assert type(sde)(**sde.config()).config() == sde.config()
    assert len(sde.sigma_bars) == sde.T + 1


def test_unknown_type_and_bad_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown SDE type 'nope'"):
        build_sde({"type": "nope"})
    with pytest.raises(ValueError, match="invalid settings"):
        build_sde({"type": "irsde", "bogus": 1})


def test_marginal_coefficients_match_the_closed_forms(sde):
    x0, mu = states(sde)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert sde.marginal_coefs(0) == (1.0, 0.0)
    for t in probe_times(sde):
        alpha, sigma = sde.marginal_coefs(t)
        torch.testing.assert_close(sde.mu_bar(x0, mu, t), mu + alpha * (x0 - mu))
        assert float(sde.sigma_bar(t)) == pytest.approx(sigma, rel=1e-12)
        x_t = sde.q_sample(x0, mu, t, noise)
        torch.testing.assert_close(x_t, mu + alpha * (x0 - mu) + sigma * noise)
        if sigma == 0:  # a bridge pinned at mu (GOUB at T): x_t holds no noise to invert
            assert alpha == 0 and t == sde.T
            continue
        torch.testing.assert_close(sde.x0_from_noise(x_t, mu, noise, t), x0)
        torch.testing.assert_close(sde.noise_from_x0(x_t, x0, mu, t), noise)
        torch.testing.assert_close(sde.score_from_noise(noise, t), -noise / sigma)


def test_per_sample_timesteps_broadcast(sde):
    x0, mu = states(sde, n=3)
    ts = torch.tensor(probe_times(sde)[-3:])
    noise = torch.randn(x0.shape, dtype=F64, generator=torch.Generator().manual_seed(2))
    batched = sde.q_sample(x0, mu, ts, noise)
    for i, t in enumerate(ts.tolist()):
        torch.testing.assert_close(
            batched[i], sde.q_sample(x0[i : i + 1], mu[i : i + 1], t, noise[i : i + 1])[0]
        )


@pytest.mark.parametrize("pair", [(1.0, 0.5), (0.25, 0.0)])
def test_posterior_composes_into_the_marginal(sde, pair):
    """x_t ~ q(x_t | x0) then x_s ~ q(x_s | x_t, x0) is x_s ~ q(x_s | x0): in closed form."""
    x0, mu = states(sde)
    t = max(2, round(pair[0] * sde.T))
    for s in sorted({t - 1, max(1, round(pair[1] * sde.T)), 1} - {t}):
        if not 1 <= s < t:
            continue
        mean_t = sde.mu_bar(x0, mu, t)
        mean_s = sde.optimal_prev(mean_t, x0, mu, t, s)
        torch.testing.assert_close(mean_s, sde.mu_bar(x0, mu, s))
        slope = sde.optimal_prev(mean_t + 1, x0, mu, t, s) - mean_s  # d mean / d x_t
        var = slope**2 * float(sde.sigma_bar(t)) ** 2 + float(sde.posterior_std(t, s)) ** 2
        torch.testing.assert_close(var, torch.full_like(var, float(sde.sigma_bar(s)) ** 2))


def test_posterior_transition_is_the_posterior_step(sde):
    if not sde.provides("posterior_transition"):
        pytest.skip(f"{sde.type} has no posterior transition")
    x0, mu = states(sde)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(3), dtype=F64)
    for t in probe_times(sde)[1:]:
        for s in {t - 1, max(1, t // 3)}:
            x_t = sde.q_sample(x0, mu, t, noise) + 0.01
            k_x, k_noise, std = sde.posterior_transition(t, None if s == t - 1 else s, like=x_t)
            x0_hat = sde.x0_from_noise(x_t, mu, noise, t)
            expect = sde.optimal_prev(x_t, x0_hat, mu, t, s)
            torch.testing.assert_close(mu + k_x * (x_t - mu) - k_noise * noise, expect)
            assert float(std) == pytest.approx(float(sde.posterior_std(t, s)), rel=1e-9)


def test_closed_forms_match_a_fine_euler_maruyama_simulation(sde):
    """Simulate the forward SDE from x0 with several Euler-Maruyama sub-steps per
    timestep; the sample mean and std at several timesteps match mu_bar and sigma_bar."""
    T = sde.T
    # a bridge pinned at mu is checked up to T - 1: its last step has an infinite drift
    last = T if float(sde.sigma_bar(T)) > 0 else T - 1
    sub = max(2, 2000 // T)
    g = torch.Generator().manual_seed(4)
    x0 = torch.full((20000, 1, 1, 1), 0.8, dtype=F64)
    mu = torch.full_like(x0, 0.2)
    x = x0.clone()
    step = sde.dt / sub
    for t in range(1, last + 1):
        for _ in range(sub):
            z = torch.randn(x.shape, generator=g, dtype=F64)
            x = (
                x
                + sde.forward_drift(x, x0, mu, t) * step
                + sde.diffusion(t, x) * math.sqrt(step) * z
            )
        if t in {T // 4, T // 2, last}:
            assert float(x.mean()) == pytest.approx(float(sde.mu_bar(x0[:1], mu[:1], t)), abs=4e-3)
            assert float(x.std()) == pytest.approx(float(sde.sigma_bar(t)), rel=0.03, abs=1e-3)


def test_timestep_grids_start_where_asked(sde):
    T = sde.T
    assert sde.timesteps() == list(range(T, 0, -1))
    for start in (T, max(1, T // 2)):
        for steps in (1, 3, None):
            ts = sde.timesteps(steps, start=start)
            assert ts[0] == start and ts == sorted(set(ts), reverse=True) and ts[-1] >= 1
            assert len(ts) == (start if steps is None else min(steps, start))
    with pytest.raises(ValueError, match="start"):
        sde.timesteps(3, start=T + 1)
    with pytest.raises(ValueError, match="spacing"):
        sde.timesteps(None, "bogus")
