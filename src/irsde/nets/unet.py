"""The reference IR-SDE denoising network ("ConditionalUNet").

Written from the description in ``official-network.md``; module and parameter names
follow the reference checkpoints so that their ``state_dict`` loads with strict keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .architecture import Architecture, StateDict, key_indices
from .common import (
    SinusoidalEmbedding,
    Timestep,
    layer_norm_2d,
    match_layout,
    pad_to_multiple,
    timesteps_for_batch,
)

ATTN_HEADS = 4
ATTN_HEAD_DIM = 32


class GainNorm(nn.Module):
    """Layer norm over channels with a gain ``g`` and no bias (eps depends on dtype)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.g = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        return layer_norm_2d(x, self.g, None, eps)


class Block(nn.Module):
    """3x3 convolution without bias (``proj``); activation applied by the caller."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(dim_in, dim_out, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with a time-conditioned scale/shift after the first."""

    def __init__(self, dim_in: int, dim_out: int, time_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.SiLU(), nn.Linear(time_dim, 2 * dim_out))
        self.block1 = Block(dim_in, dim_out)
        self.block2 = Block(dim_out, dim_out)
        self.res_conv = (
            nn.Conv2d(dim_in, dim_out, 1, bias=False) if dim_in != dim_out else nn.Identity()
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        scale, shift = self.mlp(emb)[:, :, None, None].chunk(2, dim=1)
        h = torch.addcmul(shift, self.block1(x), scale + 1)
        h = F.silu(h, inplace=True)
        h = F.silu(self.block2(h), inplace=True)
        return h.add_(self.res_conv(x))


class LinearAttention(nn.Module):
    """Linear attention (4 heads of 32): softmax of q over channels, of k over pixels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = ATTN_HEADS * ATTN_HEAD_DIM
        self.to_qkv = nn.Conv2d(dim, 3 * hidden, 1, bias=False)
        self.to_out = nn.Sequential(nn.Conv2d(hidden, dim, 1), GainNorm(dim))

    def forward(self, x: Tensor) -> Tensor:
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            return self.to_out(self._attend_nhwc(x))
        b, _, h, w = x.shape
        n = h * w
        qkv = self.to_qkv(x).reshape(b, 3, ATTN_HEADS, ATTN_HEAD_DIM, n)
        q = qkv[:, 0].softmax(dim=-2)
        k = qkv[:, 1].softmax(dim=-1)
        v = qkv[:, 2]
        # context[d, e] = sum_n k[d, n] v[e, n]; q's scale and v's 1/n fold into it
        context = torch.matmul(k, v.transpose(-1, -2)) * (ATTN_HEAD_DIM**-0.5 / n)
        out = torch.matmul(context.transpose(-1, -2), q)
        return self.to_out(out.reshape(b, ATTN_HEADS * ATTN_HEAD_DIM, h, w))

    def _attend_nhwc(self, x: Tensor) -> Tensor:
        """The attention of a channels-last ``x``, without layout copies.

        ``q``, ``k`` and ``v`` come from one 1x1 convolution each (the thirds of
        ``to_qkv``), so each is a contiguous ``(n, 128)`` matrix of pixels; all heads go
        through one matmul each way, with the context masked to its per-head diagonal
        blocks. The result is a channels-last ``(B, 128, H, W)`` view.
        """
        b, _, h, w = x.shape
        n, hidden = h * w, ATTN_HEADS * ATTN_HEAD_DIM
        q, k, v = (
            F.conv2d(x, weight).permute(0, 2, 3, 1).reshape(b, n, hidden)
            for weight in self.to_qkv.weight.chunk(3)
        )
        q = q.unflatten(-1, (ATTN_HEADS, ATTN_HEAD_DIM)).softmax(dim=-1)
        context = torch.matmul(k.softmax(dim=1).transpose(1, 2), v)
        block = x.new_full((ATTN_HEAD_DIM, ATTN_HEAD_DIM), ATTN_HEAD_DIM**-0.5 / n)
        context = context * torch.block_diag(*[block] * ATTN_HEADS)
        out = torch.matmul(q.reshape(b, n, hidden), context)
        return out.reshape(b, h, w, hidden).permute(0, 3, 1, 2)


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.norm = GainNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(self.norm(x))


class Residual(nn.Module):
    def __init__(self, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x) + x


def attention(dim: int) -> Residual:
    """Residual, pre-normed linear attention on ``dim`` channels."""
    return Residual(PreNorm(dim, LinearAttention(dim)))


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling (no parameters)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class ConditionalUNet(nn.Module):
    """The reference IR-SDE noise predictor, called as ``net(x_t, mu, t)``.

    Args:
        in_nc: image channels of ``x_t`` and ``mu``.
        out_nc: channels of the predicted noise.
        nf: base width; level ``i`` has ``nf * 2**i`` channels.
        depth: number of encoder/decoder levels (``depth - 1`` downsamplings).
    """

    #: images stacked at the input (``x_t - mu`` and ``mu``)
    inputs = 2

    def __init__(self, in_nc: int = 3, out_nc: int = 3, nf: int = 64, depth: int = 4) -> None:
        super().__init__()
        if nf < 4 or nf % 2 or depth < 1:
            raise ValueError(f"need an even nf >= 4 and depth >= 1, got nf={nf}, depth={depth}")
        self.arch_params = {"in_nc": in_nc, "out_nc": out_nc, "nf": nf, "depth": depth}
        self.depth = depth
        time_dim = 4 * nf
        self.init_conv = nn.Conv2d(self.inputs * in_nc, nf, 7, padding=3, bias=False)
        self.time_mlp = nn.Sequential(
            SinusoidalEmbedding(nf),
            nn.Linear(nf, time_dim),
            nn.GELU(),
            nn.Linear(time_dim, time_dim),
        )
        self.downs = nn.ModuleList(
            self._down(nf * 2**i, i == depth - 1, time_dim) for i in range(depth)
        )
        mid = nf * 2**depth
        self.mid_block1 = ResBlock(mid, mid, time_dim)
        self.mid_attn = self._mid_attention(mid)
        self.mid_block2 = ResBlock(mid, mid, time_dim)
        self.ups = nn.ModuleList(
            self._up(nf * 2 ** (depth - 1 - j), j == depth - 1, time_dim) for j in range(depth)
        )
        self.final_res_block = ResBlock(2 * nf, nf, time_dim)
        self.final_conv = nn.Conv2d(nf, out_nc, 3, padding=1)

    @staticmethod
    def _mid_attention(dim: int) -> nn.Module:
        """The attention between the middle ResBlocks."""
        return attention(dim)

    @staticmethod
    def _input(x_t: Tensor, mu: Tensor) -> Tensor:
        """The ``inputs * in_nc`` channels that ``init_conv`` reads."""
        return torch.cat((x_t - mu, mu), dim=1)

    @staticmethod
    def _down(c: int, last: bool, time_dim: int) -> nn.ModuleList:
        resample = (
            nn.Conv2d(c, 2 * c, 3, padding=1, bias=False) if last else nn.Conv2d(c, 2 * c, 4, 2, 1)
        )
        return nn.ModuleList(
            [ResBlock(c, c, time_dim), ResBlock(c, c, time_dim), attention(c), resample]
        )

    @staticmethod
    def _up(c_in: int, last: bool, time_dim: int) -> nn.ModuleList:
        c_out = 2 * c_in
        resample = (
            nn.Conv2d(c_out, c_in, 3, padding=1, bias=False)
            if last
            else nn.Sequential(Upsample(), nn.Conv2d(c_out, c_in, 3, padding=1))
        )
        return nn.ModuleList(
            [
                ResBlock(c_out + c_in, c_out, time_dim),
                ResBlock(c_out + c_in, c_out, time_dim),
                attention(c_out),
                resample,
            ]
        )

    def forward(self, x_t: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        h, w = x_t.shape[-2:]
        x = pad_to_multiple(self._input(x_t, mu), 2**self.depth)
        x = match_layout(x, self.init_conv.weight)
        emb = self.time_mlp(timesteps_for_batch(t, x.shape[0], x.device))

        x = self.init_conv(x)
        r = x
        skips: list[Tensor] = []
        for res1, res2, attn, resample in self.downs:
            x = res1(x, emb)
            skips.append(x)
            x = attn(res2(x, emb))
            skips.append(x)
            x = resample(x)

        x = self.mid_block2(self.mid_attn(self.mid_block1(x, emb)), emb)

        for res1, res2, attn, resample in self.ups:
            x = res1(torch.cat((x, skips.pop()), dim=1), emb)
            x = res2(torch.cat((x, skips.pop()), dim=1), emb)
            x = resample(attn(x))

        x = self.final_res_block(torch.cat((x, r), dim=1), emb)
        return self.final_conv(x)[..., :h, :w].contiguous()


def unet_params(state: StateDict, inputs: int, name: str) -> dict:
    """U-Net hyper-parameters of a state dict whose ``init_conv`` reads ``inputs``
    images of as many channels as ``final_conv`` writes."""
    w, out = state["init_conv.weight"], state["final_conv.weight"]
    if w.ndim != 4 or out.ndim != 4:
        raise ValueError(f"init_conv.weight has an unexpected shape {tuple(w.shape)}")
    out_nc = int(out.shape[0])
    if int(w.shape[1]) != inputs * out_nc:
        what = "x_t - mu and mu" if inputs == 2 else "x_t"
        raise ValueError(
            f"init_conv.weight reads {int(w.shape[1])} channels but final_conv.weight writes "
            f"{out_nc}: a {name} reads {inputs} x {out_nc} ({what})"
        )
    return {
        "in_nc": out_nc,
        "out_nc": out_nc,
        "nf": int(w.shape[0]),
        "depth": len(key_indices(state, "downs")),
    }


def infer_params(state: StateDict) -> dict:
    """``ConditionalUNet`` hyper-parameters of a state dict, from its shapes."""
    return unet_params(state, ConditionalUNet.inputs, "ConditionalUNet")


ARCHITECTURE = Architecture(
    name="ConditionalUNet",
    cls=ConditionalUNet,
    # linear attention in the middle tells it from the unconditional U-Net
    keys=(
        "init_conv.weight",
        "time_mlp.1.weight",
        "final_conv.weight",
        "mid_attn.fn.fn.to_out.1.g",
    ),
    infer=infer_params,
    tiny={"nf": 8, "depth": 2},
    description="the reference IR-SDE U-Net (its checkpoints load unchanged)",
)
