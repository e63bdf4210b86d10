"""Conversions between the kinds of images :meth:`Restorer.restore` accepts and
:class:`~irsde.io.ImageData`."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..io import ImageData, _from_pillow, to_uint8


def from_pil(im: Image.Image) -> ImageData:
    """A PIL image as :class:`ImageData` (its mode, format and ICC profile kept)."""
    im.load()
    return _from_pillow(im, im.mode, im.format, im.info.get("icc_profile"))


def to_pil(data: ImageData, mode: str) -> Image.Image:
    """``data`` as a PIL image (16-bit gray stays 16-bit; alpha and ICC profile kept)."""
    if data.bit_depth == 16 and data.gray and data.alpha is None:
        return Image.fromarray((np.clip(data.pixels[..., 0], 0, 1) * 65535 + 0.5).astype(np.uint16))
    color = to_uint8(data.pixels)
    if data.alpha is not None:
        alpha = data.alpha
        if alpha.dtype != np.uint8:
            alpha = (
                to_uint8(alpha / float(np.iinfo(alpha.dtype).max))
                if alpha.dtype.kind in "ui"
                else to_uint8(alpha)
            )
        color = np.concatenate([color, alpha[..., None]], axis=2)
    out_mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[color.shape[2]]
    im = Image.fromarray(color if color.shape[2] > 1 else color[..., 0], mode=out_mode)
    if data.icc_profile:
        im.info["icc_profile"] = data.icc_profile
    return im


def to_array_like(data: ImageData, like: np.ndarray) -> np.ndarray:
    """Pixels (+ alpha) in the dtype and channel layout of the input array."""
    px = data.pixels
    if like.dtype == np.uint8:
        color = to_uint8(px)
    elif like.dtype == np.uint16:
        color = (np.clip(px, 0, 1) * 65535 + 0.5).astype(np.uint16)
    else:
        color = px.astype(like.dtype if like.dtype.kind == "f" else np.float32)
    if data.alpha is not None:
        color = np.concatenate([color, data.alpha[..., None].astype(color.dtype)], axis=2)
    if like.ndim == 2:
        return color[..., 0]
    return color
