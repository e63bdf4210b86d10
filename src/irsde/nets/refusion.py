"""Refusion's NAFNet (the reference's ``DenoisingNAFNet_arch.ConditionalNAFNet``).

The network of the reference's ``refusion.yml`` options (deraining, deblurring, sisr,
inpainting, deshadow, bokeh, the latent configs, and unconditionally denoising-sde).
Its layout is :class:`~irsde.nets.nafnet.NAFNetBody`'s, with the reference's own
details: gain-only layer norms (``norm1.g``, eps 1e-5 in float32), zero padding to a
multiple of ``2 ** levels`` and a crop back, and ``intro`` reading ``cat(x_t - mu, mu)``
(conditional) or ``x_t`` alone (the denoising-sde variant, which ignores ``mu``).
Hyper-parameters are read from a state dict's keys and shapes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .architecture import Architecture, StateDict, block_count, key_indices
from .common import layer_norm_2d
from .nafnet import NAFNetBody
from .unet import GainNorm


class ModulatedGainNorm(GainNorm):
    """:class:`~irsde.nets.unet.GainNorm` (key ``g``) with a time scale/shift after it."""

    def modulated(self, x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
        """``norm(x) * (scale + 1) + shift`` with per-sample ``(B, C)`` scale and shift."""
        eps = 1e-5 if x.dtype == torch.float32 else 1e-3
        if x.shape[0] == 1:  # one image: the modulation folds into the gain
            return layer_norm_2d(x, self.g.reshape(-1) * (scale[0] + 1), shift[0], eps)
        y = layer_norm_2d(x, self.g, None, eps)
        return torch.addcmul(shift[:, :, None, None], y, scale[:, :, None, None] + 1)


class RefusionNAFNet(NAFNetBody):
    """Refusion's NAFNet noise predictor, called as ``net(x_t, mu, t)``.

    Args:
        in_nc: image channels (of ``x_t``, ``mu`` and the predicted noise).
        width: channels at full resolution (doubled at each downsampling).
        enc_blocks: NAF blocks per encoder level (its length is the number of levels).
        middle_blocks: NAF blocks at the lowest resolution.
        dec_blocks: NAF blocks per decoder level (same length as ``enc_blocks``).
        conditional: reads ``cat(x_t - mu, mu)``; else ``x_t`` alone (``mu`` unused).
    """

    def __init__(
        self,
        in_nc: int = 3,
        width: int = 64,
        enc_blocks: Sequence[int] = (1, 1, 1, 28),
        middle_blocks: int = 1,
        dec_blocks: Sequence[int] = (1, 1, 1, 1),
        conditional: bool = True,
    ) -> None:
        enc_blocks, dec_blocks = [int(n) for n in enc_blocks], [int(n) for n in dec_blocks]
        conditional = bool(conditional)
        in_ch = 2 * in_nc if conditional else in_nc
        super().__init__(
            in_ch, in_nc, width, enc_blocks, middle_blocks, dec_blocks, norm=ModulatedGainNorm
        )
        self.conditional = conditional
        self.arch_params = {
            "in_nc": in_nc,
            "width": width,
            "enc_blocks": enc_blocks,
            "middle_blocks": middle_blocks,
            "dec_blocks": dec_blocks,
            "conditional": conditional,
        }

    def _input(self, x_t: Tensor, mu: Tensor) -> Tensor:
        return torch.cat((x_t - mu, mu), dim=1) if self.conditional else x_t

    def _pad(self, x: Tensor) -> Tensor:
        """Zero padding at the bottom/right, as the reference's ``check_image_size``."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.padder_size, (-w) % self.padder_size
        return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


def infer_params(state: StateDict) -> dict:
    """``RefusionNAFNet`` hyper-parameters of a state dict, from its keys and shapes."""
    intro, ending = state["intro.weight"], state["ending.weight"]
    if intro.ndim != 4 or ending.ndim != 4:
        raise ValueError(f"intro.weight has an unexpected shape {tuple(intro.shape)}")
    in_nc, reads = int(ending.shape[0]), int(intro.shape[1])
    if reads not in (in_nc, 2 * in_nc):
        raise ValueError(
            f"intro.weight reads {reads} channels but ending.weight writes {in_nc}: "
            f"a RefusionNAFNet reads {2 * in_nc} (x_t - mu and mu) or {in_nc} (x_t)"
        )
    levels = len(key_indices(state, "downs"))
    return {
        "in_nc": in_nc,
        "width": int(intro.shape[0]),
        "enc_blocks": [block_count(state, f"encoders.{i}") for i in range(levels)],
        "middle_blocks": block_count(state, "middle_blks"),
        "dec_blocks": [block_count(state, f"decoders.{i}") for i in range(levels)],
        "conditional": reads == 2 * in_nc,
    }


ARCHITECTURE = Architecture(
    name="RefusionNAFNet",
    cls=RefusionNAFNet,
    keys=("intro.weight", "time_mlp.1.weight", "ending.weight"),
    # gain-only norms tell it from irsde's ConditionalNAFNet (norm1.weight, norm1.bias)
    pattern=r"\.norm1\.g$",
    infer=infer_params,
    tiny={"width": 8, "enc_blocks": [1, 1], "middle_blocks": 1, "dec_blocks": [1, 1]},
    description="Refusion's NAFNet of the reference's refusion.yml options",
)
