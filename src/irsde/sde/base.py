"""The SDE interface every process implements, and the registry of processes by name.

Modelled on score_sde's ``sde_lib``: one abstract class with the closed forms of a
Gaussian diffusion, and one short subclass per process. Samplers, losses, training and
inference ask the SDE for every process-dependent quantity, never for its arrays.

All processes here share one affine form of the marginal given the clean image ``x0``
and the condition ``mu``::

    x_t - mu = alpha_t (x0 - mu) + sigma_t eps,      eps ~ N(0, I)

(:meth:`SDE.marginal_coefs`), and a Gaussian posterior ``q(x_s | x_t, x0)`` between any
two timesteps ``s < t`` (:meth:`SDE.posterior_transition`). Timesteps are integers
``1..T``; ``t`` is a Python int or a ``(B,)`` LongTensor broadcasting per sample.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from .grid import DEFAULT_SPACING, select_timesteps

Timestep = int | Tensor

#: upper bound on ``T``: schedule arrays are allocated from it (a file or flag may set it)
MAX_T = 100_000
DEFAULT_SDE_TYPE = "irsde"

#: the registered processes by name (filled at import by :func:`register_sde`)
SDES: dict[str, type[SDE]] = {}

S = TypeVar("S", bound="type[SDE]")


def register_sde(cls: S) -> S:
    """Class decorator adding an :class:`SDE` subclass to :data:`SDES` under ``cls.type``."""
    name = getattr(cls, "type", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'type' (its registry name)")
    if name in SDES and SDES[name] is not cls:
        raise ValueError(f"an SDE called {name!r} is registered already")
    SDES[name] = cls
    return cls


class SDE(ABC):
    """A discretized diffusion with Gaussian marginals and posteriors (see module doc).

    Subclasses set ``type`` and ``T``, and hold ``sigma_bars`` (the marginal std per
    timestep, length ``T + 1``). Methods a process cannot provide raise
    :class:`NotImplementedError`; samplers needing them refuse the process up front
    (:meth:`provides`).
    """

    type: ClassVar[str]
    T: int

    # ---------------------------------------------------------------- identity
    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this process: ``type(sde)(**sde.config())``."""

    def spec(self) -> dict[str, Any]:
        """The settings with the process's registry name: ``build_sde(sde.spec())``."""
        return {"type": self.type, **self.config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"

    def provides(self, *methods: str) -> bool:
        """Whether this process overrides each named optional method of :class:`SDE`."""
        return all(getattr(type(self), m) is not getattr(SDE, m) for m in methods)

    # --------------------------------------------------------- forward process
    @abstractmethod
    def forward_drift(self, x: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """Drift ``f`` of the forward SDE ``dx = f dtau + g dw`` on step ``(t - 1, t]``,
        per unit of ``tau`` (one step is ``dt`` long)."""

    @abstractmethod
    def diffusion(self, t: Timestep, like: Tensor | None = None) -> Tensor:
        """Diffusion ``g`` of the forward SDE on step ``(t - 1, t]``."""

    # ------------------------------------------------------------ closed forms
    @abstractmethod
    def marginal_coefs(self, t: int) -> tuple[float, float]:
        """``(alpha_t, sigma_t)`` of ``x_t - mu = alpha_t (x0 - mu) + sigma_t eps``; ``(1, 0)`` at 0."""

    @abstractmethod
    def mu_bar(self, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """Mean of ``x_t`` given ``x0`` (and ``mu``)."""

    @abstractmethod
    def sigma_bar(self, t: Timestep, like: Tensor | None = None) -> Tensor:
        """Std of ``x_t`` given ``x0``; broadcast over ``like`` when given."""

    @abstractmethod
    def q_sample(self, x0: Tensor, mu: Tensor, t: Timestep, noise: Tensor) -> Tensor:
        """Forward marginal sample ``mu_bar + sigma_bar * noise``."""

    @abstractmethod
    def score_from_noise(self, noise: Tensor, t: Timestep) -> Tensor:
        """Score of the marginal from the predicted noise: ``-noise / sigma_bar_t``."""

    @abstractmethod
    def noise_from_x0(self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        """The noise that produced ``x_t`` from ``x0`` (what an oracle network returns)."""

    @abstractmethod
    def x0_from_noise(self, x_t: Tensor, mu: Tensor, noise: Tensor, t: Timestep) -> Tensor:
        """Invert the marginal: the clean image implied by ``x_t`` and the noise."""

    @abstractmethod
    def prior_sample(self, mu: Tensor, z: Tensor) -> Tensor:
        """A state at ``T`` from the standard normal draw ``z``."""

    # --------------------------------------------------------------- posterior
    @abstractmethod
    def optimal_prev(
        self, x_t: Tensor, x0: Tensor, mu: Tensor, t: Timestep, s: Timestep | None = None
    ) -> Tensor:
        """Mean of ``x_s`` given ``x_t`` and ``x0`` (``s = t - 1`` by default)."""

    @abstractmethod
    def posterior_std(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> Tensor:
        """Std of ``x_s`` given ``x_t`` and ``x0`` (``s = t - 1`` by default)."""

    def posterior_transition(
        self, t: Timestep, s: Timestep | None = None, like: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(k_x, k_noise, std)`` of ``x_s = mu + k_x (x_t - mu) - k_noise noise + std z``.

        One posterior step with ``x0`` estimated from the predicted noise, as three
        per-sample scalars.
        """
        raise NotImplementedError(f"{type(self).__name__} has no posterior transition")

    # ---------------------------------------------------------- reverse drifts
    def reverse_sde_drift(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """Drift of the reverse-time SDE over one step ``t -> t - 1``."""
        raise NotImplementedError(f"{type(self).__name__} has no reverse SDE")

    def reverse_ode_drift(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """Drift of the probability-flow ODE over one step ``t -> t - 1``."""
        raise NotImplementedError(f"{type(self).__name__} has no probability-flow ODE")

    def reverse_sde_step(
        self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep, z: Tensor
    ) -> Tensor:
        """One Euler-Maruyama step ``t -> t - 1`` of the reverse SDE with noise ``z``."""
        raise NotImplementedError(f"{type(self).__name__} has no reverse SDE")

    def reverse_ode_step(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """One Euler step ``t -> t - 1`` of the probability-flow ODE."""
        raise NotImplementedError(f"{type(self).__name__} has no probability-flow ODE")

    def reverse_sde_mean(self, x: Tensor, mu: Tensor, score: Tensor, t: Timestep) -> Tensor:
        """The noise-free part of :meth:`reverse_sde_step` (the maximum-likelihood loss's
        prediction of ``x_{t-1}``)."""
        return x - self.reverse_sde_drift(x, mu, score, t)

    def reverse_euler_step(
        self, x: Tensor, mu: Tensor, score: Tensor, t: int, s: int, z: Tensor | None = None
    ) -> Tensor:
        """An Euler(-Maruyama) step from ``t`` to any ``s < t``: the SDE with noise ``z``,
        the probability-flow ODE without."""
        raise NotImplementedError(f"{type(self).__name__} has no reverse-time Euler steps")

    def mean_ode_step(self, x: Tensor, mu: Tensor, noise: Tensor, t: int, s: int) -> Tensor:
        """One step ``t -> s`` of a Mean-ODE (the reverse SDE without its noise term),
        from the predicted noise."""
        raise NotImplementedError(f"{type(self).__name__} has no Mean-ODE")

    # ------------------------------------------------------------------- grids
    def timesteps(
        self, steps: int | None = None, spacing: str = DEFAULT_SPACING, start: int | None = None
    ) -> list[int]:
        """Descending visited timesteps from ``start`` (default ``T``); see
        :func:`irsde.sde.grid.select_timesteps`."""
        return select_timesteps(self, steps, spacing, start)


# ------------------------------------------------------- float64 coefficients
def float64_probe(
    t: Timestep, s: Timestep | None, like: Tensor
) -> tuple[Timestep, Timestep | None, Tensor]:
    """``t`` and ``s`` on the CPU, and a float64 CPU tensor of ``like``'s rank: per-sample
    step coefficients computed against it keep their digits (in float32, ``1 - A^2``
    near ``t = 1`` loses them)."""

    def cpu(v: Timestep | None) -> Timestep | None:
        return v.cpu() if isinstance(v, Tensor) else v

    return cpu(t), cpu(s), torch.empty((1,) * like.ndim, dtype=torch.float64)


def cast_like(values: tuple[Tensor, ...], like: Tensor, default: torch.dtype) -> tuple[Tensor, ...]:
    """``values`` on ``like``'s device, in its dtype (``default`` for an integer ``like``)."""
    dtype = like.dtype if like.is_floating_point() else default
    return tuple(v.to(device=like.device, dtype=dtype) for v in values)


# ------------------------------------------------------------------ settings
def check_T(T: Any) -> int:
    """``T`` as an int in ``1..MAX_T``, else :class:`ValueError`."""
    if isinstance(T, bool) or not isinstance(T, int | float) or int(T) != T or not 1 <= T <= MAX_T:
        raise ValueError(f"T must be an integer in 1..{MAX_T}, got {T!r}")
    return int(T)


def check_positive(name: str, value: Any, upper: float = math.inf) -> float:
    """``value`` as a finite float in ``(0, upper]``, else :class:`ValueError`."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0 < value <= upper:
        bound = "positive" if upper == math.inf else f"in (0, {upper:g}]"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return float(value)


def build_sde(spec: Mapping[str, Any] | SDE | None = None) -> SDE:
    """The process described by ``spec``: a dict of settings with an optional ``"type"``
    (default ``"irsde"``), or an :class:`SDE` returned as is.

    Raises:
        ValueError: one line naming an unknown type or invalid settings.
    """
    if isinstance(spec, SDE):
        return spec
    settings = dict(spec or {})
    kind = settings.pop("type", DEFAULT_SDE_TYPE)
    cls = SDES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"unknown SDE type {kind!r}; choose one of {', '.join(SDES)}")
    try:
        return cls(**settings)
    except TypeError as err:
        raise ValueError(f"invalid settings for the {kind} SDE: {_first_line(err)}") from None


def sde_spec(sde: Mapping[str, Any] | SDE) -> dict[str, Any]:
    """Validated settings with their ``"type"`` (files and configs store this)."""
    return build_sde(sde).spec()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
