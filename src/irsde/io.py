"""Image reading and writing, and conversions between arrays and tensors.

Arrays are ``H x W x C`` float32 in ``[0, 1]``; tensors are ``(B, C, H, W)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from .errors import InputError


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an 8-bit image file as an RGB float32 array in ``[0, 1]``."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read image ({err})") from None
    return rgb.astype(np.float32) / 255.0


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Round a ``[0, 1]`` float array to uint8."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a ``[0, 1]`` float (or uint8) array atomically (temp file + rename)."""
    path = Path(path)
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(arr.squeeze()).save(
            tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG")
        )
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def image_to_tensor(img: np.ndarray) -> Tensor:
    """``H x W x C`` array -> ``(1, C, H, W)`` float32 tensor."""
    if img.ndim == 2:
        img = img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))[None]


def tensor_to_image(x: Tensor) -> np.ndarray:
    """``(1, C, H, W)`` or ``(C, H, W)`` tensor -> ``H x W x C`` float32 array."""
    if x.ndim == 4:
        x = x[0]
    return x.detach().float().cpu().permute(1, 2, 0).numpy()


def sample_images_dir() -> Path:
    """Folder of the bundled sample photos."""
    return Path(__file__).parent / "assets" / "samples"
