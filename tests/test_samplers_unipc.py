"""The ``unipc`` sampler: dpm2m predictor plus a corrector from the next evaluation."""

from __future__ import annotations

import math

import torch

from irsde import IRSDE
from irsde.samplers import SAMPLERS, sample

F64 = torch.float64


def _lin_net(sde):
    """A linear 'denoiser' (x0_hat = 0.7 (x_t - mu) / alpha_t + mu): D changes along the path."""

    def net(x_t, mu, t):
        _a, s = sde.marginal_coefs(int(t[0]))
        return (x_t - mu) * (1 - 0.7) / s

    return net


def test_matches_hand_written_predictor_corrector():
    sde = IRSDE(25, 100, dtype=F64)
    g = torch.Generator().manual_seed(0)
    mu = torch.rand(1, 1, 4, 4, generator=g, dtype=F64)
    x_T = sde.prior_sample(mu, torch.randn(mu.shape, generator=g, dtype=F64))
    net, ts = _lin_net(sde), sde.timesteps(5, "quadratic")
    out = sample(net, sde, mu, "unipc", timesteps=ts, x_T=x_T)

    def lam(t):
        a, s = sde.marginal_coefs(t)
        return math.log(a / s)

    def D(x, t):
        return sde.x0_from_noise(x, mu, net(x, mu, torch.tensor([t])), t)

    x, hist, last = x_T, [], None
    for i, t in enumerate(ts):
        d_t = D(x, t)
        if last is not None:  # corrector
            xp, dp, tp = last
            h = lam(t) - lam(tp)
            phi = 1 - math.exp(-h)
            a_t, s_t = sde.marginal_coefs(t)
            xc = mu + sde.marginal_coefs(t)[1] / sde.marginal_coefs(tp)[1] * (xp - mu)
            xc = xc + a_t * phi * (dp - mu) + a_t * (h - phi) / h * (d_t - dp)
            if i == len(ts) - 1:
                d_t = d_t + (xc - x) / a_t
            x = xc
        hist.append((lam(t), d_t))
        if i == len(ts) - 1:
            x = d_t
            break
        s = ts[i + 1]
        (a_s, s_s), (_, s_t) = sde.marginal_coefs(s), sde.marginal_coefs(t)
        h = lam(s) - lam(t)
        d = d_t if i == 0 else d_t + (d_t - hist[-2][1]) * 0.5 * h / (hist[-1][0] - hist[-2][0])
        last = (x, d_t, t)
        x = mu + s_s / s_t * (x - mu) + a_s * (1 - math.exp(-h)) * (d - mu)
    torch.testing.assert_close(out, x, atol=1e-10, rtol=1e-10)


def test_corrector_changes_the_result_and_gains_on_a_changing_denoiser():
    """Against the dpm2m predictor alone (same grid, same start), unipc differs, and with a
    denoiser whose answer changes along the path it lands closer to the fine-grid ODE."""
    sde = IRSDE(25, 100, dtype=F64)
    g = torch.Generator().manual_seed(1)
    mu = torch.rand(1, 1, 4, 4, generator=g, dtype=F64)
    x_T = sde.prior_sample(mu, torch.randn(mu.shape, generator=g, dtype=F64))
    net = _lin_net(sde)
    fine = sample(net, sde, mu, "dpm2m", 100, x_T=x_T)
    few = {n: sample(net, sde, mu, n, 6, spacing="quadratic", x_T=x_T) for n in ("dpm2m", "unipc")}
    err = {n: float((v - fine).abs().max()) for n, v in few.items()}
    assert not torch.equal(few["dpm2m"], few["unipc"])
    assert err["unipc"] < err["dpm2m"], err


def test_registered_deterministic_needing_only_the_pf_ode():
    spec = SAMPLERS["unipc"]  # it integrates the probability-flow ODE (GOUB has none)
    assert not spec.stochastic and spec.needs == ("reverse_ode_drift",)
