"""Reverse-time samplers: plain functions over ``(net, sde, mu, x, timesteps)``, registered by name.

Every sampler runs on a descending grid of integer timesteps ``t_1 > ... > t_N >= 1``
(built by :func:`sample` from ``steps``, ``spacing`` and ``start``, or passed in) from
a state ``x`` at ``t_1`` (by default the prior sample ``x_T``); each visit costs one
network evaluation (NFE). On the full grid ``T..1`` they reproduce the reference loops
exactly; on fewer steps:

- ``posterior`` uses the exact Gaussian posterior ``q(x_s | x_t, x0_hat)`` between the
  visited timesteps (``docs/few-step-posterior.md``); the last transition lands on
  ``s = 0`` and returns ``x0_hat`` itself.
- ``sde`` / ``ode`` take Euler(-Maruyama) steps over the integrated drift between the
  visited timesteps.
- ``ddim`` (the posterior step with its noise replaced by the predicted one) and
  ``dpm2m`` (a second-order multistep exponential integrator of the probability-flow
  ODE) are derived in ``docs/few-step-sampling.md``; ``unipc`` (``dpm2m`` with a
  corrector from the next evaluation) in ``docs/few-step-unipc.md``.

Samplers ask the SDE (:class:`irsde.sde.SDE`) for every process-dependent quantity; a
sampler declares the SDE methods it needs and refuses a process without them. A network
is any callable ``net(x_t, mu, t) -> predicted noise`` with ``t`` a ``(B,)``
LongTensor. ``callback`` receives a dict per step (``i``, ``t``, ``s``, ``x``,
``x0_hat``, ``steps``). A new sampler is one function here decorated with
:func:`register_sampler`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch
from torch import Tensor

from .sde import DEFAULT_SPACING, SDE, SPACINGS, check_grid

Net = Callable[[Tensor, Tensor, Tensor], Tensor]
Callback = Callable[[dict[str, Any]], None]
NoiseFn = Callable[[int, Tensor], Tensor]
#: ``loop(net, sde, mu, x, timesteps, noise_fn, callback) -> x_0``
SamplerLoop = Callable[[Net, SDE, Tensor, Tensor, list[int], NoiseFn, Callback | None], Tensor]

#: the sampler used when none is named (the reference's)
DEFAULT_SAMPLER = "posterior"

#: what a restore returns: ``faithful`` the model's stored setting (with the embedded
#: models' 1-NFE default, the posterior-mean estimate), ``realistic`` a posterior sample
MODES: tuple[str, ...] = ("faithful", "realistic")
DEFAULT_MODE = "faithful"
#: the realistic mode's setting when a model stores none: on the exact-posterior benchmark
#: ``unipc`` with the ``tuned`` spacing at 5 NFE is as close to the posterior as the 100-step
#: posterior sampler (exact distances, noise and blur; ``docs/few-step-tuned.md``)
REALISTIC_DEFAULT: Mapping[str, Any] = MappingProxyType(
    {"name": "unipc", "steps": 5, "spacing": "tuned"}
)

__all__ = [
    "DEFAULT_MODE",
    "DEFAULT_SAMPLER",
    "MODES",
    "REALISTIC_DEFAULT",
    "SAMPLERS",
    "SPACINGS",
    "Sampler",
    "gaussian_noise",
    "get_sampler",
    "realistic_setting",
    "register_sampler",
    "sample",
]


@dataclass(frozen=True)
class Sampler:
    """A registered sampler: its loop over a timestep grid and what it needs of the SDE."""

    name: str
    loop: SamplerLoop
    stochastic: bool
    description: str
    #: optional :class:`~irsde.sde.SDE` methods the loop calls
    needs: tuple[str, ...] = ()

    def supports(self, sde: SDE) -> bool:
        """Whether this sampler can run on ``sde``."""
        return sde.provides(*self.needs)

    def __call__(self, net: Net, sde: SDE, mu: Tensor, steps: int | None = None, **kw) -> Tensor:
        """:func:`sample` with this sampler."""
        return sample(net, sde, mu, self.name, steps, **kw)


#: the registered samplers by name (filled at import by :func:`register_sampler`)
SAMPLERS: dict[str, Sampler] = {}


def register_sampler(
    name: str, *, stochastic: bool, description: str, needs: Sequence[str] = ()
) -> Callable[[SamplerLoop], SamplerLoop]:
    """Decorator registering a sampler loop under ``name``."""

    def add(loop: SamplerLoop) -> SamplerLoop:
        if name in SAMPLERS:
            raise ValueError(f"a sampler called {name!r} is registered already")
        SAMPLERS[name] = Sampler(name, loop, stochastic, description, tuple(needs))
        return loop

    return add


def get_sampler(name: str) -> Sampler:
    """The sampler called ``name``, or a one-line :class:`ValueError` listing the names."""
    try:
        return SAMPLERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}") from None


def realistic_setting(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"name", "steps", "spacing"}`` of the realistic mode: a model's stored sampler
    config's ``"realistic"`` entry over :data:`REALISTIC_DEFAULT`."""
    own = (stored or {}).get("realistic") or {}
    return {**REALISTIC_DEFAULT, **own}


def gaussian_noise(generator: torch.Generator | None = None) -> NoiseFn:
    """Noise source drawing ``randn_like(x)`` from ``generator`` (``i`` is the step index)."""

    def draw(i: int, like: Tensor) -> Tensor:
        return torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)

    return draw


def sample(
    net: Net,
    sde: SDE,
    mu: Tensor,
    sampler: str = DEFAULT_SAMPLER,
    steps: int | None = None,
    *,
    start: int | None = None,
    x_T: Tensor | None = None,
    noise_fn: NoiseFn | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    spacing: str = DEFAULT_SPACING,
    timesteps: Sequence[int] | None = None,
) -> Tensor:
    """Run the named sampler from ``start`` (default ``T``) down to a clean image.

    Args:
        net: ``net(x_t, mu, t) -> predicted noise``.
        sde: the process the network was trained with.
        mu: the condition, a float ``(B, C, H, W)`` tensor.
        sampler: a name of :data:`SAMPLERS`.
        steps: network evaluations; ``None`` visits every timestep ``start..1``.
        start: the timestep the reverse process starts from (needs ``x_T`` below ``T``).
        x_T: the state at ``start``; default the prior sample drawn with ``noise_fn(-1, mu)``.
        noise_fn: ``noise_fn(i, like)``, the standard normal draw of step ``i``.
        generator: seeds the default noise source.
        callback: called with a dict after every step.
        spacing: how ``steps`` timesteps are chosen (:data:`SPACINGS`).
        timesteps: an explicit descending grid instead of ``steps``/``spacing``/``start``.

    Runs without autograd. Raises :class:`ValueError` (one line) on an unknown sampler,
    a process the sampler cannot run on, or a bad grid; :class:`TypeError` when ``mu``
    is not a floating-point tensor.
    """
    spec = get_sampler(sampler)
    if not isinstance(mu, Tensor) or not mu.is_floating_point() or mu.ndim != 4:
        got = type(mu).__name__ if not isinstance(mu, Tensor) else f"{mu.dtype} {tuple(mu.shape)}"
        raise TypeError(
            f"mu must be a floating-point torch.Tensor of shape (B, C, H, W), got {got}"
        )
    if not spec.supports(sde):
        raise ValueError(
            f"the {spec.name} sampler cannot run on {type(sde).__name__} "
            f"(it needs {', '.join(spec.needs)}); choose one of {', '.join(supported(sde))}"
        )
    ts = (
        check_grid(sde, timesteps)
        if timesteps is not None
        else sde.timesteps(steps, spacing, start)
    )
    if x_T is None and ts[0] != sde.T:
        raise ValueError(f"starting at t={ts[0]} below T={sde.T} needs the state there (x_T)")
    noise_fn = noise_fn or gaussian_noise(generator)
    with torch.no_grad():
        x = sde.prior_sample(mu, noise_fn(-1, mu)) if x_T is None else x_T
        return spec.loop(net, sde, mu, x, ts, noise_fn, callback)


def supported(sde: SDE) -> list[str]:
    """Names of the samplers that can run on ``sde``."""
    return [name for name, s in SAMPLERS.items() if s.supports(sde)]


def _timestep_batch(t: int, like: Tensor) -> Tensor:
    return torch.full((like.shape[0],), t, dtype=torch.long, device=like.device)


def _next(ts: list[int], i: int) -> int:
    """The timestep after ``ts[i]`` (``0`` after the last: the clean image)."""
    return ts[i + 1] if i + 1 < len(ts) else 0


def _report(callback: Callback | None, i: int, t: int, s: int, x, x0_hat, n: int) -> None:
    if callback is not None:
        callback({"i": i, "t": t, "s": s, "x": x, "x0_hat": x0_hat, "steps": n})


# ------------------------------------------------------------------------ samplers
@register_sampler(
    "posterior",
    stochastic=True,
    description="the reference sampler: exact Gaussian posterior steps between the visited timesteps",
    needs=("posterior_transition",),
)
def posterior_loop(net, sde, mu, x, ts, noise_fn, callback):
    """``x_s = mu + k_x (x_t - mu) - k_noise noise + std z``; the last step returns ``x0_hat``."""
    for i, t in enumerate(ts):
        s = _next(ts, i)
        noise = net(x, mu, _timestep_batch(t, x))
        x0_hat = None
        if s == 0 or callback is not None:
            x0_hat = sde.x0_from_noise(x, mu, noise, t)
        if s == 0:
            x_next = x0_hat
        else:  # three passes over the image
            k_x, k_noise, std = sde.posterior_transition(t, None if s == t - 1 else s, like=x)
            x_next = torch.lerp(mu, x, k_x.to(x.dtype))
            x_next.addcmul_(k_noise, noise, value=-1.0)
            x_next.addcmul_(std, noise_fn(i, x))
        x = x_next
        _report(callback, i, t, s, x, x0_hat, len(ts))
    return x


def _euler_loop(net, sde, mu, x, ts, noise_fn, callback, *, stochastic: bool):
    for i, t in enumerate(ts):
        s = _next(ts, i)
        noise = net(x, mu, _timestep_batch(t, x))
        score = sde.score_from_noise(noise, t)
        z = noise_fn(i, x) if stochastic else None
        x_next = sde.reverse_euler_step(x, mu, score, t, s, z)
        if callback is not None:
            _report(callback, i, t, s, x_next, sde.x0_from_noise(x, mu, noise, t), len(ts))
        x = x_next
    return x


@register_sampler(
    "sde",
    stochastic=True,
    description="Euler-Maruyama on the reverse-time SDE",
    needs=("reverse_euler_step",),
)
def sde_loop(net, sde, mu, x, ts, noise_fn, callback):
    """Euler-Maruyama on the reverse-time SDE."""
    return _euler_loop(net, sde, mu, x, ts, noise_fn, callback, stochastic=True)


@register_sampler(
    "ode",
    stochastic=False,
    description="Euler on the probability-flow ODE (deterministic given x_T)",
    needs=("reverse_euler_step",),
)
def ode_loop(net, sde, mu, x, ts, noise_fn, callback):
    """Euler on the probability-flow ODE."""
    return _euler_loop(net, sde, mu, x, ts, noise_fn, callback, stochastic=False)


def _exponential_loop(net, sde, mu, x, ts, noise_fn, callback, *, order: int):
    """Exponential-integrator steps of the probability-flow ODE in data prediction.

    With ``h = lambda_s - lambda_t`` (``lambda = log(alpha / sigma)``, from
    :meth:`~irsde.sde.SDE.marginal_coefs`) and ``D`` the predicted ``x0`` (first order)
    or its multistep extrapolation (second order)::

        x_s = mu + (sigma_s / sigma_t)(x_t - mu) + alpha_s (1 - e^{-h}) (D - mu)

    First order this is DDIM with eta = 0; the last step (``s = 0``) returns ``x0_hat``.
    """
    prev_x0: Tensor | None = None
    prev_h = 0.0
    for i, t in enumerate(ts):
        s = _next(ts, i)
        noise = net(x, mu, _timestep_batch(t, x))
        x0_hat = sde.x0_from_noise(x, mu, noise, t)
        if s == 0:
            x_next = x0_hat
        else:
            a_t, s_t = sde.marginal_coefs(t)
            a_s, s_s = sde.marginal_coefs(s)
            h = math.log(a_s / s_s) - math.log(a_t / s_t)
            d = x0_hat
            if order == 2 and prev_x0 is not None:
                k = prev_h / h
                d = x0_hat + (x0_hat - prev_x0) * (0.5 / k)
            x_next = torch.lerp(mu, x, s_s / s_t) + (d - mu) * (a_s * -math.expm1(-h))
            prev_h = h
        prev_x0 = x0_hat
        _report(callback, i, t, s, x_next, x0_hat, len(ts))
        x = x_next
    return x


@register_sampler(
    "ddim",
    stochastic=False,
    description="deterministic posterior (DDIM, eta = 0)",
    needs=("reverse_ode_drift",),  # integrates the probability-flow ODE
)
def ddim_loop(net, sde, mu, x, ts, noise_fn, callback):
    """``x_s = mu + alpha_s (x0_hat - mu) + sigma_s eps_hat``."""
    return _exponential_loop(net, sde, mu, x, ts, noise_fn, callback, order=1)


@register_sampler(
    "dpm2m",
    stochastic=False,
    description="second-order multistep exponential integrator (DPM-Solver++(2M)) on the PF ODE",
    needs=("reverse_ode_drift",),
)
def dpm2m_loop(net, sde, mu, x, ts, noise_fn, callback):
    """DPM-Solver++(2M) in data prediction."""
    return _exponential_loop(net, sde, mu, x, ts, noise_fn, callback, order=2)


def _log_snr(sde: SDE, t: int) -> float:
    """``lambda_t = log(alpha_t / sigma_t)`` of :meth:`~irsde.sde.SDE.marginal_coefs`."""
    a, s = sde.marginal_coefs(t)
    return math.log(a / s)


@register_sampler(
    "unipc",
    stochastic=False,
    description="DPM-Solver++(2M) predictor with a trapezoidal corrector from the next "
    "evaluation (UniPC-2 style, no extra NFE)",
    needs=("reverse_ode_drift",),
)
def unipc_loop(net, sde, mu, x, ts, noise_fn, callback):
    """Predictor-corrector exponential integrator of the PF ODE in data prediction.

    Predictor: the ``dpm2m`` step. Corrector: once ``x0_hat`` is known at the predicted
    state, the step is redone with ``D`` interpolated linearly in ``lambda`` between the
    two predictions (its exact exponential integral), and the network's answer is kept.
    At the last visited timestep the returned ``x0_hat`` is moved by the correction
    divided by ``alpha_t`` (the denoiser's Jacobian at low noise). Derivation and
    measurements: ``docs/few-step-unipc.md``.
    """
    prev: tuple[float, Tensor] | None = None  # (lambda, x0_hat) at the previous timestep
    step: tuple[Tensor, Tensor, float, float, float] | None = None  # what produced x
    for i, t in enumerate(ts):
        s = _next(ts, i)
        noise = net(x, mu, _timestep_batch(t, x))
        x0_hat = sde.x0_from_noise(x, mu, noise, t)
        lam_t = _log_snr(sde, t)
        if step is not None:  # corrector: redo the last step with x0_hat interpolated
            x_prev, d_prev, ratio, a_c, h = step
            phi = -math.expm1(-h)
            x_corr = torch.lerp(mu, x_prev, ratio).add_(d_prev - mu, alpha=a_c * phi)
            x_corr.add_(x0_hat - d_prev, alpha=a_c * (h - phi) / h)
            if s == 0:
                x0_hat = x0_hat + (x_corr - x) / sde.marginal_coefs(t)[0]
            x = x_corr
        if s == 0:
            x_next = x0_hat
        else:
            (_, s_t), (a_s, s_s) = sde.marginal_coefs(t), sde.marginal_coefs(s)
            h = math.log(a_s / s_s) - lam_t
            d = x0_hat
            if prev is not None:
                d = x0_hat + (x0_hat - prev[1]) * (0.5 * h / (lam_t - prev[0]))
            x_next = torch.lerp(mu, x, s_s / s_t).add_(d - mu, alpha=a_s * -math.expm1(-h))
            step = (x, x0_hat, s_s / s_t, a_s, h)
        prev = (lam_t, x0_hat)
        _report(callback, i, t, s, x_next, x0_hat, len(ts))
        x = x_next
    return x


@register_sampler(
    "mean-ode",
    stochastic=False,
    description="GOUB's Mean-ODE: the reverse SDE without its noise term (docs/goub.md)",
    needs=("mean_ode_step",),
)
def mean_ode_loop(net, sde, mu, x, ts, noise_fn, callback):
    """``x_s = sde.mean_ode_step(x_t, mu, noise, t, s)``; the last step returns ``x0_hat``."""
    for i, t in enumerate(ts):
        s = _next(ts, i)
        noise = net(x, mu, _timestep_batch(t, x))
        x0_hat = sde.x0_from_noise(x, mu, noise, t)
        x_next = x0_hat if s == 0 else sde.mean_ode_step(x, mu, noise, t, s)
        _report(callback, i, t, s, x_next, x0_hat, len(ts))
        x = x_next
    return x


# the samplers as functions of (net, sde, mu, steps, **options), for direct calls
sample_posterior = SAMPLERS["posterior"]
sample_sde = SAMPLERS["sde"]
sample_ode = SAMPLERS["ode"]
sample_ddim = SAMPLERS["ddim"]
sample_dpm2m = SAMPLERS["dpm2m"]
sample_unipc = SAMPLERS["unipc"]
sample_mean_ode = SAMPLERS["mean-ode"]
