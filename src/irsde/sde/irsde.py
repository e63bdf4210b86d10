"""IR-SDE's mean-reverting process, discretized exactly as the reference implementation.

Forward (degradation) process, pulling a high-quality image ``x0`` towards its
low-quality counterpart ``mu``::

    dx = theta_t (mu - x) dt + sigma_t dw,     sigma_t^2 / theta_t = 2 lam^2

Integer timesteps ``t = 1..T`` index arrays of length ``T + 1`` (index 0 is never a
state). ``mu`` is always an explicit argument: nothing here keeps hidden state besides
the fixed schedule arrays.

See ``docs/sde.md`` for the formulas and ``docs/few-step-posterior.md`` for the exact
transitions between non-adjacent timesteps used by few-step samplers.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import SDE, Timestep, cast_like, check_positive, check_T, float64_probe, register_sde
from .schedules import SCHEDULES, Schedule, lam_from_max_sigma, make_thetas

#: largest stationary noise level accepted, in 8-bit units
MAX_SIGMA = 1000.0


@register_sde
class IRSDE(SDE):
    """Discretized mean-reverting SDE with its closed forms and reverse-time steps.

    Args:
        max_sigma: stationary noise level, in 8-bit units when ``>= 1`` (e.g. 10, 30, 70).
        T: number of timesteps.
        schedule: ``"cosine"`` (default), ``"linear"`` or ``"constant"``.
        eps: ``exp(-thetabar_T)``, how close ``x_T``'s mean gets to ``mu``.
        dtype: dtype of the schedule arrays (float32 reproduces the reference exactly).
    """

    type = "irsde"

    def __init__(
        self,
        max_sigma: float = 10,
        T: int = 100,
        schedule: Schedule = "cosine",
        eps: float = 0.005,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        T = check_T(T)
        max_sigma = check_positive("max_sigma", max_sigma, MAX_SIGMA)
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not 0 < eps < 1:
            raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
        self.max_sigma = float(max_sigma)
        self.T = int(T)
        self.schedule = schedule
        self.eps = float(eps)
        self.lam = self.lam_of(max_sigma)

        thetas = make_thetas(schedule, self.T, dtype)
        thetas_cumsum = torch.cumsum(thetas, dim=0) - thetas[0]
        dt = (-1 / thetas_cumsum[-1]) * math.log(eps)
        self.thetas = thetas
        self.sigmas = torch.sqrt(self.lam**2 * 2 * thetas)
        self.thetas_cumsum = thetas_cumsum
        self.dt = float(dt)
        self.sigma_bars = torch.sqrt(self.lam**2 * (1 - torch.exp(-2 * thetas_cumsum * dt)))
        self._cache: dict[tuple[str, torch.device, torch.dtype], Tensor] = {}

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def lam_of(max_sigma: float) -> float:
        """Stationary std from ``max_sigma`` (8-bit units when ``>= 1``)."""
        return lam_from_max_sigma(max_sigma)

    def config(self) -> dict:
        """Settings that rebuild this SDE: ``IRSDE(**sde.config())``."""
        return {
            "max_sigma": self.max_sigma,
            "T": self.T,
            "schedule": self.schedule,
            "eps": self.eps,
        }

    def _array(self, name: str, like: Tensor) -> Tensor:
        """A schedule array on ``like``'s device and floating dtype (cached)."""
        dtype = like.dtype if like.is_floating_point() else self.thetas.dtype
        key = (name, like.device, dtype)
        arr = self._cache.get(key)
        if arr is None:
            arr = getattr(self, name).to(device=like.device, dtype=dtype)
            self._cache[key] = arr
        return arr

    def _at(self, name: str, t: Timestep, like: Tensor) -> Tensor:
        """``array[t]`` shaped to broadcast over ``like`` (per sample when ``t`` is a tensor)."""
        arr = self._array(name, like)
        if isinstance(t, Tensor):
            t = t.to(device=arr.device, dtype=torch.long)
            if t.ndim == 0:
                return arr[t]
            return arr[t.reshape(-1)].reshape(-1, *([1] * (like.ndim - 1)))
        return arr[int(t)]

    def _theta_bar(self, t: Timestep, like: Tensor) -> Tensor:
        """Integrated theta ``thetas_cumsum[t] * dt`` (broadcastable)."""
        return self._at("thetas_cumsum", t, like) * self.dt

    # --------------------------------------------------------- forward process
    def forward_drift(self, x: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``theta_t (mu - x)``: mean reversion towards ``mu``."""
        return self._at("thetas", t, x) * (mu - x)

    def diffusion(self, t: Timestep, like: Tensor | None = None) -> Tensor:
        """``sigma_t = sqrt(2 lam^2 theta_t)``."""
        return self._at("sigmas", t, self.sigmas if like is None else like)

    # ------------------------------------------------------------ closed forms
    def mu_bar(self, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """Mean of ``x_t`` given ``x0``: ``mu + (x0 - mu) exp(-thetabar_t)``."""
        return mu + (x0 - mu) * torch.exp(-self._theta_bar(t, x0))

    def sigma_bar(self, t: Timestep, like: Tensor | None = None) -> Tensor:
        """Std of ``x_t`` given ``x0``; broadcast over ``like`` when given."""
        return self._at("sigma_bars", t, self.sigma_bars if like is None else like)

    def q_sample(self, x0: Tensor, mu: Tensor, t: Timestep, noise: Tensor) -> Tensor:
        """Forward marginal sample ``x_t = mu_bar + sigma_bar_t * noise``."""
        return self.mu_bar(x0, mu, t) + self._at("sigma_bars", t, noise) * noise

    def score_from_noise(self, noise: Tensor, t: Timestep) -> Tensor:
        """Score of the marginal from the predicted noise: ``-noise / sigma_bar_t``."""
        return -noise / self._at("sigma_bars", t, noise)

    def noise_from_x0(self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """The noise that produced ``x_t`` from ``x0`` (the oracle network's answer)."""
        return (x_t - self.mu_bar(x0, mu, t)) / self._at("sigma_bars", t, x_t)

    def x0_from_noise(self, x_t: Tensor, mu: Tensor, noise: Tensor, t: Timestep) -> Tensor:
        """Invert the marginal: ``(x_t - mu - sigma_bar_t noise) exp(thetabar_t) + mu``."""
        a = torch.exp(self._theta_bar(t, x_t))
        return (x_t - mu - self._at("sigma_bars", t, x_t) * noise) * a + mu

    # --------------------------------------------------------- reverse drifts
    def reverse_sde_drift(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """``(theta_t (mu - x) - sigma_t^2 score) dt``."""
        theta = self._at("thetas", t, x)
        sigma = self._at("sigmas", t, x)
        return (theta * (mu - x) - sigma**2 * score) * self.dt

    def reverse_ode_drift(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """``(theta_t (mu - x) - 0.5 sigma_t^2 score) dt`` (probability flow)."""
        theta = self._at("thetas", t, x)
        sigma = self._at("sigmas", t, x)
        return (theta * (mu - x) - 0.5 * sigma**2 * score) * self.dt

    def reverse_sde_step(
        self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep, z: Tensor
    ) -> Tensor:
        """One Euler-Maruyama step ``t -> t-1`` of the reverse SDE with noise ``z``."""
        sigma = self._at("sigmas", t, x)
        return x - self.reverse_sde_drift(x, mu, score, t) - sigma * math.sqrt(self.dt) * z

    def reverse_sde_mean(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """The noise-free part of :meth:`reverse_sde_step` (the prediction in the ML loss)."""
        return x - self.reverse_sde_drift(x, mu, score, t)

    def reverse_ode_step(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """One Euler step ``t -> t-1`` of the probability-flow ODE."""
        return x - self.reverse_ode_drift(x, mu, score, t)

    # ------------------------------------------------- optimal reverse state
    def _posterior_coefs(
        self, t: Timestep, s: Timestep | None, like: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``A = e^{-(thetabar_t - thetabar_s)}``, ``B = e^{-thetabar_t}``, ``C = e^{-thetabar_s}``.

        ``s`` defaults to ``t - 1``, where ``A = exp(-thetas[t] dt)`` as in the reference.
        """
        B = torch.exp(-self._theta_bar(t, like))
        if s is None:
            A = torch.exp(-self._at("thetas", t, like) * self.dt)
            C = torch.exp(-self._theta_bar(t - 1, like))
        else:
            bar_s = self._theta_bar(s, like)
            A = torch.exp(-(self._theta_bar(t, like) - bar_s))
            C = torch.exp(-bar_s)
        return A, B, C

    def optimal_prev(
        self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep, s: Timestep | None = None
    ) -> Tensor:
        """Mean of ``x_s`` given ``x_t`` and ``x0`` (``s = t - 1`` by default): ``x*_{t-1}``.

        For ``s < t - 1`` this is the exact Gaussian posterior of the mean-reverting
        process between non-adjacent timesteps (``docs/few-step-posterior.md``).
        """
        A, B, C = self._posterior_coefs(t, s, x_t)
        denom = 1 - B**2
        return A * (1 - C**2) / denom * (x_t - mu) + C * (1 - A**2) / denom * (x0 - mu) + mu

    def posterior_std(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> Tensor:
        """Std of ``x_s`` given ``x_t`` and ``x0`` (``s = t - 1`` by default).

        Computed in log space with the variance clamped below at ``1e-20 * dt``, as in
        the reference (so it is ~0 at ``t = 1``).
        """
        ref = self.thetas if like is None else like
        return self._std_from_coefs(*self._posterior_coefs(t, s, ref))

    def _std_from_coefs(self, A: Tensor, B: Tensor, C: Tensor) -> Tensor:
        var = (1 - A**2) * (1 - C**2) / (1 - B**2)
        var = torch.clamp(var, min=1e-20 * self.dt)
        return torch.exp(0.5 * torch.log(var)) * self.lam

    def posterior_transition(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Coefficients ``(k_x, k_noise, std)`` of one posterior step written in ``x_t``
        and the predicted noise: ``x_s = mu + k_x (x_t - mu) - k_noise noise + std z``.

        The same step as :meth:`posterior_step` (``x0`` from the noise, then the optimal
        ``x_s`` and its std), folded into three per-sample scalars so that samplers
        touch the full-size tensors only a few times per step.

        The coefficients are computed in float64 on the CPU and cast to ``like``'s
        dtype and device: in float32, ``1 - A^2`` and ``1 - B^2`` lose their digits
        with many steps (``k_x`` at ``t = 2``, ``T = 1000`` is 0.975 instead of 1.000).
        """
        ref = self.thetas if like is None else like
        t64, s64, ref64 = float64_probe(t, s, ref)
        A, B, C = self._posterior_coefs(t64, s64, ref64)
        denom = 1 - B**2
        a, c = A * (1 - C**2) / denom, C * (1 - A**2) / denom
        k_x = a + c / B
        k_noise = c * self._at("sigma_bars", t64, ref64) / B
        return cast_like((k_x, k_noise, self._std_from_coefs(A, B, C)), ref, self.thetas.dtype)

    def posterior_step(
        self,
        x_t: Tensor,
        mu: Tensor,
        noise: Tensor,
        t: Timestep,
        z: Tensor,
        s: Timestep | None = None,
    ) -> Tensor:
        """Reference sampling step: ``x*_s(x_t, x0_hat) + posterior_std * z``."""
        x0_hat = self.x0_from_noise(x_t, mu, noise, t)
        return self.optimal_prev(x_t, x0_hat, mu, t, s) + self.posterior_std(t, s, like=x_t) * z

    def prior_sample(self, mu: Tensor, z: Tensor) -> Tensor:
        """Start of sampling: ``x_T = mu + lam * z``."""
        return mu + self.lam * z

    # ------------------------------------------------------- sampler support
    def marginal_coefs(self, t: int) -> tuple[float, float]:
        """``alpha_t = exp(-thetabar_t)`` and ``sigma_t = sigma_bar_t`` as floats."""
        if t == 0:
            return 1.0, 0.0
        return math.exp(-float(self.thetas_cumsum[t]) * self.dt), float(self.sigma_bars[t])

    def integrated_theta(self, t: int, s: int) -> float:
        """``sum(thetas[s+1..t]) * dt``; equals ``thetas[t] * dt`` for adjacent steps."""
        if s == t - 1:
            return float(self.thetas[t]) * self.dt
        return float(self.thetas_cumsum[t] - self.thetas_cumsum[s]) * self.dt

    def reverse_euler_step(
        self, x: Tensor, mu: Tensor, score: Tensor, t: int, s: int, z: Tensor | None = None
    ) -> Tensor:
        """Euler(-Maruyama) from ``t`` to ``s``: the reference step when ``s = t - 1``,
        else the drift ``theta ((mu - x) - k lam^2 score)`` integrated over ``[s, t]``."""
        if s == t - 1:  # the reference step, bit for bit
            if z is not None:
                return self.reverse_sde_step(x, mu, score, t, z)
            return self.reverse_ode_step(x, mu, score, t)
        h = self.integrated_theta(t, s)
        k = 1.0 if z is None else 2.0
        x_next = x - h * ((mu - x) - k * self.lam**2 * score)
        if z is not None:
            x_next = x_next - self.lam * math.sqrt(2 * h) * z
        return x_next
