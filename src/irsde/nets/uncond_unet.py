"""The reference's unconditional U-Net of its Gaussian-denoising experiments.

The ``ConditionalUNet`` of the reference's ``denoising-sde`` configs is the
:class:`~irsde.nets.unet.ConditionalUNet` with two differences: ``init_conv`` reads the
noisy state alone (``in_nc`` channels, no ``mu``), and the middle attention is full
softmax attention over pixels (4 heads of 32; keys ``mid_attn.fn.fn.to_qkv`` and
``mid_attn.fn.fn.to_out``, a plain convolution). It is called as ``net(x_t, mu, t)``
like every network here and ignores ``mu``; it belongs with
:class:`~irsde.sde.DenoisingSDE`, whose mean is the clean image.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .architecture import Architecture, StateDict
from .unet import ATTN_HEAD_DIM, ATTN_HEADS, ConditionalUNet, PreNorm, Residual, unet_params


class Attention(nn.Module):
    """Softmax attention over pixels (4 heads of 32), fused by ``scaled_dot_product_attention``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        hidden = ATTN_HEADS * ATTN_HEAD_DIM
        self.to_qkv = nn.Conv2d(dim, 3 * hidden, 1, bias=False)
        self.to_out = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, _, h, w = x.shape
        qkv = self.to_qkv(x).reshape(b, 3, ATTN_HEADS, ATTN_HEAD_DIM, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # (b, heads, pixels, 32) each
        out = F.scaled_dot_product_attention(q, k, v)  # scale 32**-0.5, as the reference
        out = out.transpose(-1, -2).reshape(b, ATTN_HEADS * ATTN_HEAD_DIM, h, w)
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            out = out.contiguous(memory_format=torch.channels_last)
        return self.to_out(out)


class UnconditionalUNet(ConditionalUNet):
    """The reference's unconditional noise predictor, called as ``net(x_t, mu, t)``
    (``mu`` unused).

    Args:
        in_nc: image channels of ``x_t``.
        out_nc: channels of the predicted noise.
        nf: base width; level ``i`` has ``nf * 2**i`` channels.
        depth: number of encoder/decoder levels (``depth - 1`` downsamplings).
    """

    inputs = 1

    @staticmethod
    def _mid_attention(dim: int) -> nn.Module:
        return Residual(PreNorm(dim, Attention(dim)))

    @staticmethod
    def _input(x_t: Tensor, mu: Tensor) -> Tensor:
        return x_t


def infer_params(state: StateDict) -> dict:
    """``UnconditionalUNet`` hyper-parameters of a state dict, from its shapes."""
    return unet_params(state, UnconditionalUNet.inputs, "UnconditionalUNet")


ARCHITECTURE = Architecture(
    name="UnconditionalUNet",
    cls=UnconditionalUNet,
    # full attention in the middle (a plain to_out convolution) tells it from the other
    keys=(
        "init_conv.weight",
        "time_mlp.1.weight",
        "final_conv.weight",
        "mid_attn.fn.fn.to_out.weight",
    ),
    infer=infer_params,
    tiny={"nf": 8, "depth": 2},
    conditional=False,
    description="the reference's unconditional U-Net of its denoising-sde configs (mu unused)",
)
