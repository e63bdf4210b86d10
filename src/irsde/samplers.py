"""Reverse-time samplers: plain functions over ``(net, sde, mu, ...)``.

Every sampler starts from ``x_T = mu + lam z`` and visits a descending subsequence of
timesteps ``T = t_1 > ... > t_N >= 1``; each visit costs one network evaluation (NFE).
With ``steps = T`` they reproduce the reference loops exactly; with fewer steps:

- ``posterior`` uses the exact Gaussian posterior ``q(x_s | x_t, x0_hat)`` of the
  mean-reverting process between the visited timesteps (``docs/few-step-posterior.md``);
  the last transition lands on ``s = 0`` and returns ``x0_hat`` itself.
- ``sde`` / ``ode`` take Euler(-Maruyama) steps whose length is the integrated
  ``theta`` between the visited timesteps (``sum(thetas[s+1..t]) dt``).
- ``ddim`` (the posterior step with its noise replaced by the predicted one: deterministic)
  and ``dpm2m`` (a second-order multistep exponential integrator of the probability-flow
  ODE) are derived in ``docs/few-step-sampling.md``.

A network is any callable ``net(x_t, mu, t) -> predicted noise`` with ``t`` a
``(B,)`` LongTensor. ``callback`` receives a dict per step (``i``, ``t``, ``s``,
``x``, ``x0_hat``, ``steps``), enough for a progress bar or a plot of the trajectory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .sde import IRSDE

Net = Callable[[Tensor, Tensor, Tensor], Tensor]
Callback = Callable[[dict[str, Any]], None]
NoiseFn = Callable[[int, Tensor], Tensor]


def gaussian_noise(generator: torch.Generator | None = None) -> NoiseFn:
    """Noise source drawing ``randn_like(x)`` from ``generator`` (``i`` is the step index)."""

    def draw(i: int, like: Tensor) -> Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    return draw


def _timestep_batch(t: int, like: Tensor) -> Tensor:
    return torch.full((like.shape[0],), t, dtype=torch.long, device=like.device)


def _prepare(
    sde: IRSDE, mu: Tensor, steps: int | None, spacing: str, generator, noise_fn, x_T
) -> tuple[list[int], NoiseFn, Tensor]:
    ts = sde.timesteps(steps, spacing)
    noise_fn = noise_fn or gaussian_noise(generator)
    x = sde.prior_sample(mu, noise_fn(-1, mu)) if x_T is None else x_T
    return ts, noise_fn, x


def sample_posterior(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None = None,
    *,
    spacing: str = "uniform",
    generator: torch.Generator | None = None,
    noise_fn: NoiseFn | None = None,
    x_T: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """The reference "posterior" sampler; exact few-step transitions when ``steps < T``."""
    ts, noise_fn, x = _prepare(sde, mu, steps, spacing, generator, noise_fn, x_T)
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < len(ts) else 0
        noise = net(x, mu, _timestep_batch(t, x))
        x0_hat = None
        if s == 0 or callback is not None:
            x0_hat = sde.x0_from_noise(x, mu, noise, t)
        if s == 0:
            x_next = x0_hat
        else:  # mu + k_x (x - mu) - k_noise noise + std z: three passes over the image
            k_x, k_noise, std = sde.posterior_transition(t, None if s == t - 1 else s, like=x)
            x_next = torch.lerp(mu, x, k_x.to(x.dtype))
            x_next.addcmul_(k_noise, noise, value=-1.0)
            x_next.addcmul_(std, noise_fn(i, x))
        x = x_next
        if callback is not None:
            callback({"i": i, "t": t, "s": s, "x": x, "x0_hat": x0_hat, "steps": len(ts)})
    return x


def _integrated_theta(sde: IRSDE, t: int, s: int) -> float:
    """``sum(thetas[s+1..t]) * dt``; equals ``thetas[t] * dt`` for adjacent steps."""
    if s == t - 1:
        return float(sde.thetas[t]) * sde.dt
    return float(sde.thetas_cumsum[t] - sde.thetas_cumsum[s]) * sde.dt


def _euler_sampler(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None,
    *,
    stochastic: bool,
    spacing: str,
    generator: torch.Generator | None,
    noise_fn: NoiseFn | None,
    x_T: Tensor | None,
    callback: Callback | None,
) -> Tensor:
    ts, noise_fn, x = _prepare(sde, mu, steps, spacing, generator, noise_fn, x_T)
    lam2 = sde.lam**2
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < len(ts) else 0
        noise = net(x, mu, _timestep_batch(t, x))
        score = sde.score_from_noise(noise, t)
        if s == t - 1:  # the reference step, bit for bit
            if stochastic:
                x_next = sde.reverse_sde_step(x, mu, score, t, noise_fn(i, x))
            else:
                x_next = sde.reverse_ode_step(x, mu, score, t)
        else:  # drift theta_t ((mu - x) - k lam^2 score) integrated over [s, t]
            h = _integrated_theta(sde, t, s)
            k = 2.0 if stochastic else 1.0
            x_next = x - h * ((mu - x) - k * lam2 * score)
            if stochastic:
                x_next = x_next - sde.lam * math.sqrt(2 * h) * noise_fn(i, x)
        if callback is not None:
            x0_hat = sde.x0_from_noise(x, mu, noise, t)
            callback({"i": i, "t": t, "s": s, "x": x_next, "x0_hat": x0_hat, "steps": len(ts)})
        x = x_next
    return x


def sample_sde(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None = None,
    *,
    spacing: str = "uniform",
    generator: torch.Generator | None = None,
    noise_fn: NoiseFn | None = None,
    x_T: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler-Maruyama on the reverse-time SDE."""
    return _euler_sampler(
        net,
        sde,
        mu,
        steps,
        stochastic=True,
        spacing=spacing,
        generator=generator,
        noise_fn=noise_fn,
        x_T=x_T,
        callback=callback,
    )


def sample_ode(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None = None,
    *,
    spacing: str = "uniform",
    generator: torch.Generator | None = None,
    noise_fn: NoiseFn | None = None,
    x_T: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Euler on the probability-flow ODE (deterministic given ``x_T``)."""
    return _euler_sampler(
        net,
        sde,
        mu,
        steps,
        stochastic=False,
        spacing=spacing,
        generator=generator,
        noise_fn=noise_fn,
        x_T=x_T,
        callback=callback,
    )


def _alpha_sigma(sde: IRSDE, t: int) -> tuple[float, float]:
    """``alpha_t = exp(-thetabar_t)`` and ``sigma_t = sigma_bar_t``: ``x_t - mu = alpha_t (x0 - mu) + sigma_t eps``."""
    if t == 0:
        return 1.0, 0.0
    return math.exp(-float(sde.thetas_cumsum[t]) * sde.dt), float(sde.sigma_bars[t])


def _deterministic(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None,
    *,
    order: int,
    spacing: str,
    generator: torch.Generator | None,
    noise_fn: NoiseFn | None,
    x_T: Tensor | None,
    callback: Callback | None,
) -> Tensor:
    """Exponential-integrator steps of the probability-flow ODE in data prediction.

    With ``h = lambda_s - lambda_t`` (``lambda = log(alpha / sigma)``) and ``D`` the
    predicted ``x0`` (first order) or its multistep extrapolation (second order)::

        x_s = mu + (sigma_s / sigma_t)(x_t - mu) + alpha_s (1 - e^{-h}) (D - mu)

    First order this is ``x_s = mu + alpha_s (x0_hat - mu) + sigma_s eps_hat`` (DDIM with
    eta = 0); the last step (``s = 0``) returns ``x0_hat``. See ``docs/few-step-sampling.md``.
    """
    ts, noise_fn, x = _prepare(sde, mu, steps, spacing, generator, noise_fn, x_T)
    prev_x0: Tensor | None = None
    prev_h = 0.0
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < len(ts) else 0
        noise = net(x, mu, _timestep_batch(t, x))
        x0_hat = sde.x0_from_noise(x, mu, noise, t)
        if s == 0:
            x_next = x0_hat
        else:
            a_t, s_t = _alpha_sigma(sde, t)
            a_s, s_s = _alpha_sigma(sde, s)
            h = math.log(a_s / s_s) - math.log(a_t / s_t)
            d = x0_hat
            if order == 2 and prev_x0 is not None:
                k = prev_h / h
                d = x0_hat + (x0_hat - prev_x0) * (0.5 / k)
            x_next = torch.lerp(mu, x, s_s / s_t) + (d - mu) * (a_s * -math.expm1(-h))
            prev_h = h
        prev_x0 = x0_hat
        if callback is not None:
            callback({"i": i, "t": t, "s": s, "x": x_next, "x0_hat": x0_hat, "steps": len(ts)})
        x = x_next
    return x


def sample_ddim(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None = None,
    *,
    spacing: str = "uniform",
    generator: torch.Generator | None = None,
    noise_fn: NoiseFn | None = None,
    x_T: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Deterministic posterior (DDIM, eta = 0): ``x_s = mu + alpha_s (x0_hat - mu) + sigma_s eps_hat``."""
    return _deterministic(
        net, sde, mu, steps, order=1, spacing=spacing, generator=generator,
        noise_fn=noise_fn, x_T=x_T, callback=callback,
    )  # fmt: skip


def sample_dpm2m(
    net: Net,
    sde: IRSDE,
    mu: Tensor,
    steps: int | None = None,
    *,
    spacing: str = "uniform",
    generator: torch.Generator | None = None,
    noise_fn: NoiseFn | None = None,
    x_T: Tensor | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Second-order multistep exponential integrator (DPM-Solver++(2M)) on the PF ODE."""
    return _deterministic(
        net, sde, mu, steps, order=2, spacing=spacing, generator=generator,
        noise_fn=noise_fn, x_T=x_T, callback=callback,
    )  # fmt: skip


SAMPLERS: dict[str, Callable[..., Tensor]] = {
    "posterior": sample_posterior,
    "sde": sample_sde,
    "ode": sample_ode,
    "ddim": sample_ddim,
    "dpm2m": sample_dpm2m,
}


def sample(
    net: Net, sde: IRSDE, mu: Tensor, sampler: str = "posterior", steps: int | None = None, **kwargs
) -> Tensor:
    """Run the named sampler (``posterior``, ``sde``, ``ode``, ``ddim`` or ``dpm2m``)."""
    try:
        fn = SAMPLERS[sampler]
    except KeyError:
        raise ValueError(
            f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}"
        ) from None
    return fn(net, sde, mu, steps, **kwargs)
