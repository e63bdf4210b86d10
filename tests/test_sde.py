"""The SDE core: schedules, closed forms, reverse steps, against the spec's formulas."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from irsde import IRSDE
from irsde.sde import make_thetas

SCHEDULES = ["cosine", "linear", "constant"]


def spec_arrays(max_sigma: float, T: int, schedule: str, eps: float) -> dict[str, torch.Tensor]:
    """A literal transcription of sde.md's discretization, written independently in float32."""
    lam = max_sigma / 255 if max_sigma >= 1 else max_sigma
    if schedule == "cosine":
        n = T + 2
        s = 0.008
        x = torch.arange(n + 1, dtype=torch.float32)
        abar = torch.cos(((x / n) + s) / (1 + s) * math.pi / 2) ** 2
        abar = abar / abar[0]
        thetas = 1 - abar[1:n]
    elif schedule == "linear":
        k = 1000 / (T + 1)
        thetas = torch.linspace(k * 1e-4, k * 0.02, T + 1)
    else:
        thetas = torch.ones(T + 1)
    cumsum = torch.cumsum(thetas, 0) - thetas[0]
    dt = -math.log(eps) / float(cumsum[T])
    return {
        "lam": torch.tensor(lam),
        "thetas": thetas,
        "sigmas": torch.sqrt(2 * lam**2 * thetas),
        "thetas_cumsum": cumsum,
        "dt": torch.tensor(dt),
        "sigma_bars": torch.sqrt(lam**2 * (1 - torch.exp(-2 * cumsum * dt))),
    }


@pytest.mark.parametrize("schedule", SCHEDULES)
@pytest.mark.parametrize(
    ("max_sigma", "T", "eps"),
    [(10, 100, 0.005), (30, 100, 0.005), (70, 1000, 0.005), (0.1, 50, 0.01)],
)
def test_arrays_match_spec(schedule, max_sigma, T, eps):
    sde = IRSDE(max_sigma, T, schedule, eps)
    ref = spec_arrays(max_sigma, T, schedule, eps)
    assert sde.lam == pytest.approx(float(ref["lam"]))
    assert sde.dt == pytest.approx(float(ref["dt"]), rel=1e-6)
    for name in ("thetas", "sigmas", "thetas_cumsum", "sigma_bars"):
        arr = getattr(sde, name)
        assert arr.dtype == torch.float32 and arr.shape == (T + 1,), name
        torch.testing.assert_close(arr, ref[name], rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_schedule_invariants(schedule):
    sde = IRSDE(10, 100, schedule, 0.005)
    assert float(sde.thetas_cumsum[0]) == 0.0
    assert float(sde.sigma_bars[sde.T]) == pytest.approx(
        sde.lam * math.sqrt(1 - 0.005**2), rel=1e-5
    )
    ratio = sde.sigmas**2 / sde.thetas
    torch.testing.assert_close(ratio, torch.full_like(ratio, 2 * sde.lam**2), rtol=1e-5, atol=0)
    assert math.exp(-float(sde.thetas_cumsum[sde.T]) * sde.dt) == pytest.approx(0.005, rel=1e-5)
    assert torch.all(sde.thetas > 0)
    assert torch.all(sde.sigma_bars[1:] > sde.sigma_bars[:-1])


def test_cosine_values_known():
    thetas = make_thetas("cosine", 100)
    assert thetas.shape == (101,)
    assert float(thetas[0]) == pytest.approx(0.00061, abs=2e-5)
    assert float(thetas[-1]) == pytest.approx(
        1.0
        - math.cos((101 / 102 + 0.008) / 1.008 * math.pi / 2) ** 2
        / math.cos(0.008 / 1.008 * math.pi / 2) ** 2,
        rel=1e-5,
    )


def test_bad_settings_rejected():
    with pytest.raises(ValueError, match="schedule"):
        IRSDE(10, 100, "quartic")
    with pytest.raises(ValueError, match="T must"):
        IRSDE(10, 0)
    with pytest.raises(ValueError, match="eps"):
        IRSDE(10, 100, eps=1.5)


def reference_step_values(sde, x_t, x0, mu, t, noise, score):
    """The reference formulas of sde.md for a scalar t, computed directly from the arrays."""
    th, sg, cs, dt, lam = sde.thetas, sde.sigmas, sde.thetas_cumsum, sde.dt, sde.lam
    A = torch.exp(-th[t] * dt)
    B = torch.exp(-cs[t] * dt)
    C = torch.exp(-cs[t - 1] * dt)
    var = (1 - A**2) * (1 - C**2) / (1 - B**2)
    return {
        "mu_bar": mu + (x0 - mu) * torch.exp(-cs[t] * dt),
        "sde_drift": (th[t] * (mu - x_t) - sg[t] ** 2 * score) * dt,
        "ode_drift": (th[t] * (mu - x_t) - 0.5 * sg[t] ** 2 * score) * dt,
        "optimal_prev": A * (1 - C**2) / (1 - B**2) * (x_t - mu)
        + C * (1 - A**2) / (1 - B**2) * (x0 - mu)
        + mu,
        "posterior_std": lam * torch.exp(0.5 * torch.log(torch.clamp(var, min=1e-20 * dt))),
        "x0_hat": (x_t - mu - sde.sigma_bars[t] * noise) * torch.exp(cs[t] * dt) + mu,
    }


@pytest.mark.parametrize("t", [1, 2, 37, 100])
def test_closed_forms_match_reference_formulas(pair, gen, t):
    x0, mu = pair
    sde = IRSDE(10, 100)
    noise = torch.randn(x0.shape, generator=gen)
    x_t = sde.q_sample(x0, mu, t, noise)
    score = sde.score_from_noise(noise, t)
    ref = reference_step_values(sde, x_t, x0, mu, t, noise, score)
    torch.testing.assert_close(sde.mu_bar(x0, mu, t), ref["mu_bar"])
    torch.testing.assert_close(x_t, ref["mu_bar"] + sde.sigma_bars[t] * noise)
    torch.testing.assert_close(score, -noise / sde.sigma_bars[t])
    torch.testing.assert_close(sde.reverse_sde_drift(x_t, mu, score, t), ref["sde_drift"])
    torch.testing.assert_close(sde.reverse_ode_drift(x_t, mu, score, t), ref["ode_drift"])
    torch.testing.assert_close(sde.optimal_prev(x_t, x0, mu, t), ref["optimal_prev"])
    torch.testing.assert_close(sde.posterior_std(t), ref["posterior_std"])
    torch.testing.assert_close(
        sde.x0_from_noise(x_t, mu, noise, t), ref["x0_hat"], atol=2e-5, rtol=1e-5
    )
    z = torch.randn(x0.shape, generator=gen)
    torch.testing.assert_close(
        sde.reverse_sde_step(x_t, mu, score, t, z),
        x_t - ref["sde_drift"] - sde.sigmas[t] * math.sqrt(sde.dt) * z,
    )
    torch.testing.assert_close(sde.reverse_ode_step(x_t, mu, score, t), x_t - ref["ode_drift"])
    torch.testing.assert_close(
        sde.posterior_step(x_t, mu, noise, t, z),
        reference_step_values(sde, x_t, ref["x0_hat"], mu, t, noise, score)["optimal_prev"]
        + ref["posterior_std"] * z,
        atol=1e-5,
        rtol=1e-5,
    )
    torch.testing.assert_close(sde.prior_sample(mu, z), mu + sde.lam * z)


def test_posterior_std_at_t1_is_clamped_to_zero():
    sde = IRSDE(10, 100)
    assert float(sde.posterior_std(1)) == pytest.approx(
        sde.lam * math.sqrt(1e-20 * sde.dt), rel=1e-3
    )
    assert float(sde.posterior_std(2)) > 1e-4


def test_per_sample_timesteps_broadcast(pair, gen):
    x0, mu = pair
    sde = IRSDE(10, 100)
    t = torch.tensor([3, 80])
    noise = torch.randn(x0.shape, generator=gen)
    batch = sde.q_sample(x0, mu, t, noise)
    for i in range(2):
        single = sde.q_sample(x0[i : i + 1], mu[i : i + 1], int(t[i]), noise[i : i + 1])
        torch.testing.assert_close(batch[i : i + 1], single)
        torch.testing.assert_close(
            sde.optimal_prev(batch, x0, mu, t)[i : i + 1],
            sde.optimal_prev(batch[i : i + 1], x0[i : i + 1], mu[i : i + 1], int(t[i])),
        )
    assert sde.posterior_std(t).shape == (2,)
    assert sde.posterior_std(t, like=batch).shape == (2, 1, 1, 1)
    assert sde.sigma_bar(t).shape == (2,)


def test_float64_inputs_stay_float64(pair):
    x0, mu = (v.double() for v in pair)
    sde = IRSDE(10, 100)
    out = sde.optimal_prev(sde.mu_bar(x0, mu, 5), x0, mu, torch.tensor([5, 6]))
    assert out.dtype == torch.float64
    sde64 = IRSDE(10, 100, dtype=torch.float64)
    assert sde64.thetas.dtype == torch.float64
    torch.testing.assert_close(sde64.sigma_bars.float(), sde.sigma_bars, rtol=1e-5, atol=1e-7)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_device(pair):
    x0, mu = (v.cuda() for v in pair)
    sde = IRSDE(10, 100)
    t = torch.tensor([4, 9], device="cuda")
    assert sde.q_sample(x0, mu, t, torch.randn_like(x0)).device.type == "cuda"


def test_meta_device_shapes():
    """Any device: the math only indexes arrays moved to the input's device."""
    x = torch.empty(2, 3, 4, 4, device="meta")
    sde = IRSDE(10, 100)
    assert sde.mu_bar(x, x, torch.tensor([1, 2], device="meta")).shape == x.shape


def test_marginal_matches_euler_maruyama_simulation():
    """Closed-form mean and variance of x_t vs a fine Euler-Maruyama run of the forward SDE."""
    sde = IRSDE(max_sigma=0.5, T=20, schedule="cosine", eps=0.01, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    n, sub = 40000, 50
    x0, mu = 0.9, 0.2
    x = torch.full((n,), x0, dtype=torch.float64)
    for t in range(1, 11):  # simulate up to t = 10, each interval split into `sub` sub-steps
        h = float(sde.thetas[t]) * sde.dt / sub
        for _ in range(sub):
            x = (
                x
                + h * (mu - x)
                + sde.lam * math.sqrt(2 * h) * torch.randn(n, generator=g, dtype=torch.float64)
            )
    t = 10
    mean = float(sde.mu_bar(torch.tensor(x0), torch.tensor(mu), t))
    std = float(sde.sigma_bars[t])
    assert float(x.mean()) == pytest.approx(mean, abs=4 * std / math.sqrt(n) + 1e-3)
    assert float(x.std()) == pytest.approx(std, rel=0.02)


def test_timesteps_selection():
    sde = IRSDE(10, 100)
    assert sde.timesteps() == list(range(100, 0, -1))
    for spacing in ("uniform", "quadratic", "sigma"):
        for n in (1, 2, 5, 10, 99, 100):
            ts = sde.timesteps(n, spacing)
            assert len(ts) == n and ts[0] == 100 and ts[-1] >= 1
            assert all(a > b for a, b in itertools.pairwise(ts))
    with pytest.raises(ValueError, match="steps"):
        sde.timesteps(101)
    with pytest.raises(ValueError, match="steps"):
        sde.timesteps(0)


def test_schedule_is_built_on_cpu_under_a_meta_default_device():
    """Networks are instantiated under ``torch.device('meta')`` when loading model files."""
    with torch.device("meta"):
        sde = IRSDE(10, 100)
    assert sde.thetas.device.type == "cpu" and sde.dt > 0


@pytest.mark.parametrize("s", [None, 0, 3, 40])
def test_posterior_transition_folds_the_posterior_step(s):
    sde = IRSDE(20, 100, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    x, mu, noise, z = (torch.randn(3, 2, 4, 4, generator=g, dtype=torch.float64) for _ in range(4))
    t = torch.tensor([50, 77, 100])
    k_x, k_noise, std = sde.posterior_transition(t, s, like=x)
    folded = mu + k_x * (x - mu) - k_noise * noise + std * z
    torch.testing.assert_close(folded, sde.posterior_step(x, mu, noise, t, z, s), atol=1e-9, rtol=0)
