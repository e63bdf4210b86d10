"""Full-reference image quality metrics with the conventions of restoration papers.

Inputs are ``H x W x C`` (or ``H x W``) RGB arrays on the 0..255 scale: uint8, or
integers or floats in [0, 255]. A float image whose values all lie in (0, 1] is taken to
be on the [0, 1] scale and refused (``ValueError``: convert with
:func:`irsde.io.to_uint8`), as are integers outside 0..255. All math is float64. ``crop_border`` pixels are removed from each
edge; with ``y_channel=True`` the metric is computed on BT.601 luma in 16..235.
SSIM uses an 11x11 Gaussian window (sigma 1.5) over the valid region and the mean over
channels, as BasicSR and the IR-SDE reference do.

:func:`lpips` (AlexNet, v0.1) runs only on weights from local files (it never downloads);
the network is a small module here with the ``lpips`` package's layer names, so that
package's weight files load unchanged without torchvision.

:func:`swd` scores two image *sets* by the sliced Wasserstein distance of their
Laplacian-pyramid patch distributions (Karras et al. 2018), numpy only.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor, nn

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB image on the 0..255 scale, in 16..235 (float64)."""
    return img.astype(np.float64) @ _Y_WEIGHTS + 16.0


def check_8bit_scale(img: np.ndarray) -> None:
    """Refuse (``ValueError``, one line) an image that is not on the 0..255 scale."""
    img = np.asarray(img)
    if img.size == 0 or img.dtype == np.uint8:
        return
    lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
    if img.dtype.kind in "ui" and (lo < 0 or hi > 255):
        raise ValueError(
            f"{img.dtype} image with values {lo:g}..{hi:g}: metrics take uint8 images or "
            "values on the 0..255 scale"
        )
    if img.dtype.kind == "f" and 0 < hi <= 1:
        raise ValueError(
            f"{img.dtype} image with values in [0, 1] (max {hi:.3g}): metrics take uint8 images "
            "or values on the 0..255 scale; convert with irsde.io.to_uint8(img)"
        )


def _prepare(
    a: np.ndarray, b: np.ndarray, crop_border: int, y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    check_8bit_scale(a)
    check_8bit_scale(b)
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if y_channel and a.ndim == 3 and a.shape[2] == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    if crop_border:
        c = int(crop_border)
        if 2 * c >= min(a.shape[:2]):
            raise ValueError(f"crop_border {c} leaves nothing of a {a.shape[0]}x{a.shape[1]} image")
        a = a[c:-c, c:-c]
        b = b[c:-c, c:-c]
    return a, b


def psnr(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Peak signal-to-noise ratio in dB for peak 255 (``inf`` for identical images)."""
    a, b = _prepare(a, b, crop_border, y_channel)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


def _gaussian_1d(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _filter_valid(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D image with ``outer(k, k)``."""
    rows = sliding_window_view(img, k.size, axis=0) @ k
    return sliding_window_view(rows, k.size, axis=1) @ k


def _ssim_channel(a: np.ndarray, b: np.ndarray, k: np.ndarray) -> float:
    c1 = (0.01 * 255) ** 2
    c2 = (0.03 * 255) ** 2
    mu_a = _filter_valid(a, k)
    mu_b = _filter_valid(b, k)
    var_a = _filter_valid(a * a, k) - mu_a**2
    var_b = _filter_valid(b * b, k) - mu_b**2
    cov = _filter_valid(a * b, k) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def ssim(a: np.ndarray, b: np.ndarray, crop_border: int = 0, y_channel: bool = False) -> float:
    """Structural similarity (Wang et al. 2004) with an 11x11 Gaussian window, sigma 1.5."""
    a, b = _prepare(a, b, crop_border, y_channel)
    if min(a.shape[:2]) < 11:
        raise ValueError(
            f"SSIM needs images of at least 11x11 pixels, got {a.shape[0]}x{a.shape[1]}"
        )
    k = _gaussian_1d()
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], k) for c in range(a.shape[2])]))


# ---------------------------------------------------------------------------- paper convention
#: pixels cropped from each edge in the tables of restoration papers (and of this project)
PAPER_CROP_BORDER = 4


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR as papers report it: on Y (BT.601 luma), :data:`PAPER_CROP_BORDER` cropped."""
    return psnr(a, b, PAPER_CROP_BORDER, y_channel=True)


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as papers report it: on Y (BT.601 luma), :data:`PAPER_CROP_BORDER` cropped."""
    return ssim(a, b, PAPER_CROP_BORDER, y_channel=True)


def paper_scores(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """``psnr_y``/``ssim_y`` (paper convention) and ``psnr_rgb``/``ssim_rgb`` (no crop)."""
    return {
        "psnr_y": psnr_y(a, b),
        "ssim_y": ssim_y(a, b),
        "psnr_rgb": psnr(a, b),
        "ssim_rgb": ssim(a, b),
    }


# ---------------------------------------------------------------------------- LPIPS
#: environment variable naming a local LPIPS weights file (never downloaded)
LPIPS_ENV = "IRSDE_LPIPS_WEIGHTS"
#: optional separate file with torchvision AlexNet weights (``features.*`` keys)
LPIPS_BACKBONE_ENV = "IRSDE_LPIPS_BACKBONE"


@functools.lru_cache(maxsize=4)
def _lpips_model(weights: str, backbone: str | None) -> LPIPSAlex:
    """The LPIPS network of these files, loaded once."""
    return LPIPSAlex.from_files(weights, backbone)


def lpips(
    a: np.ndarray,
    b: np.ndarray,
    weights: str | None = None,
    backbone: str | None = None,
    device: str = "cpu",
) -> float:
    """LPIPS distance (Zhang et al. 2018, AlexNet variant, v0.1) between two RGB images.

    Needs local weights; nothing is ever downloaded. ``weights`` (or
    ``$IRSDE_LPIPS_WEIGHTS``) is either a full LPIPS state dict (``net.slice*`` and
    ``lin*`` keys, as the ``lpips`` package's model holds) or the ``lpips`` package's
    ``weights/v0.1/alex.pth`` (``lin*`` keys only) together with ``backbone`` (or
    ``$IRSDE_LPIPS_BACKBONE``): torchvision's AlexNet state dict (``features.*`` keys).
    Inputs are ``H x W x 3`` uint8 (or 0..255) arrays; lower is more similar.

    Raises:
        FileNotFoundError: no weights file is given or found, with how to provide one.
    """
    weights = weights or os.environ.get(LPIPS_ENV)
    backbone = backbone or os.environ.get(LPIPS_BACKBONE_ENV)
    if not weights:
        raise FileNotFoundError(
            "LPIPS needs local weights: pass --lpips-weights FILE or set "
            f"{LPIPS_ENV} to the lpips package's weights/v0.1/alex.pth (plus "
            f"{LPIPS_BACKBONE_ENV} for torchvision's AlexNet weights); nothing is downloaded"
        )
    model = _lpips_model(str(weights), str(backbone) if backbone else None)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")

    def prep(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(2, 0, 1)
        return (t[None] / 127.5 - 1.0).to(device)

    model = model.to(device)
    with torch.inference_mode():
        return float(model(prep(a), prep(b)).item())


# LPIPS network: layer names of the ``lpips`` package, so its state dicts load unchanged;
# torchvision's AlexNet ``features.N`` keys are mapped onto the slices (no torchvision).
_CHANNELS = (64, 192, 384, 256, 256)
#: torchvision ``features`` index of each conv -> the lpips slice holding it
_SLICE_OF_CONV = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}


class _Lin(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(c, 1, 1, bias=False))


class _AlexSlices(nn.Module):
    """AlexNet's convolutional trunk split after each ReLU, as ``lpips.pretrained_networks``."""

    def __init__(self) -> None:
        super().__init__()
        conv = lambda i, o, k, s, p: nn.Conv2d(i, o, k, s, p)  # noqa: E731
        self.slice1 = nn.Sequential()
        self.slice1.add_module("0", conv(3, 64, 11, 4, 2))
        self.slice1.add_module("1", nn.ReLU())
        self.slice2 = nn.Sequential()
        self.slice2.add_module("2", nn.MaxPool2d(3, 2))
        self.slice2.add_module("3", conv(64, 192, 5, 1, 2))
        self.slice2.add_module("4", nn.ReLU())
        self.slice3 = nn.Sequential()
        self.slice3.add_module("5", nn.MaxPool2d(3, 2))
        self.slice3.add_module("6", conv(192, 384, 3, 1, 1))
        self.slice3.add_module("7", nn.ReLU())
        self.slice4 = nn.Sequential()
        self.slice4.add_module("8", conv(384, 256, 3, 1, 1))
        self.slice4.add_module("9", nn.ReLU())
        self.slice5 = nn.Sequential()
        self.slice5.add_module("10", conv(256, 256, 3, 1, 1))
        self.slice5.add_module("11", nn.ReLU())

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for s in (self.slice1, self.slice2, self.slice3, self.slice4, self.slice5):
            x = s(x)
            feats.append(x)
        return feats


class LPIPSAlex(nn.Module):
    """LPIPS with the AlexNet trunk and learned linear heads; inputs in ``[-1, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.net = _AlexSlices()
        for i, c in enumerate(_CHANNELS):
            self.add_module(f"lin{i}", _Lin(c))
        self.eval()

    @staticmethod
    def _normalize(f: Tensor, eps: float = 1e-10) -> Tensor:
        return f / (torch.sqrt((f * f).sum(dim=1, keepdim=True)) + eps)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        fa = self.net((a - self.shift) / self.scale)
        fb = self.net((b - self.shift) / self.scale)
        total = 0.0
        for i, (x, y) in enumerate(zip(fa, fb, strict=True)):
            d = (self._normalize(x) - self._normalize(y)) ** 2
            total = total + getattr(self, f"lin{i}").model(d).mean(dim=(2, 3))
        return total.squeeze(1)

    @classmethod
    def from_files(
        cls, weights: str | os.PathLike, backbone: str | os.PathLike | None = None
    ) -> LPIPSAlex:
        """Build from local files (see :func:`irsde.metrics.lpips`); never downloads."""
        state = _read(weights)
        if backbone:
            state.update(_read(backbone))
        mapped: dict[str, Tensor] = {}
        for k, v in state.items():
            k = k.removeprefix("module.")
            if k.startswith("features."):
                idx = int(k.split(".")[1])
                if idx in _SLICE_OF_CONV:
                    k = f"net.slice{_SLICE_OF_CONV[idx]}.{idx}.{k.split('.', 2)[2]}"
            mapped[k] = v
        model = cls()
        wanted = {k for k in model.state_dict() if k not in ("shift", "scale")}
        missing = sorted(wanted - mapped.keys())
        if missing:
            hint = "" if backbone else " (give the AlexNet backbone weights too)"
            raise ValueError(f"{weights}: LPIPS weights lack {', '.join(missing[:3])}...{hint}")
        model.load_state_dict({k: mapped[k] for k in wanted}, strict=False)
        return model


def _read(path: str | os.PathLike) -> dict[str, Tensor]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: LPIPS weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path)))
    from .errors import ModelLoadError
    from .models import load_pickled_weights

    try:
        obj = load_pickled_weights(path)
    except ModelLoadError as err:
        raise ValueError(str(err)) from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a state dict")
    return {k: v for k, v in obj.items() if isinstance(v, Tensor)}


# ------------------------------------------------------------------ sliced Wasserstein
#: the binomial 5-tap filter of ``cv2.pyrDown`` (Karras et al. 2018's pyramid)
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


@dataclass(frozen=True)
class SWD:
    """Sliced Wasserstein distance per Laplacian-pyramid level (finest first) and their mean,
    times 1000 as Karras et al. report it."""

    levels: tuple[float, ...]
    mean: float


def _blur(img: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Separable 5x5 binomial filter over axes 0 and 1 (mirror padding), times ``scale``."""
    for axis in (0, 1):
        pad = [(2, 2) if a == axis else (0, 0) for a in range(img.ndim)]
        p = np.pad(img, pad, mode="reflect")
        n = img.shape[axis]
        img = sum(w * np.take(p, np.arange(i, i + n), axis=axis) for i, w in enumerate(_BINOMIAL))
    return img * scale


def laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """``levels`` band-pass images of an ``H x W x C`` float array (finest first; the last is
    the low-pass residual): ``G_k - up(G_{k+1})`` with ``cv2.pyrDown`` / ``pyrUp`` filters."""
    gauss = [img.astype(np.float64)]
    for _ in range(1, levels):
        gauss.append(_blur(gauss[-1])[::2, ::2])
    out = []
    for fine, coarse in itertools.pairwise(gauss):
        up = np.zeros((2 * coarse.shape[0], 2 * coarse.shape[1], *coarse.shape[2:]))
        up[::2, ::2] = coarse
        out.append(fine - _blur(up, 4.0)[: fine.shape[0], : fine.shape[1]])
    return [*out, gauss[-1]]


def patch_descriptors(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    levels: int = 4,
    patch: int = 7,
    per_image: int = 128,
) -> list[np.ndarray]:
    """``per_image`` random ``patch x patch`` neighbourhoods of each pyramid level of one image,
    as ``(per_image, C, patch, patch)`` arrays; :class:`ValueError` if a level is too small."""
    arr = np.asarray(img, dtype=np.float64)
    arr = arr[..., None] if arr.ndim == 2 else arr
    out = []
    for level in laplacian_pyramid(arr, levels):
        h, w = level.shape[:2]
        if h < patch or w < patch:
            side = patch * 2 ** (levels - 1)
            raise ValueError(f"image {arr.shape[1]}x{arr.shape[0]} too small for SWD with "
                             f"{levels} levels (needs {side} px a side)")  # fmt: skip
        ys = rng.integers(0, h - patch + 1, per_image)
        xs = rng.integers(0, w - patch + 1, per_image)
        win = sliding_window_view(level, (patch, patch), axis=(0, 1))  # (h', w', C, p, p)
        out.append(win[ys, xs])
    return out


def _normalized(desc: list[np.ndarray]) -> np.ndarray:
    """Stacked descriptors minus their per-channel mean over the set, over its std, flattened."""
    d = np.concatenate(desc, axis=0)
    d = d - d.mean(axis=(0, 2, 3), keepdims=True)
    d = d / np.maximum(d.std(axis=(0, 2, 3), keepdims=True), 1e-12)
    return d.reshape(d.shape[0], -1)


def sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, directions: int = 512
) -> float:
    """Mean over random unit directions of the 1-D W1 distance of the projected rows of ``a``
    and ``b`` (equal row counts): sort and compare."""
    if a.shape != b.shape:
        raise ValueError(f"descriptor sets differ in shape: {a.shape} vs {b.shape}")
    dirs = rng.standard_normal((a.shape[1], directions))
    dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
    pa, pb = np.sort(a @ dirs, axis=0), np.sort(b @ dirs, axis=0)
    return float(np.abs(pa - pb).mean())


def swd_from_descriptors(
    preds: list[list[np.ndarray]],
    gts: list[list[np.ndarray]],
    *,
    seed: int = 0,
    directions: int = 512,
) -> SWD:
    """:func:`swd` from per-image :func:`patch_descriptors` of the two sets."""
    if not preds or len(preds) != len(gts):
        raise ValueError(
            f"SWD needs two non-empty sets of equal size, got {len(preds)} and {len(gts)}"
        )
    rng = np.random.default_rng([seed, 1])
    levels = tuple(
        1e3 * sliced_wasserstein(_normalized([p[k] for p in preds]), _normalized([g[k] for g in gts]), rng, directions)
        for k in range(len(preds[0]))
    )  # fmt: skip
    return SWD(levels, float(np.mean(levels)))


def swd(
    preds: Sequence[np.ndarray],
    gts: Sequence[np.ndarray],
    *,
    seed: int = 0,
    levels: int = 4,
    patch: int = 7,
    per_image: int = 128,
    directions: int = 512,
) -> SWD:
    """Sliced Wasserstein distance between the Laplacian-pyramid patch distributions of two
    image sets (Karras et al., ICLR 2018; no network).

    From each of ``levels`` pyramid levels of every image, ``per_image`` random
    ``patch x patch`` neighbourhoods; per level and set, each channel normalised to zero
    mean and unit std over the set; ``directions`` random 1-D projections, sorted and
    compared (mean absolute difference). Image ``i`` of both sets uses the same patch
    positions (``seed``, ``i``), so identical sets score 0. Per-set normalisation makes
    the score blind to a global gain or offset per channel.
    """

    def desc(img: np.ndarray, i: int) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, 0, i])
        return patch_descriptors(img, rng, levels=levels, patch=patch, per_image=per_image)

    return swd_from_descriptors(
        [desc(p, i) for i, p in enumerate(preds)], [desc(g, i) for i, g in enumerate(gts)],
        seed=seed, directions=directions,
    )  # fmt: skip
