"""Synthetic degradations of clean images: the operators the tasks are built from.

Each task of :mod:`irsde.tasks` composes these operators into its synthesis; the
task-keyed functions at the end (:func:`synthesize`, :func:`degrade_for_task`, ...)
look the task up and delegate to it.

All functions take and return ``H x W x C`` float32 arrays in ``[0, 1]`` and are
deterministic given a :class:`numpy.random.Generator` (same seed, same output). Only
numpy and Pillow are used.

Conventions:

- Noise levels ``sigma`` are in 8-bit units (``sigma=25`` means ``25 / 255``); noisy
  images are clipped to ``[0, 1]`` (as any image saved to a file is).
- Convolutions use reflect padding; kernels are non-negative and sum to 1.
- :func:`bicubic_resize` is the upscaling of super-resolution everywhere (``mu`` from
  the low-resolution image, in data and on the restore path) and the general resize:
  Pillow's BICUBIC filter (Keys cubic, ``a = -0.5``) per channel in 32-bit float mode,
  antialiased when shrinking. Low-resolution images are made by :func:`downscale`
  with one of :data:`DOWNSCALE_METHODS`: ``"matlab-bicubic"`` (:func:`matlab_imresize`,
  MATLAB's ``imresize``: the same kernel, but symmetric edges and MATLAB's pixel
  grid, as BasicSR and the SR benchmarks' LR images; the default of task ``sr4``) or
  ``"pillow-bicubic"`` (:func:`bicubic_resize`; what the first ``sr4`` models used).
- Randomised parameters of :func:`degrade_for_task` are given as a fixed value, a
  ``(low, high)`` range drawn uniformly per image (:func:`draw_param`), ``{"log_uniform":
  (low, high)}`` with a uniform logarithm (as many draws in 5-15 as in 15-45), or a tuple
  of names (a random choice); :data:`TASK_DEFAULTS` lists each task's defaults.
"""

from __future__ import annotations

import io
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .errors import ConfigError
from .io import LUMA

__all__ = [
    "Degraded",
    "add_gaussian_noise",
    "add_haze",
    "add_poisson_gaussian_noise",
    "add_rain",
    "apply_kernel",
    "bicubic_down_up",
    "bicubic_downsample",
    "bicubic_resize",
    "check_image",
    "check_params",
    "degrade_for_task",
    "depth_map",
    "downscale",
    "draw_param",
    "fill_holes",
    "fill_holes_as",
    "gaussian_blur",
    "gaussian_kernel",
    "grayscale",
    "haze_transmission",
    "inpaint_holes",
    "inpaint_mask",
    "is_gray",
    "jpeg_compress",
    "matlab_imresize",
    "motion_kernel",
    "rain_streaks",
    "restore_input_for_task",
    "smooth_field",
    "smooth_fill",
    "synthesize",
]

Size = tuple[int, int]


def check_image(img: np.ndarray) -> np.ndarray:
    """``img`` as a float32 ``H x W (x C)`` array (a ValueError for other shapes)."""
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an H x W (x C) image, got shape {img.shape}")
    return img.astype(np.float32, copy=False)


def _hw(img: np.ndarray) -> Size:
    return int(img.shape[0]), int(img.shape[1])


# --------------------------------------------------------------------------- resizing


def bicubic_resize(img: np.ndarray, size: Size, *, clip: bool = True) -> np.ndarray:
    """Resize ``img`` to ``size = (height, width)`` with Pillow BICUBIC in float mode.

    Antialiased when shrinking; the resize of a constant image is that constant.
    The result is clipped to ``[0, 1]`` unless ``clip=False``.
    """
    img = check_image(img)
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"resize target must be at least 1x1, got {size}")
    if _hw(img) == (h, w):
        out = img.copy()
    else:
        planes = img[..., None] if img.ndim == 2 else img
        out = np.stack(
            [
                np.asarray(
                    Image.fromarray(np.ascontiguousarray(planes[..., c])).resize(
                        (w, h), Image.Resampling.BICUBIC
                    )
                )
                for c in range(planes.shape[2])
            ],
            axis=-1,
        )
        if img.ndim == 2:
            out = out[..., 0]
    return np.clip(out, 0.0, 1.0) if clip else out.astype(np.float32, copy=False)


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """The bicubic kernel of Keys (1981) with ``a = -0.5`` (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = 1.5 * ax3 - 2.5 * ax2 + 1.0
    far = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    return np.where(ax <= 1.0, near, np.where(ax <= 2.0, far, 0.0))


def _matlab_taps(n_in: int, n_out: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and source indices (``n_out x taps``) of MATLAB's bicubic ``imresize``
    along one axis: output pixel ``x`` (1-based) samples ``x / scale + (1 - 1 / scale) / 2``;
    shrinking stretches the kernel by ``1 / scale`` (antialiasing); edges are mirrored
    with the edge pixel repeated (``symmetric`` padding)."""
    shrink = scale < 1.0
    width = 4.0 / scale if shrink else 4.0
    u = np.arange(1, n_out + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    idx = left[:, None] + np.arange(math.ceil(width) + 2)[None, :]
    dist = u[:, None] - idx
    weights = scale * _keys_cubic(dist * scale) if shrink else _keys_cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    period = 2 * n_in
    src = (idx.astype(np.int64) - 1) % period  # 0-based, mirrored with period 2 n_in
    src = np.where(src >= n_in, period - 1 - src, src)
    return weights, src


def matlab_imresize(
    img: np.ndarray,
    scale: float | None = None,
    size: Size | None = None,
    *,
    clip: bool = True,
) -> np.ndarray:
    """Resize like MATLAB's ``imresize(img, scale)`` (bicubic, antialiased when
    shrinking), as BasicSR's ``imresize`` does: the LR images of DIV2K and the SR
    benchmarks are made so. Give ``scale`` (output ``ceil(H * scale) x ceil(W * scale)``),
    ``size = (height, width)`` (scale per axis: output / input), or both (``scale`` for
    the kernel, ``size`` for the output count). Computed in float64 without intermediate
    rounding; the result is float32, clipped to ``[0, 1]`` unless ``clip=False``."""
    img = check_image(img)
    h, w = _hw(img)
    if scale is None and size is None:
        raise ValueError("give a scale or a size")
    if scale is not None and scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    if size is None:
        size = (math.ceil(h * scale), math.ceil(w * scale))
    out_h, out_w = int(size[0]), int(size[1])
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize target must be at least 1x1, got {size}")
    out = img.astype(np.float64)
    for axis, n_in, n_out in ((0, h, out_h), (1, w, out_w)):
        weights, src = _matlab_taps(n_in, n_out, scale if scale is not None else n_out / n_in)
        moved = np.moveaxis(out, axis, 0)
        out = np.moveaxis(np.einsum("ok,ok...->o...", weights, moved[src]), 0, axis)
    out = out.astype(np.float32)
    return np.clip(out, 0.0, 1.0) if clip else out


#: how low-resolution images are made (an SR model records its own as ``task_params``
#: ``"downscale"``); see the module docstring
DOWNSCALE_METHODS: tuple[str, ...] = ("matlab-bicubic", "pillow-bicubic")


def downscale(img: np.ndarray, scale: int = 4, method: str = "matlab-bicubic") -> np.ndarray:
    """The low-resolution image: ``img`` shrunk to ``(H // scale, W // scale)`` with
    ``method`` (:data:`DOWNSCALE_METHODS`). The HR size should be a multiple of ``scale``."""
    h, w = _hw(img)
    size = (max(1, h // scale), max(1, w // scale))
    if method == "matlab-bicubic":
        return matlab_imresize(img, 1.0 / scale, size)
    if method == "pillow-bicubic":
        return bicubic_resize(img, size)
    raise ConfigError(
        f"unknown downscale method {method!r}; choose {' or '.join(DOWNSCALE_METHODS)}"
    )


def bicubic_downsample(img: np.ndarray, scale: int = 4) -> np.ndarray:
    """The low-resolution image: ``img`` shrunk to ``(H // scale, W // scale)`` with
    Pillow's bicubic (:func:`downscale` with ``"pillow-bicubic"``).

    For an exact correspondence the HR size should be a multiple of ``scale``.
    """
    return downscale(img, scale, "pillow-bicubic")


def bicubic_down_up(img: np.ndarray, scale: int = 4) -> np.ndarray:
    """Down by ``scale`` then back up to the original size (the SR network input ``mu``)."""
    return bicubic_resize(bicubic_downsample(img, scale), _hw(img))


# --------------------------------------------------------------------------- noise


def add_gaussian_noise(
    img: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    *,
    clip: bool = True,
    shared: bool = False,
) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation ``sigma / 255``; ``shared``:
    one noise field for all channels (the noise of a gray image, which stays gray)."""
    img = check_image(img)
    shape = (*img.shape[:2], 1) if shared and img.ndim == 3 else img.shape
    out = img + rng.standard_normal(shape, dtype=np.float32) * np.float32(sigma / 255.0)
    return np.clip(out, 0.0, 1.0) if clip else out


def add_poisson_gaussian_noise(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    peak: float = 100.0,
    sigma: float = 2.0,
    clip: bool = True,
) -> np.ndarray:
    """Signal-dependent noise: ``Poisson(peak * x) / peak`` plus Gaussian ``sigma / 255``.

    ``peak`` is the photon count of a white pixel (lower is noisier).
    """
    img = check_image(img)
    shot = rng.poisson(np.clip(img, 0.0, None) * peak).astype(np.float32) / np.float32(peak)
    return add_gaussian_noise(shot, sigma, rng, clip=clip)


def jpeg_compress(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode to JPEG at ``quality`` (1..95, Pillow's scale) and decode again."""
    from .io import to_uint8

    img = check_image(img)
    buf = io.BytesIO()
    Image.fromarray(to_uint8(img).squeeze()).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        out = np.asarray(im).astype(np.float32) / 255.0
    return out.reshape(img.shape)


# --------------------------------------------------------------------------- kernels


def apply_kernel(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with a 2-D ``kernel`` (reflect padding; output same size)."""
    img = check_image(img)
    kernel = np.asarray(kernel, dtype=np.float64)
    # odd sizes so that the kernel has a centre pixel
    kernel = np.pad(kernel, ((0, 1 - kernel.shape[0] % 2), (0, 1 - kernel.shape[1] % 2)))
    kh, kw = kernel.shape
    planes = img[..., None] if img.ndim == 2 else img
    h, w = _hw(planes)
    ph, pw = kh // 2, kw // 2
    padded = np.pad(planes, ((ph, ph), (pw, pw), (0, 0)), mode="reflect")
    fshape = padded.shape[:2]
    spec = np.fft.rfft2(padded, s=fshape, axes=(0, 1))
    spec *= np.fft.rfft2(kernel, s=fshape)[..., None]
    full = np.fft.irfft2(spec, s=fshape, axes=(0, 1))
    out = full[kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w].astype(np.float32)
    return out[..., 0] if img.ndim == 2 else out


def gaussian_kernel(
    sigma: float, size: int | None = None, *, sigma2: float | None = None, angle: float = 0.0
) -> np.ndarray:
    """A normalised Gaussian kernel; anisotropic when ``sigma2`` is given (``angle`` degrees).

    ``size`` defaults to ``2 * ceil(3 * max sigma) + 1``.
    """
    s1 = max(float(sigma), 1e-3)
    s2 = s1 if sigma2 is None else max(float(sigma2), 1e-3)
    if size is None:
        size = 2 * math.ceil(3 * max(s1, s2)) + 1
    size = max(1, int(size)) | 1
    r = np.arange(size, dtype=np.float64) - size // 2
    y, x = np.meshgrid(r, r, indexing="ij")
    a = math.radians(angle)
    u = x * math.cos(a) + y * math.sin(a)
    v = -x * math.sin(a) + y * math.cos(a)
    k = np.exp(-0.5 * ((u / s1) ** 2 + (v / s2) ** 2))
    return k / k.sum()


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` pixels (identity for ``sigma <= 0``)."""
    if sigma <= 0:
        return check_image(img).copy()
    return apply_kernel(img, gaussian_kernel(sigma))


def _camera_trajectory(rng: np.random.Generator, steps: int) -> np.ndarray:
    """A random camera path: inertia, random acceleration, a pull to the start, shakes."""
    acc = rng.standard_normal((steps, 2)) * 0.15
    shakes = rng.random(steps) < 0.02
    angle = rng.uniform(0, 2 * math.pi)
    v = np.array([math.cos(angle), math.sin(angle)])
    pts = np.zeros((steps + 1, 2))
    for t in range(steps):
        v = 0.95 * v + acc[t] - 0.01 * pts[t]
        if shakes[t]:
            v = -v * rng.uniform(0.5, 1.5)
        pts[t + 1] = pts[t] + v
    return pts


def motion_kernel(
    rng: np.random.Generator, size: int = 21, *, length: float | None = None, steps: int = 32
) -> np.ndarray:
    """A random motion-blur kernel from a simulated camera trajectory.

    The path is scaled so that its largest extent is ``length`` pixels (default: uniform
    in ``[size / 3, size - 2]``) and rasterised with bilinear weights proportional to the
    time spent, sampled densely enough that its support is one 8-connected piece.
    """
    size = max(3, int(size) | 1)
    if length is None:
        length = rng.uniform(size / 3, size - 2)
    length = float(np.clip(length, 1.0, size - 2))
    pts = _camera_trajectory(rng, steps)
    extent = float((pts.max(0) - pts.min(0)).max())
    pts = (pts - (pts.max(0) + pts.min(0)) / 2) * (length / max(extent, 1e-9))
    pts += (size - 1) / 2
    # densify each time step's segment (spacing <= 0.5 px); each step gets equal weight
    seg = np.diff(pts, axis=0)
    n_sub = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / 0.5).astype(int))
    idx = np.repeat(np.arange(len(seg)), n_sub)
    frac = (np.arange(n_sub.sum()) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub)) / n_sub[idx]
    p = pts[idx] + seg[idx] * frac[:, None]
    p = np.vstack([p, pts[-1:]])
    wts = np.append(1.0 / n_sub[idx], 1.0)
    k = np.zeros((size + 1, size + 1))
    base = np.floor(p).astype(int)
    fx, fy = (p - base).T
    x0, y0 = base.T
    for dy, dx, wgt in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        np.add.at(k, (y0 + dy, x0 + dx), wts * wgt)
    k = k[:size, :size]
    return k / k.sum()


# --------------------------------------------------------------------------- smooth fields


def smooth_field(
    shape: Size, rng: np.random.Generator, *, cells: int = 4, octaves: int = 2
) -> np.ndarray:
    """A smooth random ``H x W`` field in ``[0, 1]``: bicubic-upsampled noise, ``octaves`` scales.

    ``cells`` is the number of random values across the coarsest scale.
    """
    h, w = int(shape[0]), int(shape[1])
    total = np.zeros((h, w), dtype=np.float32)
    for o in range(octaves):
        n = cells * 2**o
        gh = max(2, round(n * h / max(h, w)) + 1)
        gw = max(2, round(n * w / max(h, w)) + 1)
        grid = rng.random((gh, gw), dtype=np.float32)
        total += bicubic_resize(grid, (h, w), clip=False) * np.float32(0.5**o)
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


# --------------------------------------------------------------------------- rain


def _streak_kernel(length: float, width: float, angle: float) -> np.ndarray:
    """One rain streak: a thin line (Gaussian profile, FWHM ``width``) tapered at both ends,
    ``angle`` degrees from vertical, peak value 1."""
    half = math.ceil(length / 2 + 2 * width) + 1
    r = np.arange(-half, half + 1, dtype=np.float64)
    y, x = np.meshgrid(r, r, indexing="ij")
    a = math.radians(angle)
    along = y * math.cos(a) + x * math.sin(a)
    across = x * math.cos(a) - y * math.sin(a)
    s = max(width, 0.3) / 2.355
    profile = np.exp(-0.5 * (across / s) ** 2)
    t = np.clip(np.abs(along) / max(length / 2, 0.5), 0, 1)
    taper = np.cos(0.5 * math.pi * t**2) ** 2  # flat-ish middle, smooth ends
    return profile * taper


def rain_streaks(
    shape: Size,
    rng: np.random.Generator,
    *,
    density: float = 0.005,
    angle: float = 0.0,
    length: float = 20.0,
    width: float = 1.2,
) -> np.ndarray:
    """A map of rain streaks in ``[0, 1]``: random drops (``density`` = fraction of pixels
    that start a streak, each with its own intensity) smeared along ``angle``."""
    h, w = int(shape[0]), int(shape[1])
    drops = (rng.random((h, w), dtype=np.float32) < density) * rng.uniform(0.3, 1.0, (h, w)).astype(
        np.float32
    )
    # the streak kernel peaks at 1: a lone streak is as bright as its drop
    streaks = apply_kernel(drops, _streak_kernel(length, width, angle))
    return np.clip(streaks, 0.0, 1.0)


def add_rain(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    density: float = 0.005,
    angle: float = 0.0,
    length: float = 20.0,
    width: float = 1.2,
    brightness: float = 0.8,
    layers: int = 2,
) -> np.ndarray:
    """Thin bright slanted streaks, screen-blended: ``1 - (1 - I) (1 - brightness * S)``.

    ``layers`` streak layers are drawn, each with jittered angle/length/width and the far
    ones fainter, denser, shorter and thinner, so no two images look alike.
    """
    img = check_image(img)
    shape = _hw(img)
    total = np.zeros(shape, dtype=np.float32)
    for i in range(max(1, int(layers))):
        depth = 1.0 if i == 0 else rng.uniform(0.4, 0.8)
        s = rain_streaks(
            shape,
            rng,
            density=density * (1.0 if i == 0 else rng.uniform(1.0, 2.0)),
            angle=angle + rng.uniform(-4, 4),
            length=length * depth * rng.uniform(0.8, 1.2),
            width=max(0.5, width * depth),
        )
        total = 1 - (1 - total) * (1 - s * np.float32(depth))
    total = np.clip(total * np.float32(brightness), 0.0, 1.0)
    if img.ndim == 3:
        total = total[..., None]
    return (1 - (1 - img) * (1 - total)).astype(np.float32)


# --------------------------------------------------------------------------- inpainting


def _stroke_segments(
    shape: Size, rng: np.random.Generator, scale: float
) -> tuple[np.ndarray, float]:
    """Vertices of a random brush path and its width."""
    h, w = shape
    m = min(h, w)
    n = int(rng.integers(3, 9))
    width = max(1.5, rng.uniform(0.04, 0.12) * m * scale)
    p = np.empty((n, 2))
    p[0] = rng.uniform(0, 1, 2) * (h, w)
    a = rng.uniform(0, 2 * math.pi)
    for i in range(1, n):
        a += rng.uniform(-1.2, 1.2)
        step = rng.uniform(0.1, 0.3) * m * scale
        p[i] = np.clip(p[i - 1] + step * np.array([math.sin(a), math.cos(a)]), 0, (h - 1, w - 1))
    return p, width


def _capsule(shape: Size, a: np.ndarray, b: np.ndarray, radius: float):
    """Pixels within ``radius`` of segment ``ab``: (row slice, col slice, bool mask)."""
    h, w = shape
    y0 = max(0, int(min(a[0], b[0]) - radius))
    y1 = min(h, int(max(a[0], b[0]) + radius) + 2)
    x0 = max(0, int(min(a[1], b[1]) - radius))
    x1 = min(w, int(max(a[1], b[1]) + radius) + 2)
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    d = b - a
    t = ((yy - a[0]) * d[0] + (xx - a[1]) * d[1]) / max(float(d @ d), 1e-9)
    t = np.clip(t, 0, 1)
    dist2 = (yy - a[0] - t * d[0]) ** 2 + (xx - a[1] - t * d[1]) ** 2
    return slice(y0, y1), slice(x0, x1), dist2 <= radius**2


def _shape_mask(shape: Size, rng: np.random.Generator, kind: str, scale: float) -> np.ndarray:
    h, w = shape
    out = np.zeros(shape, dtype=bool)
    if kind == "box":
        bh = max(1, int(rng.uniform(0.1, 0.4) * h * scale))
        bw = max(1, int(rng.uniform(0.1, 0.4) * w * scale))
        y, x = int(rng.integers(0, max(1, h - bh + 1))), int(rng.integers(0, max(1, w - bw + 1)))
        out[y : y + bh, x : x + bw] = True
        return out
    pts, width = _stroke_segments(shape, rng, scale)
    for a, b in itertools.pairwise(pts):
        ys, xs, m = _capsule(shape, a, b, width / 2)
        out[ys, xs] |= m
    return out


def inpaint_mask(
    shape: Size,
    rng: np.random.Generator,
    *,
    coverage: float = 0.25,
    shapes: str = "mixed",
    tol: float = 0.02,
) -> np.ndarray:
    """A boolean ``H x W`` hole mask (True = missing) covering ``coverage`` of the image.

    Holes are thick random brush strokes (``shapes="strokes"``), boxes (``"boxes"``) or
    both (``"mixed"``, 3 strokes for 1 box). Shapes are added while the covered fraction
    stays within ``coverage + tol``, shrinking those that overshoot, until it reaches
    ``coverage - tol / 2``.
    """
    if shapes not in ("mixed", "strokes", "boxes"):
        raise ConfigError(f"inpaint shapes must be mixed, strokes or boxes, not {shapes!r}")
    h, w = int(shape[0]), int(shape[1])
    target = float(np.clip(coverage, 0.0, 1.0))
    mask = np.zeros((h, w), dtype=bool)
    covered, total, scale = 0, h * w, 1.0
    for _ in range(400):
        if covered >= (target - tol / 2) * total:
            break
        kind = {"strokes": "stroke", "boxes": "box"}.get(shapes) or (
            "box" if rng.random() < 0.25 else "stroke"
        )
        cand = _shape_mask((h, w), rng, kind, scale)
        new = covered + int(np.count_nonzero(cand & ~mask))
        if new <= (target + tol) * total:
            mask |= cand
            covered = new
        else:
            scale *= 0.75
    return mask


def fill_holes(img: np.ndarray, mask: np.ndarray, value: float = 1.0) -> np.ndarray:
    """``img`` with the pixels where ``mask`` is True set to ``value`` (white by default)."""
    out = check_image(img).copy()
    out[np.asarray(mask, dtype=bool)] = value
    return out


#: how the holes of an inpainting input are filled before the network sees them
HOLE_FILLS = ("white", "smooth")


def smooth_fill(img: np.ndarray, mask: np.ndarray, sweeps: int = 6) -> np.ndarray:
    """``img`` with the pixels where ``mask`` is True filled smoothly from the others.

    A push-pull pyramid: masked 2x2 averages down to a level without gaps, then back up,
    each level taking its own known averages where it has them and the coarser estimate
    elsewhere, smoothed by ``sweeps`` Jacobi sweeps of the Laplace equation over the
    holes (a membrane, close to harmonic interpolation). Known pixels are kept exactly.
    """
    img = check_image(img)
    hole = np.asarray(mask, dtype=bool)
    if not hole.any():
        return img.copy()
    if hole.all():
        return np.full_like(img, 0.5)
    img3 = img if img.ndim == 3 else img[..., None]
    known = (~hole).astype(np.float32)
    value, weight = img3 * known[..., None], known
    levels = [(value, weight)]
    while not (weight > 0).all():  # ends at 1x1 at the latest: some pixel is known
        value, weight = _sum_2x2(value), _sum_2x2(weight[..., None])[..., 0]
        levels.append((value, weight))
    est = value / weight[..., None]
    for v, w in reversed(levels[:-1]):
        coarse = np.repeat(np.repeat(est, 2, axis=0), 2, axis=1)[: w.shape[0], : w.shape[1]]
        alpha = np.clip(w, 0.0, 1.0)[..., None]
        est = alpha * (v / np.maximum(w, 1e-12)[..., None]) + (1 - alpha) * coarse
        est = _relax(est, w <= 0, sweeps)
    out = np.where(hole[..., None], est, img3).astype(np.float32)
    return out if img.ndim == 3 else out[..., 0]


def _sum_2x2(a: np.ndarray) -> np.ndarray:
    """Sums over 2x2 blocks (odd sizes padded with zeros) of an ``H x W x C`` array."""
    h, w = a.shape[:2]
    a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)))
    return a.reshape(a.shape[0] // 2, 2, a.shape[1] // 2, 2, -1).sum(axis=(1, 3))


def _relax(est: np.ndarray, free: np.ndarray, sweeps: int) -> np.ndarray:
    """Jacobi sweeps of the 4-neighbour average over the ``free`` pixels only."""
    if not free.any():
        return est
    for _ in range(sweeps):
        p = np.pad(est, ((1, 1), (1, 1), (0, 0)), mode="edge")
        avg = 0.25 * (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:])
        est = np.where(free[..., None], avg, est)
    return est


def fill_holes_as(img: np.ndarray, mask: np.ndarray, fill: str = "white") -> np.ndarray:
    """Holes painted white (the reference convention) or filled smoothly (``"smooth"``)."""
    if fill == "white":
        return fill_holes(img, mask)
    if fill == "smooth":
        return smooth_fill(img, mask)
    raise ConfigError(f"inpainting fill must be one of {', '.join(HOLE_FILLS)}, not {fill!r}")


def inpaint_holes(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    coverage: float = 0.25,
    shapes: str = "mixed",
    fill: str = "white",
) -> tuple[np.ndarray, np.ndarray]:
    """``(image with its holes filled, bool mask)``: white holes, as the reference
    inpainting task builds them, or smoothly filled ones (``fill="smooth"``)."""
    mask = inpaint_mask(_hw(img), rng, coverage=coverage, shapes=shapes)
    return fill_holes_as(img, mask, fill), mask


# --------------------------------------------------------------------------- haze


def depth_map(shape: Size, rng: np.random.Generator) -> np.ndarray:
    """A smooth random relative depth in ``[0, 1]``: a tilted far-at-the-top ramp plus
    low-frequency variation."""
    h, w = int(shape[0]), int(shape[1])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tilt = rng.uniform(-0.3, 0.3)
    ramp = 1 - yy / max(h - 1, 1) + tilt * (xx / max(w - 1, 1) - 0.5)
    mix = rng.uniform(0.3, 0.7)
    d = mix * ramp + (1 - mix) * smooth_field((h, w), rng, cells=3, octaves=2)
    lo, hi = float(d.min()), float(d.max())
    return ((d - lo) / max(hi - lo, 1e-6)).astype(np.float32)


def haze_transmission(depth: np.ndarray, beta: float) -> np.ndarray:
    """``t = exp(-beta * d)``, in ``(0, 1]`` for ``d >= 0``."""
    return np.exp(-float(beta) * np.asarray(depth, dtype=np.float32)).astype(np.float32)


def add_haze(
    img: np.ndarray,
    rng: np.random.Generator,
    *,
    beta: float = 1.0,
    airlight: float | Sequence[float] = 0.9,
    depth: np.ndarray | None = None,
    near: float = 0.1,
) -> np.ndarray:
    """Atmospheric scattering ``I = J t + A (1 - t)``, ``t = exp(-beta d)``.

    ``d`` is ``depth`` (default: :func:`depth_map`) mapped to ``[near, 1]``; ``airlight``
    is a grey level or one value per channel.
    """
    img = check_image(img)
    if depth is None:
        depth = near + (1 - near) * depth_map(_hw(img), rng)
    t = haze_transmission(depth, beta)
    a = np.asarray(airlight, dtype=np.float32)
    if img.ndim == 3:
        t = t[..., None]
    return (img * t + a * (1 - t)).astype(np.float32)


# --------------------------------------------------------------------------- tasks


@dataclass
class Degraded:
    """A synthesized input: ``mu`` (same size as the clean image), the low-resolution
    image for a scaling task, the hole mask for inpainting, the parameters drawn, and the
    blur kernel when a benchmark setting fixes one."""

    mu: np.ndarray
    lr: np.ndarray | None = None
    mask: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)
    kernel: np.ndarray | None = None

    @property
    def restore_input(self) -> np.ndarray:
        """What ``irsde restore --task`` takes: the LR image for ``sr4``, else ``mu``."""
        return self.lr if self.lr is not None else self.mu


def draw_param(name: str, spec: Any, rng: np.random.Generator, *, integer: bool = False) -> Any:
    """A fixed value, a uniform draw from a numeric ``(low, high)`` (log-uniform from
    ``{"log_uniform": (low, high)}``), or a choice of names; ``integer``: an integer
    parameter (uniform over ``low..high``)."""
    if isinstance(spec, dict):
        return _draw_log_uniform(name, spec, rng, integer)
    if isinstance(spec, (list, tuple)):
        if spec and all(isinstance(s, str) for s in spec):
            return spec[int(rng.integers(len(spec)))]
        if len(spec) != 2 or not all(isinstance(s, (int, float)) for s in spec):
            raise ConfigError(f"degradation parameter {name!r}: expected a value or [low, high]")
        lo, hi = float(min(spec)), float(max(spec))
        if integer:
            return int(rng.integers(round(lo), round(hi) + 1))
        return float(rng.uniform(lo, hi))
    return int(spec) if integer else spec


#: the name tests use
_draw = draw_param


def _draw_log_uniform(name: str, spec: dict, rng: np.random.Generator, integer: bool) -> float:
    bounds = spec.get("log_uniform")
    if (
        set(spec) != {"log_uniform"}
        or not isinstance(bounds, (list, tuple))
        or len(bounds) != 2
        or not all(isinstance(b, (int, float)) and b > 0 for b in bounds)
        or integer
    ):
        raise ConfigError(
            f"degradation parameter {name!r}: expected {{log_uniform: [low, high]}} with "
            "0 < low <= high"
        )
    lo, hi = np.log(float(min(bounds))), np.log(float(max(bounds)))
    return float(np.exp(rng.uniform(lo, hi)))


def grayscale(img: np.ndarray) -> np.ndarray:
    """An ``H x W x 3`` image made gray: its BT.601 luma in all three channels."""
    y = img @ LUMA
    return np.repeat(y[..., None], img.shape[2], axis=2)


def is_gray(img: np.ndarray) -> bool:
    """True for a single-channel image or one whose channels are all equal."""
    img = np.asarray(img)
    return img.ndim == 2 or img.shape[2] == 1 or bool((img == img[..., :1]).all())


# The task-keyed entry points below delegate to the task objects of :mod:`irsde.tasks`
# (imported on use: the tasks are built from the operators above).


def __getattr__(name: str) -> Any:
    if name == "TASK_DEFAULTS":  # derived from the task registry on each access
        from .tasks import TASKS

        return {n: dict(t.params) for n, t in TASKS.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_params(task: str, params: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` naming any of ``params`` that ``task`` does not know."""
    from .tasks import get_task

    get_task(task).check_params(params)


def synthesize(img: np.ndarray, task: str, rng: np.random.Generator, **params: Any) -> Degraded:
    """Degrade a clean image for ``task`` (:meth:`irsde.tasks.Task.synthesize`); the
    parameters and their default ranges are the task's ``params`` (:data:`TASK_DEFAULTS`).

    A gray image (equal channels) stays gray: its noise is one field shared by the
    channels and its haze has no tint.
    """
    from .tasks import get_task

    return get_task(task).synthesize(img, rng, **params)


def degrade_for_task(
    img: np.ndarray, task: str, rng: np.random.Generator, **params: Any
) -> np.ndarray:
    """The network input ``mu`` for ``task`` (same size as ``img``, float32 in ``[0, 1]``).

    For ``sr4`` this is the bicubic x4 down-then-up image; use
    :func:`restore_input_for_task` for the low-resolution image itself.
    """
    return synthesize(img, task, rng, **params).mu


def restore_input_for_task(
    img: np.ndarray, task: str, rng: np.random.Generator, **params: Any
) -> np.ndarray:
    """What ``irsde restore --task`` takes: the LR image for ``sr4``, else ``mu``."""
    return synthesize(img, task, rng, **params).restore_input
