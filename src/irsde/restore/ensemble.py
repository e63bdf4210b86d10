"""Geometric self-ensembles: the eight flips and transposes of an image (the dihedral group)."""

from __future__ import annotations

from torch import Tensor

from ..errors import UsageError

#: geometric self-ensemble sizes: identity, + horizontal flip, + vertical flips, + transposes
ENSEMBLE_SIZES = (1, 2, 4, 8)


def dihedral(x: Tensor, k: int) -> Tensor:
    """View ``k`` (0..7) of ``(..., H, W)``: bit 0 flips W, bit 1 flips H, bit 2 transposes."""
    if k & 1:
        x = x.flip(-1)
    if k & 2:
        x = x.flip(-2)
    if k & 4:
        x = x.transpose(-2, -1)
    return x


def undo_dihedral(x: Tensor, k: int) -> Tensor:
    """The inverse of :func:`dihedral`."""
    if k & 4:
        x = x.transpose(-2, -1)
    if k & 2:
        x = x.flip(-2)
    if k & 1:
        x = x.flip(-1)
    return x


def check_ensemble(size: int) -> int:
    """``size`` if it is one of :data:`ENSEMBLE_SIZES`, else a :class:`UsageError`."""
    if size not in ENSEMBLE_SIZES:
        raise UsageError(f"ensemble must be one of {ENSEMBLE_SIZES}, got {size}")
    return int(size)
