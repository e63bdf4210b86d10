"""GOUB: the generalized Ornstein-Uhlenbeck bridge (Yue et al., ICML 2024).

IR-SDE's mean-reverting process ``dx = theta_t (mu - x) dt + g_t dw`` with
``g_t^2 = 2 lam^2 theta_t`` (same schedule and discretization as :class:`~irsde.sde.IRSDE`),
conditioned by Doob's h-transform to end exactly at ``mu``: ``x_T = mu``. With
``v_t = lam^2 (1 - e^{-2 thetabar_t})`` and ``v_{t:T} = lam^2 (1 - e^{-2 (thetabar_T -
thetabar_t)})`` the marginal given ``x0`` is::

    x_t - mu = alpha_t (x0 - mu) + sigma_t eps,
    alpha_t = e^{-thetabar_t} v_{t:T} / v_T,    sigma_t^2 = v_t v_{t:T} / v_T

and the forward drift is ``(theta_t + g_t^2 e^{-2 (thetabar_T - thetabar_t)} / v_{t:T})
(mu - x)``. The bridge is Markov, so the posterior ``q(x_s | x_t, x0)`` is the OU's.

At ``t = T`` the state is ``mu`` whatever ``x0`` (``alpha_T = sigma_T = 0``), so no noise
of ``x_T`` tells ``x0``. There the network output is read as ``(mu - x0) / lam`` (an
``x0`` prediction on the noise's scale): the first step from ``T`` is the posterior
(or mean) step with ``x0_hat = mu - lam * output``, which never divides by ``sigma_T``.
Derivations: ``docs/goub.md``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import SDE, Timestep, cast_like, float64_probe, register_sde
from .irsde import IRSDE
from .schedules import Schedule


@register_sde
class GOUB(SDE):
    """The OU bridge from ``x0`` to ``mu`` on IR-SDE's schedule.

    Args:
        max_sigma: stationary noise level of the unconditioned process, in 8-bit units
            when ``>= 1`` (as for IR-SDE).
        T: number of timesteps.
        schedule: theta schedule, a name of :data:`~irsde.sde.SCHEDULES`.
        eps: ``exp(-thetabar_T)`` of the unconditioned process.
        dtype: dtype of the schedule arrays.
    """

    type = "goub"

    def __init__(
        self,
        max_sigma: float = 10,
        T: int = 100,
        schedule: Schedule = "cosine",
        eps: float = 0.005,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        #: the unconditioned process: schedule, and the posterior between two states
        self.ou = IRSDE(max_sigma, T, schedule, eps, dtype)
        self.T, self.lam, self.dt = self.ou.T, self.ou.lam, self.ou.dt
        self.thetas, self.thetas_cumsum = self.ou.thetas, self.ou.thetas_cumsum
        self.sigmas = self.ou.sigmas  # g_t
        arrays = bridge_arrays(self.ou.thetas_cumsum.double() * self.dt, self.lam, self.dt)
        self._arrays = {k: v.to(dtype) for k, v in arrays.items()}
        self.alphas = self._arrays["alpha"]
        self.sigma_bars = self._arrays["sigma"]
        self._cache: dict[tuple[str, torch.device, torch.dtype], Tensor] = {}

    def config(self) -> dict:
        """Settings that rebuild this SDE: ``GOUB(**sde.config())``."""
        return self.ou.config()

    # ------------------------------------------------------------------ helpers
    def _at(self, name: str, t: Timestep, like: Tensor) -> Tensor:
        """``array[t]`` of :func:`bridge_arrays`, broadcasting over ``like``."""
        dtype = like.dtype if like.is_floating_point() else self.alphas.dtype
        key = (name, like.device, dtype)
        arr = self._cache.get(key)
        if arr is None:
            arr = self._cache[key] = self._arrays[name].to(device=like.device, dtype=dtype)
        if isinstance(t, Tensor):
            t = t.to(device=arr.device, dtype=torch.long)
            if t.ndim == 0:
                return arr[t]
            return arr[t.reshape(-1)].reshape(-1, *([1] * (like.ndim - 1)))
        return arr[int(t)]

    # --------------------------------------------------------- forward process
    def forward_drift(self, x: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``kappa_t (mu - x)``: the bridge's pull towards ``mu`` on step ``(t-1, t]``.

        ``kappa_t = -log(alpha_t / alpha_{t-1}) / dt`` is the constant rate whose step
        reproduces the bridge's exact transition mean (``theta_t`` plus the h-transform
        term, averaged over the step); infinite on the last step, which pins ``x_T = mu``.
        """
        return self._at("kappa", t, x) * (mu - x)

    def diffusion(self, t: Timestep, like: Tensor | None = None) -> Tensor:
        """Diffusion on step ``(t-1, t]`` matching the exact transition variance (0 at ``T``)."""
        return self._at("g", t, self.alphas if like is None else like)

    # ------------------------------------------------------------ closed forms
    def marginal_coefs(self, t: int) -> tuple[float, float]:
        """``(alpha_t, sigma_t)``: ``(1, 0)`` at 0 and ``(0, 0)`` at ``T``."""
        return float(self.alphas[t]), float(self.sigma_bars[t])

    def mu_bar(self, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``mu + alpha_t (x0 - mu)``."""
        return mu + (x0 - mu) * self._at("alpha", t, x0)

    def sigma_bar(self, t: Timestep, like: Tensor | None = None) -> Tensor:
        """``sigma_t = sqrt(v_t v_{t:T} / v_T)``."""
        return self._at("sigma", t, self.alphas if like is None else like)

    def q_sample(self, x0: Tensor, mu: Tensor, t: Timestep, noise: Tensor) -> Tensor:
        """``mu + alpha_t (x0 - mu) + sigma_t noise`` (``mu`` at ``T``)."""
        return self.mu_bar(x0, mu, t) + self._at("sigma", t, noise) * noise

    def score_from_noise(self, noise: Tensor, t: Timestep) -> Tensor:
        """``-noise / sigma_t`` (at ``T``, ``-output / lam``: see the module doc)."""
        return -noise * self._at("inv_sigma_T", t, noise)

    def noise_from_x0(self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """The noise of ``x_t`` given ``x0``; ``(mu - x0) / lam`` at ``T``."""
        return (x_t - mu) * self._at("inv_sigma", t, x_t) - (x0 - mu) * self._at("snr", t, x_t)

    def x0_from_noise(self, x_t: Tensor, mu: Tensor, noise: Tensor, t: Timestep) -> Tensor:
        """``mu + (x_t - mu - sigma_t noise) / alpha_t``; ``mu - lam noise`` at ``T``."""
        return mu + (x_t - mu) * self._at("inv_alpha", t, x_t) - noise * self._at("nsr", t, x_t)

    def prior_sample(self, mu: Tensor, z: Tensor) -> Tensor:
        """``x_T = mu`` (``z`` unused: the bridge ends exactly there)."""
        return mu.clone()

    # --------------------------------------------------------------- posterior
    def optimal_prev(
        self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep, s: Timestep | None = None
    ) -> Tensor:
        """Mean of ``x_s`` given ``x_t`` and ``x0``: the OU's (the bridge is Markov)."""
        return self.ou.optimal_prev(x_t, x0, mu, t, s)

    def posterior_std(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> Tensor:
        """Std of ``x_s`` given ``x_t`` and ``x0``: the OU's."""
        return self.ou.posterior_std(t, s, like)

    def posterior_transition(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(k_x, k_noise, std)`` of ``x_s = mu + k_x (x_t - mu) - k_noise noise + std z``
        with ``x0`` from the network output (finite at ``T``), computed in float64."""
        ref = self.alphas if like is None else like
        t64, s64, ref64 = float64_probe(t, s, ref)
        s_prev = t64 - 1 if s64 is None else s64
        a, c = self._posterior_weights(t64, s_prev, ref64)
        k_x = a + c * self._at("inv_alpha", t64, ref64)
        k_noise = c * self._at("nsr", t64, ref64)
        std = self.ou.posterior_std(t64, s64, ref64)
        return cast_like((k_x, k_noise, std), ref, self.alphas.dtype)

    def _posterior_weights(self, t: Timestep, s: Timestep, like: Tensor) -> tuple[Tensor, Tensor]:
        """Weights ``(a, c)`` of ``x_t - mu`` and ``x0 - mu`` in the OU posterior mean."""
        zero = torch.zeros_like(like)
        a = self.ou.optimal_prev(zero + 1, zero, zero, t, s)
        c = self.ou.optimal_prev(zero, zero + 1, zero, t, s)
        return a, c

    # ----------------------------------------------------------- Mean-ODE
    def mean_ode_step(self, x: Tensor, mu: Tensor, noise: Tensor, t: int, s: int) -> Tensor:
        """One step ``t -> s`` of the paper's Mean-ODE (the reverse SDE without its noise).

        From ``T`` it is the posterior mean with ``x0_hat`` from the output. Below,
        ``x_s = mu + e^H (x - mu) + 2 lam^2 h phi(H) score`` with ``h = thetabar_t -
        thetabar_s``, ``H = h + log(v_{s:T} / v_{t:T})`` (the drift rate integrated
        exactly over ``[s, t]``) and ``phi(H) = (e^H - 1) / H``.
        """
        if t == self.T:
            return self.optimal_prev(x, self.x0_from_noise(x, mu, noise, t), mu, t, s)
        tb = self.ou.thetas_cumsum.double() * self.dt
        h = float(tb[t] - tb[s])
        H = h + math.log(float(self._arrays["v_to_T"][s]) / float(self._arrays["v_to_T"][t]))
        score = self.score_from_noise(noise, t)
        return mu + (x - mu) * math.exp(H) + score * (2 * self.lam**2 * h * math.expm1(H) / H)

    def reverse_sde_mean(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """The Mean-ODE step ``t -> t - 1`` from a score (the maximum-likelihood loss's
        prediction of ``x_{t-1}``), per sample."""
        noise = -score / self._at("inv_sigma_T", t, x)
        if not isinstance(t, Tensor) or t.ndim == 0:
            t = int(t)
            return self.mean_ode_step(x, mu, noise, t, t - 1)
        ts = t.reshape(-1).tolist()
        rows = [
            self.mean_ode_step(x[i : i + 1], mu[i : i + 1], noise[i : i + 1], k, k - 1)
            for i, k in enumerate(ts)
        ]
        return torch.cat(rows)


def bridge_arrays(theta_bar: Tensor, lam: float, dt: float) -> dict[str, Tensor]:
    """The bridge's per-timestep arrays (float64, length ``T + 1``) from ``thetabar_t``
    (``thetabar_t = thetas_cumsum[t] dt``).

    ``alpha``, ``sigma``: the marginal; ``v_to_T``: ``v_{t:T}``; ``kappa``, ``g``: the
    per-step drift rate and diffusion; conversions between ``x_t``, ``x0`` and the
    network output: ``inv_alpha = 1 / alpha``, ``nsr = sigma / alpha``, ``inv_sigma =
    1 / sigma``, ``snr = alpha / sigma`` and ``inv_sigma_T`` (``1 / sigma``, ``1 / lam``
    at ``T``), with the ``t = T`` convention of the module doc.
    """
    T = theta_bar.numel() - 1
    lam2 = lam**2
    v = lam2 * -torch.expm1(-2 * theta_bar)
    v_to_T = lam2 * -torch.expm1(-2 * (theta_bar[T] - theta_bar))
    alpha = torch.exp(-theta_bar) * v_to_T / v[T]
    sigma = torch.sqrt(v * v_to_T / v[T])
    inner = slice(1, T)  # 1..T-1: both alpha and sigma positive
    inv_alpha, nsr = torch.zeros_like(alpha), torch.zeros_like(alpha)
    inv_sigma, snr = torch.zeros_like(alpha), torch.zeros_like(alpha)
    inv_alpha[0] = 1.0
    inv_alpha[inner] = 1 / alpha[inner]
    nsr[inner] = sigma[inner] / alpha[inner]
    inv_sigma[inner] = 1 / sigma[inner]
    snr[inner] = alpha[inner] / sigma[inner]
    nsr[T], snr[T] = lam, 1 / lam
    inv_sigma_T = inv_sigma.clone()
    inv_sigma_T[T] = 1 / lam
    # step (t-1, t]: x_t - mu = r (x_{t-1} - mu) + N(0, var), the exact bridge transition,
    # is an OU step of length dt with rate kappa and diffusion g; the last one (r = 0,
    # var = 0) is the pin at mu
    step = theta_bar[1:] - theta_bar[:-1]
    r = alpha[1:T] / alpha[: T - 1]
    var = lam2 * -torch.expm1(-2 * step[: T - 1]) * v_to_T[1:T] / v_to_T[: T - 1]
    kappa, g = torch.full_like(alpha, math.inf), torch.zeros_like(alpha)
    kappa[1:T] = -torch.log(r) / dt
    g[1:T] = torch.sqrt(2 * kappa[1:T] * var / -torch.expm1(2 * torch.log(r)))
    kappa[0], g[0] = kappa[1], g[1]
    return {
        "alpha": alpha,
        "sigma": sigma,
        "v_to_T": v_to_T,
        "kappa": kappa,
        "g": g,
        "inv_alpha": inv_alpha,
        "nsr": nsr,
        "inv_sigma": inv_sigma,
        "snr": snr,
        "inv_sigma_T": inv_sigma_T,
    }
