"""The reference repository's Gaussian-denoising SDE (``DenoisingSDE``).

IR-SDE's mean-reverting schedule with the mean fixed at the clean image: the forward
process ``dx = theta_t (x0 - x) dt + sigma_t dw`` from ``x(0) = x0`` only adds noise,
``x_t = x0 + sigma_bar_t eps``. A noisy photo of noise level ``sigma`` is the state at
the timestep ``t*`` whose ``sigma_bar`` matches (:meth:`DenoisingSDE.optimal_timestep`),
and restoring it runs the reverse process from ``t*`` down to 1 with the photo as the
state there: ``sample(net, sde, noisy, "ode", start=t_star, x_T=noisy)``.

Unknown ``x0`` is eliminated from the reverse drifts through the score,
``x0 - x = sigma_bar^2 score``, which gives the reference's drifts::

    reverse SDE: -(sigma_t^2 / 2)(1 + e^{-2 thetabar_t}) score dt,   noise sigma_t sqrt(dt) z
    reverse ODE: -(sigma_t^2 / 2) e^{-2 thetabar_t} score dt

In the affine form of :class:`~irsde.sde.SDE` (``x_t - mu = alpha_t (x0 - mu) + sigma_t
eps``) ``alpha_t = 1``: the condition ``mu`` cancels everywhere (its networks are
unconditional), so every sampler of the registry runs on this process. The arithmetic
follows the reference's order of operations, so float32 runs reproduce its loops.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Timestep, cast_like, check_positive, float64_probe, register_sde
from .irsde import IRSDE

#: schedules the reference builds for this process (any other name means linear there)
DENOISING_SCHEDULES = ("cosine", "linear")


@register_sde
class DenoisingSDE(IRSDE):
    """Pure noising process on IR-SDE's schedule, mean fixed at ``x0``.

    Args:
        max_sigma: noise level at ``T``, in 8-bit units when ``> 1`` (the reference's rule).
        T: number of timesteps.
        schedule: ``"cosine"`` (default) or ``"linear"``.
        eps: ``exp(-thetabar_T)``; the reference fixes it at 0.04.
        dtype: dtype of the schedule arrays (float32 reproduces the reference exactly).
    """

    type = "denoising"

    def __init__(
        self,
        max_sigma: float = 70,
        T: int = 1000,
        schedule: str = "cosine",
        eps: float = 0.04,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if schedule not in DENOISING_SCHEDULES:
            raise ValueError(
                f"unknown schedule {schedule!r}; choose one of {', '.join(DENOISING_SCHEDULES)}"
            )
        super().__init__(max_sigma, T, schedule, eps, dtype)

    @staticmethod
    def lam_of(max_sigma: float) -> float:
        """``max_sigma / 255`` when ``> 1`` (the reference's rule for this process), else as is."""
        return max_sigma / 255 if max_sigma > 1 else float(max_sigma)

    # ------------------------------------------------------------ identity
    def config(self) -> dict:
        return {
            "max_sigma": self.max_sigma,
            "T": self.T,
            "schedule": self.schedule,
            "eps": self.eps,
        }

    def optimal_timestep(self, sigma: float, eps: float = 1e-6) -> int:
        """The timestep whose ``sigma_bar`` matches the noise level ``sigma`` (8-bit
        units when ``> 1``, else a fraction), as the reference's ``get_optimal_timestep``.

        A level at or above ``max_sigma`` gives ``T``; a tiny one may give 0 (nothing to do).
        """
        check_positive("sigma", sigma)
        s = sigma / 255 if sigma > 1 else float(sigma)
        target = -1 / (2 * self.dt) * math.log(max(1 - s**2 / self.lam**2 + eps, 1e-300))
        return int(torch.argmin((self.thetas_cumsum - target).abs()))

    # --------------------------------------------------------- forward process
    def forward_drift(self, x: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``theta_t (x0 - x)``: reversion towards the clean image."""
        return self._at("thetas", t, x) * (x0 - x)

    # ------------------------------------------------------------ closed forms
    def marginal_coefs(self, t: int) -> tuple[float, float]:
        """``(1, sigma_bar_t)``: ``x_t = x0 + sigma_bar_t eps``."""
        return (1.0, 0.0) if t == 0 else (1.0, float(self.sigma_bars[t]))

    def mu_bar(self, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``x0``: the mean never moves."""
        return x0

    def q_sample(self, x0: Tensor, mu: Tensor, t: Timestep, noise: Tensor) -> Tensor:
        """``x0 + sigma_bar_t noise``."""
        return noise * self._at("sigma_bars", t, noise) + x0

    def noise_from_x0(self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """``(x_t - x0) / sigma_bar_t``."""
        return (x_t - x0) / self._at("sigma_bars", t, x_t)

    def x0_from_noise(self, x_t: Tensor, mu: Tensor, noise: Tensor, t: Timestep) -> Tensor:
        """``x_t - sigma_bar_t noise``."""
        return x_t - self._at("sigma_bars", t, x_t) * noise

    def prior_sample(self, mu: Tensor, z: Tensor) -> Tensor:
        """A state at ``T`` around the image ``mu``: ``mu + sigma_bar_T z``."""
        return mu + self.sigma_bars[self.T].item() * z

    # --------------------------------------------------------- reverse drifts
    def _decay2(self, t: Timestep, like: Tensor) -> Tensor:
        """``exp(-2 thetabar_t)``."""
        return torch.exp(-2 * self._at("thetas_cumsum", t, like) * self.dt)

    def reverse_sde_drift(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """``-(sigma_t^2 / 2)(1 + e^{-2 thetabar_t}) score dt``."""
        sigma = self._at("sigmas", t, x)
        return -0.5 * sigma**2 * (1 + self._decay2(t, x)) * score * self.dt

    def reverse_ode_drift(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """``-(sigma_t^2 / 2) e^{-2 thetabar_t} score dt``."""
        sigma = self._at("sigmas", t, x)
        return -0.5 * sigma**2 * self._decay2(t, x) * score * self.dt

    def reverse_sde_step(
        self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep, z: Tensor
    ) -> Tensor:
        """``x - drift - sigma_t (z sqrt(dt))``."""
        sigma = self._at("sigmas", t, x)
        return x - self.reverse_sde_drift(x, mu, score, t) - sigma * (z * math.sqrt(self.dt))

    def reverse_euler_step(
        self, x: Tensor, mu: Tensor, score: Tensor, t: int, s: int, z: Tensor | None = None
    ) -> Tensor:
        """The reference step for ``s = t - 1``; else the drifts integrated over ``[s, t]``
        with ``e^{-2 thetabar}`` held at ``t``."""
        if s == t - 1:
            if z is not None:
                return self.reverse_sde_step(x, mu, score, t, z)
            return self.reverse_ode_step(x, mu, score, t)
        h = self.integrated_theta(t, s)
        decay = math.exp(-2 * float(self.thetas_cumsum[t]) * self.dt)
        lam2 = self.lam**2
        if z is None:
            return x + lam2 * h * decay * score
        return x + lam2 * h * (1 + decay) * score - self.lam * math.sqrt(2 * h) * z

    # --------------------------------------------------------------- posterior
    def optimal_prev(
        self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep, s: Timestep | None = None
    ) -> Tensor:
        """Mean of ``x_s`` given ``x_t`` and ``x0``: ``x0 + A (1 - C^2)/(1 - B^2) (x_t - x0)``."""
        A, B, C = self._posterior_coefs(t, s, x_t)
        return A * (1 - C**2) / (1 - B**2) * (x_t - x0) + x0

    def posterior_transition(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``x_s = x_t - (1 - k) sigma_bar_t noise + std z`` (``k_x = 1``: ``mu`` cancels).

        Computed in float64 and cast to ``like``'s dtype and device, as for IR-SDE.
        """
        ref = self.thetas if like is None else like
        t64, s64, ref64 = float64_probe(t, s, ref)
        A, B, C = self._posterior_coefs(t64, s64, ref64)
        k = A * (1 - C**2) / (1 - B**2)
        k_noise = (1 - k) * self._at("sigma_bars", t64, ref64)
        coefs = (torch.ones_like(k), k_noise, self._std_from_coefs(A, B, C))
        return cast_like(coefs, ref, self.thetas.dtype)
