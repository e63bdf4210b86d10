"""Classical (non-learned) restoration baselines, one or two per task.

Images are ``H x W x 3`` float arrays in ``[0, 1]``; every function returns float32 in
``[0, 1]``. scipy and scikit-image (the ``classic`` extra) and ``bm3d`` are imported on
first use; a missing one raises :class:`MissingDependencyError` with a one-line hint.

- denoise: non-local means (``nlm``) and BM3D (``bm3d``) given the true sigma, and
  BM3D with the sigma estimated from the image (``bm3d-blind``, what a user can run);
  a gray image (equal channels) is denoised as one channel.
- sr4: bicubic upsampling (:func:`irsde.degrade.bicubic_resize`).
- deblur: Wiener and Richardson-Lucy deconvolution *given the true kernel* (generous),
  and two that are not told the kernel: Wiener with a guessed Gaussian PSF
  (``wiener-gaussian``) and unsharp masking (``unsharp-mask``).
- inpaint: biharmonic inpainting and a push-pull membrane fill
  (:func:`irsde.degrade.smooth_fill`), given the hole mask.
- dehaze: the dark channel prior with guided-filter refinement (He et al., CVPR 2009).
- derain: the input itself and a median filter.

Default parameters were tuned on training photos (never the held-out samples):
NLM ``h = 0.4 sigma``, Wiener balance 0.001, 100 Richardson-Lucy iterations, 5x5 median,
guided-filter radius 8 for 256-pixel images (He et al. used 60 on 600x400 images).
The methods of :data:`PARAM_GRIDS` have a free parameter a user sets by eye: given a
``reference`` (the ground truth), :func:`run_baseline` picks it per image from the grid
by PSNR-Y, an upper bound on any choice by eye.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from .degrade import bicubic_resize, gaussian_blur, gaussian_kernel, is_gray, smooth_fill
from .errors import UsageError
from .tasks import TASKS, get_task

#: methods per task, the first being the one reported by default (each task's ``baselines``)
BASELINES: dict[str, tuple[str, ...]] = {n: t.baselines for n, t in TASKS.items() if t.baselines}

#: methods told the true degradation (noise sigma, blur kernel), which the blind models
#: are not: an upper bound on what a user who does not know it gets from them
NON_BLIND: dict[str, str] = {
    "nlm": "sigma",
    "bm3d": "sigma",
    "wiener": "kernel",
    "richardson-lucy": "kernel",
}


#: what the tables say about what each kind of baseline is told
BASELINE_NOTE = (
    "The IR-SDE models are blind: told neither the noise sigma nor the blur kernel. "
    "Baselines marked (true sigma) or (true kernel) are told it (generous to them); "
    "`bm3d-blind` estimates sigma from the image; `wiener-gaussian` (a Gaussian PSF) and "
    "`unsharp-mask` are not told the kernel and have their free parameters picked per image "
    "with the ground truth (an upper bound on tuning them by eye). Inpainting baselines get "
    "the mask, as the model does."
)


def baseline_label(method: str) -> str:
    """``method`` as tables show it, with what it is told: ``"bm3d (true sigma)"``."""
    return f"{method} (true {NON_BLIND[method]})" if method in NON_BLIND else method


#: free parameters picked per image with the ground truth when one is given
PARAM_GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "wiener-gaussian": {"psf_sigma": tuple(0.5 + 0.25 * i for i in range(15))},  # 0.5..4
    "unsharp-mask": {"radius": (0.5, 1.0, 2.0, 3.0, 5.0), "amount": (0.5, 1.0, 1.5, 2.0, 3.0)},
}

_HINTS = {
    "skimage": "scikit-image",
    "scipy": "scipy",
    "bm3d": "bm3d",
}


class MissingDependencyError(UsageError, ImportError):
    """An optional package needed by a classical baseline is not installed."""


def _require(module: str) -> ModuleType:
    """Import ``module`` or raise a one-line :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        pkg = _HINTS.get(top, top)
        raise MissingDependencyError(
            f"this classical baseline needs {pkg}: pip install 'irsde[classic]'"
        ) from None


def _f32(img: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)


def _sigma01(sigma: float) -> float:
    """Noise std on the 0..1 scale from 8-bit units (``>= 1``) or already 0..1."""
    return sigma / 255.0 if sigma >= 1 else float(sigma)


# --------------------------------------------------------------------------- denoise
def estimate_sigma(img: np.ndarray) -> float:
    """Gaussian noise std (0..1 scale) estimated by wavelet median absolute deviation."""
    restoration = _require("skimage.restoration")
    return float(restoration.estimate_sigma(_f32(img), channel_axis=-1, average_sigmas=True))


def _one_channel_if_gray(img: np.ndarray) -> tuple[np.ndarray, bool]:
    """A gray image (equal channels) as its one channel: its noise is one field, which
    colour denoisers would take for three independent ones."""
    gray = is_gray(img)
    return (img[..., :1] if gray else img), gray


def _as_rgb(out: np.ndarray) -> np.ndarray:
    out = out if out.ndim == 3 else out[..., None]
    return _f32(np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out)


def denoise_nlm(img: np.ndarray, sigma: float | None = None, h: float = 0.4) -> np.ndarray:
    """Non-local means (fast mode, 5x5 patches, 13x13 search) with ``h = h * sigma``.

    ``sigma`` in 8-bit units (or 0..1 when below 1); None estimates it from the image.
    A gray image is denoised as one channel.
    """
    restoration = _require("skimage.restoration")
    img, _ = _one_channel_if_gray(_f32(img))
    s = estimate_sigma(img) if sigma is None else _sigma01(sigma)
    out = restoration.denoise_nl_means(
        img, h=h * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6, channel_axis=-1
    )
    return _as_rgb(out)


def denoise_bm3d(img: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """BM3D at noise std ``sigma`` (estimated when None): colour BM3D (opponent space),
    or grey BM3D for a gray image."""
    bm3d = _require("bm3d")
    img, gray = _one_channel_if_gray(_f32(img))
    s = max(estimate_sigma(img) if sigma is None else _sigma01(sigma), 1e-4)
    img = img.astype(np.float64)
    return _as_rgb(bm3d.bm3d(img[..., 0], sigma_psd=s) if gray else bm3d.bm3d_rgb(img, sigma_psd=s))


# --------------------------------------------------------------------------- sr4
def upsample_bicubic(lr: np.ndarray, scale: int = 4) -> np.ndarray:
    """Bicubic x``scale`` upsampling of the low-resolution image (the toolkit's resize)."""
    h, w = lr.shape[:2]
    return _f32(bicubic_resize(_f32(lr), (h * scale, w * scale)))


# --------------------------------------------------------------------------- deblur
def _per_channel_padded(
    img: np.ndarray, kernel: np.ndarray, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Apply ``fn(channel, kernel)`` on a reflect-padded copy (fewer boundary artefacts)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    kernel = kernel / kernel.sum()
    p = max(kernel.shape)
    img = _f32(img)
    padded = np.pad(img, ((p, p), (p, p), (0, 0)), mode="reflect").astype(np.float64)
    out = np.stack([fn(padded[..., c], kernel) for c in range(img.shape[2])], axis=-1)
    return _f32(out[p:-p, p:-p])


def deblur_wiener(img: np.ndarray, kernel: np.ndarray, balance: float = 0.001) -> np.ndarray:
    """Wiener deconvolution with the known blur ``kernel`` (``balance``: noise/signal)."""
    restoration = _require("skimage.restoration")

    def run(ch: np.ndarray, k: np.ndarray) -> np.ndarray:
        return restoration.wiener(ch, k, balance, clip=False)

    return _per_channel_padded(img, kernel, run)


def deblur_richardson_lucy(
    img: np.ndarray, kernel: np.ndarray, iterations: int = 100
) -> np.ndarray:
    """Richardson-Lucy deconvolution with the known blur ``kernel``."""
    restoration = _require("skimage.restoration")

    def run(ch: np.ndarray, k: np.ndarray) -> np.ndarray:
        return restoration.richardson_lucy(np.maximum(ch, 1e-4), k, num_iter=iterations)

    return _per_channel_padded(img, kernel, run)


def deblur_gaussian_guess(
    img: np.ndarray, psf_sigma: float = 1.5, balance: float = 0.001
) -> np.ndarray:
    """Wiener deconvolution with a guessed Gaussian PSF of ``psf_sigma`` pixels (blind)."""
    return deblur_wiener(img, gaussian_kernel(psf_sigma), balance)


def sharpen_unsharp_mask(img: np.ndarray, radius: float = 1.0, amount: float = 1.0) -> np.ndarray:
    """Unsharp masking: ``img + amount * (img - gaussian_blur(img, radius))``."""
    img = _f32(img)
    return _f32(img + amount * (img - gaussian_blur(img, radius)))


# --------------------------------------------------------------------------- inpaint
def inpaint_biharmonic(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill the pixels where ``mask`` is True by biharmonic interpolation."""
    restoration = _require("skimage.restoration")
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 3:
        mask = mask.any(axis=2)
    if not mask.any():
        return _f32(img)
    return _f32(restoration.inpaint_biharmonic(_f32(img), mask, channel_axis=-1))


# --------------------------------------------------------------------------- dehaze
def dark_channel(img: np.ndarray, patch: int = 15) -> np.ndarray:
    """Minimum over the colour channels, then over a ``patch x patch`` window."""
    ndimage = _require("scipy.ndimage")
    return ndimage.minimum_filter(np.asarray(img).min(axis=2), size=patch, mode="nearest")


def estimate_airlight(img: np.ndarray, dark: np.ndarray, top: float = 0.001) -> np.ndarray:
    """Airlight: the brightest input pixel among the top ``top`` fraction of ``dark``."""
    flat = dark.reshape(-1)
    n = max(1, round(flat.size * top))
    idx = np.argpartition(flat, flat.size - n)[flat.size - n :]
    pixels = np.asarray(img).reshape(-1, img.shape[2])[idx]
    return pixels[np.argmax(pixels.sum(axis=1))].astype(np.float64)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` by a grey ``guide`` (He et al., 2010)."""
    ndimage = _require("scipy.ndimage")

    def box(a: np.ndarray) -> np.ndarray:
        return ndimage.uniform_filter(a, size=2 * radius + 1, mode="reflect")

    mean_i, mean_p = box(guide), box(src)
    cov_ip = box(guide * src) - mean_i * mean_p
    var_i = box(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def dehaze_dark_channel(
    img: np.ndarray,
    patch: int = 15,
    omega: float = 0.95,
    t0: float = 0.1,
    top: float = 0.001,
    radius: int = 8,
    eps: float = 1e-3,
) -> np.ndarray:
    """Dark channel prior dehazing: ``J = (I - A) / max(t, t0) + A``.

    ``t = 1 - omega * dark(I / A)``, refined by a guided filter on the grey input.
    """
    i = np.asarray(_f32(img), dtype=np.float64)
    airlight = estimate_airlight(i, dark_channel(i, patch), top)
    t = 1.0 - omega * dark_channel(i / np.maximum(airlight, 1e-6), patch)
    t = guided_filter(i.mean(axis=2), t, radius, eps)
    t = np.maximum(t, t0)[..., None]
    return _f32((i - airlight) / t + airlight)


# --------------------------------------------------------------------------- derain
def derain_median(img: np.ndarray, size: int = 5) -> np.ndarray:
    """Per-channel ``size x size`` median filter."""
    ndimage = _require("scipy.ndimage")
    return _f32(ndimage.median_filter(_f32(img), size=(size, size, 1), mode="reflect"))


# --------------------------------------------------------------------------- dispatch
def run_baseline(
    task: str,
    method: str,
    img: np.ndarray,
    *,
    sigma: float | None = None,
    kernel: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    scale: int | None = None,
    reference: np.ndarray | None = None,
    **params: Any,
) -> np.ndarray:
    """Run ``method`` of :data:`BASELINES` for ``task`` on ``img`` (LR image for sr4).

    ``sigma`` (8-bit units) is used by the non-blind denoisers, ``kernel`` by the
    non-blind deconvolutions (required), ``mask`` (True = hole; default: pure-white
    pixels) by inpainting, ``scale`` (default: the task's) by upsampling. ``params`` go
    to the method's function (e.g. ``h``, ``balance``, ``iterations``, ``size``). With a
    ``reference`` (the ground truth), the free parameters of a :data:`PARAM_GRIDS`
    method are picked per image by PSNR-Y.
    """
    methods = BASELINES.get(task)
    if methods is None:
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(BASELINES)}")
    if method not in methods and method != "input":
        raise UsageError(
            f"unknown method {method!r} for {task}; choose one of {', '.join(methods)}"
        )
    spec = get_task(task)
    scale = spec.scale if scale is None else scale
    if method == "input":
        return upsample_bicubic(img, scale) if spec.scale > 1 else _f32(img)
    if NON_BLIND.get(method) == "kernel" and kernel is None:
        raise UsageError(f"{method} needs the blur kernel")
    if mask is None:
        mask = spec.holes(np.asarray(img))
    if method in PARAM_GRIDS and reference is not None:
        grid = {k: v for k, v in PARAM_GRIDS[method].items() if k not in params}
        run = lambda **p: run_baseline(task, method, img, **params, **p)  # noqa: E731
        return best_on_grid(run, grid, reference)
    return _calls(img, sigma, kernel, mask, scale, params)[method]()


def _calls(
    img: np.ndarray,
    sigma: float | None,
    kernel: np.ndarray | None,
    mask: np.ndarray | None,
    scale: int,
    params: dict[str, Any],
) -> dict[str, Callable[[], np.ndarray]]:
    """Each method as a call on ``img`` with the side information it may use."""
    return {
        "nlm": lambda: denoise_nlm(img, sigma, **params),
        "bm3d": lambda: denoise_bm3d(img, sigma, **params),
        "bm3d-blind": lambda: denoise_bm3d(img, None, **params),
        "bicubic": lambda: upsample_bicubic(img, scale),
        "wiener": lambda: deblur_wiener(img, kernel, **params),
        "richardson-lucy": lambda: deblur_richardson_lucy(img, kernel, **params),
        "wiener-gaussian": lambda: deblur_gaussian_guess(img, **params),
        "unsharp-mask": lambda: sharpen_unsharp_mask(img, **params),
        "biharmonic": lambda: inpaint_biharmonic(img, mask),
        "membrane": lambda: smooth_fill(img, mask),
        "dark-channel": lambda: dehaze_dark_channel(img, **params),
        "median": lambda: derain_median(img, **params),
    }


def best_on_grid(
    run: Callable[..., np.ndarray], grid: dict[str, tuple[float, ...]], reference: np.ndarray
) -> np.ndarray:
    """The output of ``run(**params)`` for the ``grid`` parameters that score best
    against ``reference`` (PSNR-Y, 4-pixel crop)."""
    from .metrics import psnr_y

    ref = np.asarray(reference, dtype=np.float64) * 255.0
    best, best_score = None, -np.inf
    for values in itertools.product(*grid.values()):
        out = run(**dict(zip(grid, values, strict=True)))
        score = psnr_y(out * 255.0, ref)
        if best is None or score > best_score:
            best, best_score = out, score
    return best
