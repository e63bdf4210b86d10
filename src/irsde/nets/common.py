"""Pieces shared by the networks: timestep handling, time embedding, padding, norms."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Timestep = int | float | Tensor


def timesteps_for_batch(t: Timestep, batch: int, device: torch.device) -> Tensor:
    """``t`` (int, float, 0-d, ``(1,)`` or ``(B,)`` tensor) as a float32 ``(B,)`` tensor."""
    if not isinstance(t, Tensor):
        return torch.full((batch,), float(t), dtype=torch.float32, device=device)
    t = t.to(device=device, dtype=torch.float32).reshape(-1)
    if t.numel() == 1 and batch != 1:
        return t.expand(batch)
    if t.numel() != batch:
        raise ValueError(f"t has {t.numel()} values for a batch of {batch}")
    return t


def sinusoidal_embedding(t: Tensor, dim: int) -> Tensor:
    """Transformer-style embedding of ``(B,)`` timesteps: ``[sin | cos]``, ``dim`` wide.

    Frequencies are ``exp(-log(10000) * i / (dim / 2 - 1))`` for ``i = 0 .. dim/2 - 1``.
    """
    half = dim // 2
    scale = math.log(10000) / (half - 1)
    freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    return torch.cat((args.sin(), args.cos()), dim=-1)


class SinusoidalEmbedding(nn.Module):
    """Module form of :func:`sinusoidal_embedding` (no parameters)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 4 or dim % 2:
            raise ValueError(f"embedding width must be an even number >= 4, got {dim}")
        self.dim = dim

    def forward(self, t: Tensor) -> Tensor:
        return sinusoidal_embedding(t, self.dim)


def match_layout(x: Tensor, weight: Tensor) -> Tensor:
    """``x`` in channels-last layout when ``weight`` (a conv kernel) is, else as is.

    ``net.to(memory_format=torch.channels_last)`` thus switches a whole network over
    (faster on CPU); :func:`irsde.models.load_model` does so for CPU inference.
    """
    if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _reflect_pad(x: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Reflect-pad bottom/right, repeating the reflection when the image is too small."""
    while pad_h > 0 or pad_w > 0:
        h, w = x.shape[-2:]
        step_h, step_w = min(pad_h, h - 1), min(pad_w, w - 1)
        if (pad_h and step_h <= 0) or (pad_w and step_w <= 0):
            return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return x


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Reflect-pad ``x`` at the bottom/right so that H and W are multiples of ``multiple``."""
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return _reflect_pad(x, pad_h, pad_w)


def layer_norm_2d(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    """Layer norm over the channels of an ``(B, C, H, W)`` tensor (biased variance).

    Channels-last inputs use the fused kernel on an NHWC view (no copy); contiguous
    NCHW inputs use a reduction over dim 1, which avoids two layout copies.
    """
    c = x.shape[1]
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        if weight is not None and bias is not None and bias.dtype != weight.dtype:
            bias = bias.to(weight.dtype)  # under autocast: a float32 gain, a bf16 shift
        y = F.layer_norm(x.permute(0, 2, 3, 1), (c,), _flat(weight), _flat(bias), eps)
        return y.permute(0, 3, 1, 2)
    mean = x.mean(1, keepdim=True)
    xc = x - mean
    var = xc.square().mean(1, keepdim=True)
    y = xc * torch.rsqrt(var + eps)
    if weight is not None:
        y = y * weight.view(1, c, 1, 1)
    if bias is not None:
        y = y + bias.view(1, c, 1, 1)
    return y


def _flat(p: Tensor | None) -> Tensor | None:
    return None if p is None else p.reshape(-1)


def count_parameters(net: nn.Module) -> int:
    """Number of parameters of ``net``."""
    return sum(p.numel() for p in net.parameters())


def state_dict_mismatch(
    net: nn.Module, state: Mapping[str, Tensor]
) -> tuple[list[str], list[str], list[str]]:
    """How ``state`` differs from ``net``'s own: the keys it lacks, the keys the network
    lacks, and the shared keys whose shapes differ (in the network's key order)."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, wrong
