"""A conditional NAFNet-style noise predictor (in the spirit of the authors' "Refusion").

Much cheaper than the reference U-Net for the same image size: NAF blocks (layer norm,
pointwise + depthwise convolutions, SimpleGate, simplified channel attention) with a
time-conditioned scale/shift before each half of the block, strided-convolution
downsampling, PixelShuffle upsampling and additive skips.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .architecture import Architecture, StateDict, block_count, key_indices
from .common import (
    SinusoidalEmbedding,
    Timestep,
    layer_norm_2d,
    match_layout,
    pad_to_multiple,
    state_dict_mismatch,
    timesteps_for_batch,
)


class SimpleGate(nn.Module):
    """Split the channels (last dim for vectors) in two halves and multiply them."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=self.dim)
        return a * b


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of an image tensor, with weight and bias."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm_2d(x, self.weight, self.bias, self.eps)

    def modulated(self, x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
        """``norm(x) * (scale + 1) + shift`` with per-sample ``(B, C)`` scale and shift.

        For a single image the modulation folds into the norm's own affine parameters.
        """
        if x.shape[0] == 1:
            gain = scale[0] + 1
            return layer_norm_2d(x, self.weight * gain, self.bias * gain + shift[0], self.eps)
        y = layer_norm_2d(x, self.weight, self.bias, self.eps)
        return torch.addcmul(shift[:, :, None, None], y, scale[:, :, None, None] + 1)


class NAFBlock(nn.Module):
    """NAF block with a time-conditioned scale/shift before each of its two halves."""

    def __init__(
        self,
        c: int,
        time_dim: int,
        dw_expand: int = 2,
        ffn_expand: int = 2,
        norm: type[nn.Module] = LayerNorm2d,
    ) -> None:
        super().__init__()
        dw, ffn = c * dw_expand, c * ffn_expand
        self.mlp = nn.Sequential(SimpleGate(-1), nn.Linear(time_dim // 2, 4 * c))
        self.norm1 = norm(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.sg = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = norm(c)
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        shift_att, scale_att, shift_ffn, scale_ffn = self.mlp(emb).chunk(4, dim=1)
        h = self.conv2(self.conv1(self.norm1.modulated(x, scale_att, shift_att)))
        h = self.sg(h)
        h = h * self.sca(h)
        y = torch.addcmul(x, self.conv3(h), self.beta)
        h = self.conv4(self.norm2.modulated(y, scale_ffn, shift_ffn))
        return torch.addcmul(y, self.conv5(self.sg(h)), self.gamma)


class NAFNetBody(nn.Module):
    """The NAFNet layout shared by the conditional NAFNets: time MLP, ``intro`` (reading
    ``in_ch`` channels), encoder stages with strided downsampling, middle blocks,
    PixelShuffle upsampling with additive skips, ``ending``. Subclasses say what the
    network reads (:meth:`_input`) and how it pads (:meth:`_pad`)."""

    def __init__(
        self,
        in_ch: int,
        out_nc: int,
        width: int,
        enc_blocks: Sequence[int],
        middle_blocks: int,
        dec_blocks: Sequence[int],
        dw_expand: int = 2,
        ffn_expand: int = 2,
        norm: type[nn.Module] = LayerNorm2d,
    ) -> None:
        super().__init__()
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError("enc_blocks and dec_blocks must have the same length")
        if width < 4 or width % 2:
            raise ValueError(f"width must be an even number >= 4, got {width}")
        self.padder_size = 2 ** len(enc_blocks)
        time_dim = 4 * width
        self.time_mlp = nn.Sequential(
            SinusoidalEmbedding(width),
            nn.Linear(width, 2 * time_dim),
            SimpleGate(-1),
            nn.Linear(time_dim, time_dim),
        )
        self.intro = nn.Conv2d(in_ch, width, 3, padding=1)
        self.ending = nn.Conv2d(width, out_nc, 3, padding=1)

        def stage(c: int, n: int) -> nn.ModuleList:
            return nn.ModuleList(
                NAFBlock(c, time_dim, dw_expand, ffn_expand, norm) for _ in range(n)
            )

        self.encoders, self.downs = nn.ModuleList(), nn.ModuleList()
        self.decoders, self.ups = nn.ModuleList(), nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(stage(c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle_blks = stage(c, middle_blocks)
        for n in dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(stage(c, n))

    def _input(self, x_t: Tensor, mu: Tensor) -> Tensor:
        """What ``intro`` reads: ``x_t - mu`` and ``mu`` stacked."""
        return torch.cat((x_t - mu, mu), dim=1)

    def _pad(self, x: Tensor) -> Tensor:
        """``x`` padded to a multiple of ``padder_size`` (reflected)."""
        return pad_to_multiple(x, self.padder_size)

    @staticmethod
    def _run(blocks: nn.ModuleList, x: Tensor, emb: Tensor) -> Tensor:
        for block in blocks:
            x = block(x, emb)
        return x

    def forward(self, x_t: Tensor, mu: Tensor, t: Timestep) -> Tensor:
        h, w = x_t.shape[-2:]
        x = self._pad(self._input(x_t, mu))
        x = match_layout(x, self.intro.weight)
        t = timesteps_for_batch(t, x.shape[0], x.device)
        emb = self.time_mlp(t)
        x = self.intro(x)
        skips: list[Tensor] = []
        for blocks, down in zip(self.encoders, self.downs, strict=True):
            x = self._run(blocks, x, emb)
            skips.append(x)
            x = down(x)
        x = self._run(self.middle_blks, x, emb)
        for blocks, up in zip(self.decoders, self.ups, strict=True):
            x = self._run(blocks, up(x) + skips.pop(), emb)
        return self.ending(x)[..., :h, :w].contiguous()


class ConditionalNAFNet(NAFNetBody):
    """Conditional NAFNet noise predictor, called as ``net(x_t, mu, t)``.

    Args:
        in_nc: image channels of ``x_t`` and ``mu``.
        out_nc: channels of the predicted noise.
        width: channels at full resolution (doubled at each downsampling).
        enc_blocks: NAF blocks per encoder level (its length is the number of levels).
        middle_blocks: NAF blocks at the lowest resolution.
        dec_blocks: NAF blocks per decoder level (same length as ``enc_blocks``).
        dw_expand, ffn_expand: channel expansion of the two halves of a NAF block.

    To predict the clean image instead of the noise, wrap it:
    ``build_network("ConditionalNAFNet", prediction="x0", sde={...})``
    (:mod:`irsde.nets.parametrization`).
    """

    def __init__(
        self,
        in_nc: int = 3,
        out_nc: int = 3,
        width: int = 16,
        enc_blocks: Sequence[int] = (1, 1, 1, 1),
        middle_blocks: int = 1,
        dec_blocks: Sequence[int] = (1, 1, 1, 1),
        dw_expand: int = 2,
        ffn_expand: int = 2,
    ) -> None:
        enc_blocks, dec_blocks = [int(n) for n in enc_blocks], [int(n) for n in dec_blocks]
        super().__init__(
            2 * in_nc, out_nc, width, enc_blocks, middle_blocks, dec_blocks, dw_expand, ffn_expand
        )
        self.arch_params = {
            "in_nc": in_nc,
            "out_nc": out_nc,
            "width": width,
            "enc_blocks": enc_blocks,
            "middle_blocks": middle_blocks,
            "dec_blocks": dec_blocks,
            "dw_expand": dw_expand,
            "ffn_expand": ffn_expand,
        }


_BLOCK_KEY = re.compile(r"^(encoders\.\d+|middle_blks|decoders\.\d+)\.(\d+)\.")


def grow_into(net: nn.Module, state: Mapping[str, Tensor]) -> int:
    """Load a shallower ConditionalNAFNet's ``state`` into the deeper ``net``.

    Both networks must have the same widths and levels; ``net`` may have more NAF blocks
    per stage. The old blocks fill each stage from the front; the extra blocks keep their
    fresh initialisation, whose zero ``beta``/``gamma`` residual scales make each of them
    an identity, so the grown network computes exactly what the old one did.

    Returns the number of blocks that start as identities. Raises ``ValueError`` when
    ``state`` has keys or shapes the network lacks, or an extra block is not an identity.
    """
    missing, unexpected, wrong = state_dict_mismatch(net, state)
    not_blocks = [k for k in missing if not _BLOCK_KEY.match(k)]
    if unexpected or wrong or not_blocks:
        first = (unexpected or wrong or not_blocks)[0]
        raise ValueError(
            "not a shallower network of the same widths "
            f"({len(unexpected)} unexpected, {len(wrong)} mismatched, "
            f"{len(not_blocks)} missing non-block keys; first: {first})"
        )
    own = net.state_dict()
    new_blocks = {_BLOCK_KEY.match(k).group(0) for k in missing}  # type: ignore[union-attr]
    for prefix in new_blocks:
        if own[prefix + "beta"].any() or own[prefix + "gamma"].any():
            raise ValueError(f"block {prefix.rstrip('.')} would not start as an identity")
    with torch.no_grad():
        for k, v in state.items():
            own[k].copy_(v)
    return len(new_blocks)


def infer_params(state: StateDict) -> dict:
    """``ConditionalNAFNet`` hyper-parameters of a state dict, from its keys and shapes."""
    w = state["intro.weight"]
    if w.ndim != 4 or w.shape[1] % 2:
        raise ValueError(f"intro.weight has an unexpected shape {tuple(w.shape)}")
    levels = len(key_indices(state, "downs"))

    def blocks(prefix: str) -> int:
        return block_count(state, prefix)

    params = {
        "in_nc": int(w.shape[1]) // 2,
        "out_nc": int(state["ending.weight"].shape[0]),
        "width": int(w.shape[0]),
        "enc_blocks": [blocks(f"encoders.{i}") for i in range(levels)],
        "middle_blocks": blocks("middle_blks"),
        "dec_blocks": [blocks(f"decoders.{i}") for i in range(levels)],
    }
    for name, conv in (("dw_expand", "conv1"), ("ffn_expand", "conv4")):
        pat = re.compile(rf"(encoders|middle_blks|decoders)\.(\d+\.)?\d+\.{conv}\.weight$")
        key = next((k for k in state if pat.match(k)), None)
        if key is not None:
            out_c, in_c = state[key].shape[:2]
            params[name] = int(out_c) // max(int(in_c), 1)
    return params


ARCHITECTURE = Architecture(
    name="ConditionalNAFNet",
    cls=ConditionalNAFNet,
    # the time embedding tells it from a plain NAFNet (``intro``/``ending`` as well)
    keys=("intro.weight", "time_mlp.1.weight", "ending.weight"),
    # a norm with weight and bias tells it from Refusion's gain-only one
    pattern=r"\.norm1\.weight$",
    infer=infer_params,
    tiny={"width": 8, "enc_blocks": [1, 1], "middle_blocks": 1, "dec_blocks": [1, 1]},
    description="a conditional NAFNet, far cheaper than the U-Net on CPU",
)
