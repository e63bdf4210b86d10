"""Training losses, for any :class:`irsde.sde.SDE`.

``ml_matching_loss`` is the paper's maximum-likelihood objective: the network's noise
prediction defines a reverse Euler step ``x_t - reverse_sde_drift`` (no noise term) which
should land on the optimal reverse state ``x*_{t-1}``. ``noise_matching_loss`` is the
plain denoising-score alternative; ``x0_matching_loss`` matches the implied clean image.
All take per-sample means over the pixels (or a ``weight``-ed mean, e.g. over the holes
of an inpainting mask) and then reduce over the batch (``reduction``: ``"mean"``,
``"sum"`` or ``"none"`` for ``(B,)``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .sde import SDE, Timestep

Kind = Literal["l1", "l2"]
Reduction = Literal["mean", "sum", "none"]


def sample_training_state(
    sde: SDE,
    x0: Tensor,
    mu: Tensor,
    generator: torch.Generator | None = None,
    final_fraction: float = 0.0,
) -> tuple[Tensor, Tensor, Tensor]:
    """Draw ``t ~ U{1..T}`` per sample and ``x_t`` from the closed-form marginal.

    ``final_fraction`` of the samples (on average) take ``t = T`` instead: the state the
    first network call of every sampler sees, and the only one a 1-NFE sampler sees.
    Returns ``(x_t, t, noise)`` with ``t`` a ``(B,)`` LongTensor.
    """
    if not 0.0 <= final_fraction <= 1.0:
        raise ValueError(f"final_fraction must be in [0, 1], got {final_fraction}")
    dev = generator.device if generator is not None else x0.device
    b = x0.shape[0]
    t = torch.randint(1, sde.T + 1, (b,), generator=generator, device=dev)
    if final_fraction > 0.0:
        at_end = torch.rand((b,), generator=generator, device=dev) < final_fraction
        t = torch.where(at_end, torch.full_like(t, sde.T), t)
    t = t.to(x0.device)
    noise = torch.randn(x0.shape, generator=generator, device=dev, dtype=x0.dtype).to(x0.device)
    return sde.q_sample(x0, mu, t, noise), t, noise


def _reduce(diff: Tensor, kind: Kind, reduction: Reduction, weight: Tensor | None = None) -> Tensor:
    if kind == "l1":
        err = diff.abs()
    elif kind == "l2":
        err = diff.square()
    else:
        raise ValueError(f"unknown loss kind {kind!r}; choose l1 or l2")
    if weight is None:
        per_sample = err.flatten(1).mean(dim=1)
    else:  # weighted mean per sample; an all-zero weight gives 0
        weight = weight.expand_as(err)
        total = weight.flatten(1).sum(dim=1)
        per_sample = (err * weight).flatten(1).sum(dim=1) / total.clamp_min(1e-8)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    if reduction == "none":
        return per_sample
    raise ValueError(f"unknown reduction {reduction!r}; choose mean, sum or none")


def ml_matching_loss(
    sde: SDE,
    noise_pred: Tensor,
    x_t: Tensor,
    x0: Tensor,
    mu: Tensor,
    t: Timestep,
    kind: Kind = "l1",
    reduction: Reduction = "mean",
) -> Tensor:
    """Maximum-likelihood matching loss ``|x_t - drift(score(noise_pred)) - x*_{t-1}|``."""
    score = sde.score_from_noise(noise_pred, t)
    predicted_prev = sde.reverse_sde_mean(x_t, mu, score, t)
    target_prev = sde.optimal_prev(x_t, x0, mu, t)
    return _reduce(predicted_prev - target_prev, kind, reduction)


def x0_matching_loss(
    sde: SDE,
    noise_pred: Tensor,
    x_t: Tensor,
    x0: Tensor,
    mu: Tensor,
    t: Timestep,
    kind: Kind = "l1",
    reduction: Reduction = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """``|x0_hat - x0|`` with ``x0_hat`` implied by the predicted noise.

    Uniform in ``t`` on the image scale: the ML loss weights ``t`` by the posterior
    coefficient of ``x0``, which vanishes near ``T``. Pair it with networks that predict
    ``x0`` (e.g. ``ConditionalNAFNet(prediction="x0")``): with a noise-predicting network
    the gradient at large ``t`` is amplified by ``exp(thetabar_t)``. ``weight``
    (broadcast to the image, e.g. ``(B, 1, H, W)``) restricts the mean to some pixels.
    """
    return _reduce(sde.x0_from_noise(x_t, mu, noise_pred, t) - x0, kind, reduction, weight)


def noise_matching_loss(
    noise_pred: Tensor, noise: Tensor, kind: Kind = "l1", reduction: Reduction = "mean"
) -> Tensor:
    """Plain noise-matching loss ``|noise_pred - noise|``."""
    return _reduce(noise_pred - noise, kind, reduction)
