"""Tiled network evaluation: any image size in bounded memory, without seams.

At *every* sampler step :class:`TiledNet` runs the network on overlapping tiles of the
full-size ``x_t`` and ``mu`` and blends the predicted noise with raised-cosine weights
(a partition of unity), so no seams show. The sampler state and its noise stay
full-size, so the noise realization does not depend on the tiling, and the network's
memory is bounded by the tile, not the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import UsageError

#: the smallest tile side: smaller tiles cost far more network calls than they save memory
MIN_TILE = 16


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``min(tile, length)`` covering ``0..length``.

    Neighbours overlap by at least ``overlap``; the last tile is shifted to end at the
    border, so every tile has the same size.
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = math.ceil((length - tile) / stride) + 1
    return sorted({min(i * stride, length - tile) for i in range(n)})


def _ramp(n: int, overlap: int, margin: int, at_start: bool, at_end: bool) -> Tensor:
    """1-D blending weight of a tile along one axis.

    At an inner edge the weight is 0 on the outer ``margin`` pixels (where the network
    sees the tile border, not the image), then rises as a raised cosine to 1 at
    ``overlap`` pixels. Two neighbours overlapping by ``overlap`` sum to exactly 1
    (``sin^2 + cos^2``); the blend divides by the sum of weights anyway.
    """
    w = torch.ones(n, dtype=torch.float64)
    o = min(overlap, n)
    m = min(margin, max(0, (o - 1) // 2))
    if o > 0:
        j = torch.arange(o, dtype=torch.float64)
        up = torch.sin(0.5 * math.pi * ((j - m + 0.5) / (o - 2 * m)).clamp(0, 1)) ** 2
        up[:m] = 0.0
        if not at_start:
            w[:o] = torch.minimum(w[:o], up)
        if not at_end:
            w[n - o :] = torch.minimum(w[n - o :], up.flip(0))
    return w


class TiledNet:
    """Evaluate ``net(x, mu, t)`` on overlapping tiles and blend the predicted noise.

    Args:
        net: the noise-prediction network.
        tile: tile side in pixels (``None`` or 0: never tile).
        overlap: minimum overlap between neighbouring tiles (at most ``tile // 2``).
        margin: pixels at inner tile edges whose prediction is discarded (weight 0);
            default ``overlap // 4``. A network whose receptive-field radius is at most
            ``margin`` gives the same result tiled and untiled (up to float rounding).
        batch: how many tiles go through the network at once (all tiles are equal-sized).
        amp_dtype: autocast dtype (CUDA; bf16 also on CPU), or None for full precision.
        channels_last: feed tiles in channels-last memory format.
    """

    def __init__(
        self,
        net: Callable[[Tensor, Tensor, Tensor], Tensor],
        tile: int | None = 512,
        overlap: int = 32,
        batch: int = 4,
        amp_dtype: torch.dtype | None = None,
        channels_last: bool = False,
        margin: int | None = None,
    ) -> None:
        if tile and tile < MIN_TILE:
            raise UsageError(
                f"tile {tile} is too small to be useful: use at least {MIN_TILE} pixels "
                "(0: no tiling)"
            )
        if tile and not 0 <= overlap <= tile // 2:
            raise UsageError(
                f"tile overlap must be in 0..{tile // 2} for tile {tile}, got {overlap}"
            )
        self.margin = overlap // 4 if margin is None else int(margin)
        self.net = net
        self.tile = int(tile or 0)
        self.overlap = int(overlap)
        self.batch = max(1, int(batch))
        self.amp_dtype = amp_dtype
        self.channels_last = channels_last
        self.calls = 0
        self._norm_key: tuple | None = None
        self._norm: list[Tensor] = []

    def _forward(self, x: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        self.calls += 1
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            mu = mu.contiguous(memory_format=torch.channels_last)
        if self.amp_dtype is not None and x.device.type in ("cuda", "cpu"):
            with torch.autocast(x.device.type, dtype=self.amp_dtype):
                out = self.net(x, mu, t)
        else:
            out = self.net(x, mu, t)
        return out.to(dtype=x.dtype).contiguous()

    def grid(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Tiles ``(y, x, th, tw)`` covering an ``h x w`` image."""
        th, tw = min(self.tile, h), min(self.tile, w)
        return [
            (y, x, th, tw)
            for y in tile_starts(h, self.tile, self.overlap)
            for x in tile_starts(w, self.tile, self.overlap)
        ]

    def weights(self, h: int, w: int, like: Tensor) -> list[Tensor]:
        """The blending weight of each tile of :meth:`grid` (``(1, 1, th, tw)`` tensors)."""
        out = []
        for y, x, th, tw in self.grid(h, w):
            wy = _ramp(th, self.overlap, self.margin, y == 0, y + th == h)
            wx = _ramp(tw, self.overlap, self.margin, x == 0, x + tw == w)
            out.append((wy[:, None] * wx[None, :]).to(like)[None, None])
        return out

    def normalized_weights(self, h: int, w: int, like: Tensor) -> list[Tensor]:
        """:meth:`weights` divided by their sum at each pixel (a partition of unity),
        computed once per image size, device and dtype (every sampler step reuses them)."""
        key = (h, w, like.device, like.dtype)
        if self._norm_key != key:
            tiles, raw = self.grid(h, w), self.weights(h, w, like)
            wsum = torch.zeros((1, 1, h, w), dtype=like.dtype, device=like.device)
            for (y, x, th, tw), wt in zip(tiles, raw, strict=True):
                wsum[..., y : y + th, x : x + tw] += wt
            self._norm = [
                wt / wsum[..., y : y + th, x : x + tw]
                for (y, x, th, tw), wt in zip(tiles, raw, strict=True)
            ]
            self._norm_key = key
        return self._norm

    def __call__(self, x: Tensor, mu: Tensor, t: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        if not self.tile or (h <= self.tile and w <= self.tile):
            return self._forward(x, mu, t)
        tiles = self.grid(h, w)
        weights = self.normalized_weights(h, w, x)
        out = torch.zeros_like(x)
        b = x.shape[0]
        for k in range(0, len(tiles), self.batch):
            group = tiles[k : k + self.batch]
            xs = torch.cat([x[..., y : y + th, z : z + tw] for y, z, th, tw in group])
            ms = torch.cat([mu[..., y : y + th, z : z + tw] for y, z, th, tw in group])
            eps = self._forward(xs, ms, t.repeat(len(group)))
            for j, (y, z, th, tw) in enumerate(group):
                out[..., y : y + th, z : z + tw].addcmul_(eps[j * b : (j + 1) * b], weights[k + j])
        return out
