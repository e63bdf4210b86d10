"""GOUB, the generalized Ornstein-Uhlenbeck bridge: its closed forms against an
independent Gaussian conditioning of IR-SDE's process, the pin at ``mu``, the drift's
h-transform term, the Mean-ODE, oracle recovery and the training config. The contract
tests (``test_contract_sde.py``, ``test_contract_samplers.py``) run on it as well."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from irsde import configs
from irsde.losses import ml_matching_loss
from irsde.samplers import SAMPLERS, sample
from irsde.sde import GOUB, IRSDE, build_sde
from irsde.train.config import parse_config

F64 = torch.float64


@pytest.fixture
def sde() -> GOUB:
    return GOUB(max_sigma=30, T=50, dtype=F64)


@pytest.fixture
def problem():
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 3, 5, 4, generator=g, dtype=F64)
    mu = 0.7 * x0 + 0.2 + 0.05 * torch.randn(x0.shape, generator=g, dtype=F64)
    return x0, mu


def oracle(sde, x0):
    return lambda x_t, mu, t: sde.noise_from_x0(x_t, x0, mu, t)


def test_marginal_is_the_ou_conditioned_to_end_at_mu(sde):
    """Condition IR-SDE's Gaussian pair (x_t, x_T) given x0 on x_T = mu, in closed form."""
    ou = IRSDE(max_sigma=30, T=50, dtype=F64)
    T, lam2 = ou.T, ou.lam**2
    for t in (1, 7, 25, 49, 50):
        a_t, s_t = ou.marginal_coefs(t)  # x_t - mu = a_t d + N(0, s_t^2)
        a_tT = math.exp(-ou.integrated_theta(T, t)) if t < T else 1.0  # x_T | x_t
        v_tT = lam2 * (1 - a_tT**2)
        # precision-weighted conditioning on x_T - mu = 0
        var = 1 / (1 / s_t**2 + a_tT**2 / v_tT) if t < T else 0.0
        mean = var * a_t / s_t**2 if t < T else 0.0
        alpha, sigma = sde.marginal_coefs(t)
        assert alpha == pytest.approx(mean, rel=1e-9, abs=1e-15)
        assert sigma**2 == pytest.approx(var, rel=1e-9, abs=1e-15)


def test_the_bridge_ends_exactly_at_mu(sde, problem):
    x0, mu = problem
    z = torch.randn(x0.shape, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert sde.marginal_coefs(sde.T) == (0.0, 0.0)
    assert torch.equal(sde.q_sample(x0, mu, sde.T, z), mu)
    assert torch.equal(sde.prior_sample(mu, z), mu)
    assert float(sde.diffusion(sde.T)) == 0.0
    # the marginal std rises from 0 and falls back to 0; the mean goes from x0 to mu
    sig = sde.sigma_bars
    assert sig[0] == 0 and sig[-1] == 0 and (sig[1:-1] > 0).all()
    assert (sde.alphas[1:] <= sde.alphas[:-1]).all() and sde.alphas[0] == 1


def test_forward_drift_is_theta_plus_the_h_transform_term(sde):
    """The per-step rate matches theta + g^2 d/dx log p(x_T = mu | x) mid-step, far from T."""
    tb = sde.thetas_cumsum * sde.dt
    lam2, T = sde.lam**2, sde.T
    x, mu = torch.zeros(1, dtype=F64), torch.ones(1, dtype=F64)
    for t in (2, 10, 25, 40):
        mid = 0.5 * float(tb[t] + tb[t - 1])  # thetabar mid-step
        a2 = math.exp(-2 * (float(tb[T]) - mid))
        h_term = float(sde.sigmas[t]) ** 2 * a2 / (lam2 * (1 - a2))
        rate = float(sde.thetas[t]) + h_term
        assert float(sde.forward_drift(x, x, mu, t)) == pytest.approx(rate, rel=0.02)


def test_network_output_at_T_is_read_without_dividing_by_sigma_T(sde, problem):
    x0, mu = problem
    T = sde.T
    out = sde.noise_from_x0(mu, x0, mu, T)
    torch.testing.assert_close(out, (mu - x0) / sde.lam)
    torch.testing.assert_close(sde.x0_from_noise(mu, mu, out, T), x0)
    k_x, k_noise, std = sde.posterior_transition(T, T // 2, like=mu)
    assert all(torch.isfinite(v).all() for v in (k_x, k_noise, std))
    # the first posterior mean from T is the bridge's mean at s
    step = mu + k_x * 0 - k_noise * out
    torch.testing.assert_close(step, sde.mu_bar(x0, mu, T // 2))
    assert float(std) == pytest.approx(sde.marginal_coefs(T // 2)[1], rel=1e-9)


@pytest.mark.parametrize("steps", [1, 3, 20, None])
@pytest.mark.parametrize("sampler", ["mean-ode", "posterior"])
def test_oracle_recovers_x0_from_mu(sde, problem, sampler, steps):
    x0, mu = problem
    out = sample(oracle(sde, x0), sde, mu, sampler, steps, generator=torch.Generator())
    torch.testing.assert_close(out, x0, atol=1e-9, rtol=0)


def test_mean_ode_follows_the_bridge_mean_exactly(sde, problem):
    """With the exact score, the Mean-ODE from mu visits mu_bar(x0, s) at every step."""
    x0, mu = problem
    seen = []
    sample(oracle(sde, x0), sde, mu, "mean-ode", 7, callback=seen.append)
    for d in seen[:-1]:
        torch.testing.assert_close(d["x"], sde.mu_bar(x0, mu, d["s"]), atol=1e-10, rtol=1e-8)


def test_mean_ode_contracts_towards_the_mean_from_a_noisy_start(sde, problem):
    """Started from a bridge sample at T/2, deterministic steps shrink the deviation from the mean."""
    x0, mu = problem
    start = sde.T // 2
    z = torch.randn(x0.shape, dtype=F64, generator=torch.Generator().manual_seed(5))
    x = sde.q_sample(x0, mu, start, z)
    seen = []
    sample(oracle(sde, x0), sde, mu, "mean-ode", start=start, x_T=x, callback=seen.append)
    dev = [float((d["x"] - sde.mu_bar(x0, mu, d["s"])).abs().max()) for d in seen[:-1]]
    assert dev[-1] < 0.05 * float((x - sde.mu_bar(x0, mu, start)).abs().max())


def test_ml_loss_is_finite_and_zero_for_the_oracle_at_T(sde, problem):
    x0, mu = problem
    t = torch.tensor([sde.T, sde.T])
    x_t = sde.q_sample(x0, mu, t, torch.zeros_like(x0))
    loss = ml_matching_loss(sde, sde.noise_from_x0(x_t, x0, mu, t), x_t, x0, mu, t)
    assert float(loss) == pytest.approx(0.0, abs=1e-12)
    t = torch.tensor([3, sde.T])  # per-sample timesteps, one of them T
    z = torch.randn(x0.shape, dtype=F64, generator=torch.Generator().manual_seed(2))
    x_t = sde.q_sample(x0, mu, t, z)
    good = ml_matching_loss(sde, sde.noise_from_x0(x_t, x0, mu, t), x_t, x0, mu, t)
    bad = ml_matching_loss(sde, torch.zeros_like(x0), x_t, x0, mu, t)
    assert torch.isfinite(good) and float(good) < 0.1 * float(bad)


def test_samplers_that_cannot_run_on_goub_refuse_in_one_line(sde, problem):
    x0, mu = problem
    refused = [n for n, s in SAMPLERS.items() if not s.supports(sde)]
    assert {"sde", "ode", "ddim", "dpm2m", "unipc"} <= set(refused)
    assert {"posterior", "mean-ode"} <= set(SAMPLERS) - set(refused)
    for name in refused:
        with pytest.raises(ValueError, match=f"the {name} sampler cannot run on GOUB") as err:
            sample(oracle(sde, x0), sde, mu, name, 3)
        assert "\n" not in str(err.value) and "mean-ode" in str(err.value)


def test_spec_round_trip_and_bad_settings():
    sde = build_sde({"type": "goub", "max_sigma": 30, "T": 50})
    assert isinstance(sde, GOUB) and build_sde(sde.spec()).config() == sde.config()
    with pytest.raises(ValueError, match="max_sigma"):
        GOUB(max_sigma=-1)


def test_the_shipped_training_config_trains_goub(tmp_path):
    raw = yaml.safe_load(configs.config_path("goub/derain").read_text(encoding="utf-8"))
    for split in ("train", "val"):
        for side in ("gt", "lq"):
            folder = tmp_path / split / side
            folder.mkdir(parents=True)
            raw["data"][split][side] = str(folder)
    cfg = parse_config(raw, "goub/derain.yml", tmp_path)
    assert isinstance(build_sde(cfg.sde.model_dump()), GOUB)
    assert cfg.sampler.name == "mean-ode" and cfg.loss.type == "ml"
