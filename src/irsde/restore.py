"""Restoring images of any size with a trained noise-prediction network.

:class:`Restorer` wraps a network (``net(x_t, mu, t) -> noise`` carrying
``net.irsde_config``) with its SDE, a sampler, the task's pre/post-processing and
tiling. :class:`TiledNet` makes any image size fit in bounded memory: at *every*
sampler step the network runs on overlapping tiles of the full-size ``x_t`` and ``mu``
and the predicted noise is blended with raised-cosine weights (a partition of unity),
so no seams show. The sampler state and its noise stay full-size, so the noise
realization does not depend on the tiling, and the network's memory is bounded by
the tile, not the image (the full-size state costs a few times ``12 bytes / pixel``).

Each image gets its own random stream seeded with ``seed``, so an image restores the
same whether it is alone or batched with others. ``samples=K`` draws K posterior
samples and returns their mean and per-pixel standard deviation.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from .degrade import HOLE_FILLS, fill_holes_as
from .errors import InputError, ModelLoadError, UsageError
from .io import LUMA, ImageData, OutputExistsError, as_image_data, load_image, save_image, to_uint8
from .samplers import SAMPLERS, NoiseFn, sample
from .sde import IRSDE
from .tasks import DEFAULT_SDE, get_task

log = logging.getLogger(__name__)

StepCallback = Callable[[dict[str, Any]], None]


# ---------------------------------------------------------------------------- device
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA (``cuda:$LOCAL_RANK`` under torchrun) > MPS > CPU."""
    if isinstance(device, torch.device):
        return device
    local = os.environ.get("LOCAL_RANK")
    if device in ("auto", "cuda"):
        if torch.cuda.is_available():
            return torch.device(f"cuda:{int(local or 0) % torch.cuda.device_count()}")
        if device == "cuda":
            raise UsageError("--device cuda was asked for but CUDA is not available")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto") from None


# ---------------------------------------------------------------------------- tiling
def _native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (else autocast emulates it, slowly)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


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


# ---------------------------------------------------------------------------- SDE choice
def resolve_sde(
    config: dict | None,
    task: str | None = None,
    overrides: dict | IRSDE | None = None,
) -> tuple[IRSDE, str | None]:
    """The SDE for a model: its own settings, else the task's, else the reference defaults.

    ``overrides`` (an :class:`IRSDE`, or a dict of ``max_sigma``/``T``/``schedule``/``eps``
    whose None values are ignored) take precedence. Returns the SDE and, when settings
    were assumed rather than read from the model, a sentence saying which.
    """
    if isinstance(overrides, IRSDE):
        return overrides, None
    own = (config or {}).get("sde")
    base = dict(own) if own else dict(get_task(task).sde if task else DEFAULT_SDE)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    base.update(changes)
    try:
        sde = IRSDE(**base)
    except (TypeError, ValueError) as err:
        raise UsageError(f"invalid SDE settings {base}: {err}") from None
    note = None
    if not own:
        origin = f"the reference settings of task {task!r}" if task else "the reference defaults"
        settings = ", ".join(f"{k}={v}" for k, v in sde.config().items())
        note = f"the model has no SDE settings; assumed {settings} ({origin}"
        note += ", with command-line overrides)" if changes else ")"
    return sde, note


# ---------------------------------------------------------------------------- heat maps
_INFERNO = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float32,
)


def colorize(values: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """``H x W`` non-negative values -> ``H x W x 3`` uint8 heat map (inferno colormap).

    Uses matplotlib's colormap when installed, else a built-in approximation of it.
    """
    vmax = float(vmax if vmax is not None else values.max(initial=0.0))
    v = np.clip(values / vmax, 0.0, 1.0) if vmax > 0 else np.zeros_like(values)
    try:
        from matplotlib import colormaps

        return (colormaps["inferno"](v)[..., :3] * 255 + 0.5).astype(np.uint8)
    except ImportError:
        pos = v * (len(_INFERNO) - 1)
        lo = np.floor(pos).astype(int).clip(0, len(_INFERNO) - 2)
        frac = (pos - lo)[..., None]
        rgb = _INFERNO[lo] * (1 - frac) + _INFERNO[lo + 1] * frac
        return (rgb + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------- helpers
def _per_item_noise(gens: Sequence[torch.Generator]) -> NoiseFn:
    """Noise drawn on the CPU from one generator per batch item, moved to the device."""

    def draw(i: int, like: Tensor) -> Tensor:
        shape = (1, *like.shape[1:])
        z = torch.cat([torch.randn(shape, generator=g) for g in gens])
        return z.to(device=like.device, dtype=like.dtype)

    return draw


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


def upscale_for_sr(img: np.ndarray, scale: int = 4) -> np.ndarray:
    """Bicubic ``scale``-times upscaling used as ``mu`` for super-resolution.

    Uses :func:`irsde.degrade.bicubic_resize` (the one resize of the toolkit) when
    available, else PyTorch's bicubic interpolation (logged).
    """
    h, w = img.shape[:2]
    size = (h * scale, w * scale)
    try:
        from .degrade import bicubic_resize

        out = np.asarray(bicubic_resize(img, size), dtype=np.float32)
        if out.shape[:2] == size:
            return np.clip(out, 0.0, 1.0)
        log.warning("bicubic_resize returned %s for size %s; using torch", out.shape, size)
    except ImportError:
        log.info("irsde.degrade is not available; using torch bicubic upscaling for sr4")
    x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))[None]
    up = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    return up[0].permute(1, 2, 0).clamp(0, 1).numpy()


def mask_from_array(mask: np.ndarray | Image.Image | Tensor) -> np.ndarray:
    """``H x W`` bool: True where pixels are missing (white in the mask image)."""
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"), dtype=np.float32) / 255.0
    elif isinstance(mask, Tensor):
        mask = mask.detach().float().cpu().numpy().squeeze()
    m = np.asarray(mask)
    if m.dtype == np.bool_:
        return m if m.ndim == 2 else m.any(axis=-1)
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(m.dtype, 1.0)
    m = m.astype(np.float32) / scale
    if m.ndim == 3:
        m = m.mean(axis=2)
    return m > 0.5


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image file (white = missing) as an ``H x W`` bool array."""
    data = load_image(path)
    return data.pixels.mean(axis=2) > 0.5


@dataclass
class RestoreResult:
    """What happened to one input file."""

    input: Path
    output: Path | None = None
    status: str = "ok"  # "ok", "skipped" or "failed"
    message: str = ""
    std_map: Path | None = None
    seconds: float = 0.0


@dataclass
class _Item:
    path: Path
    out: Path
    std_out: Path | None
    data: ImageData
    mask: np.ndarray | None = None
    started: float = field(default_factory=time.perf_counter)


# ---------------------------------------------------------------------------- restorer
class Restorer:
    """Restore images with a noise-prediction network and its mean-reverting SDE.

    Args:
        model: an ``nn.Module`` with ``irsde_config`` (see the internal contracts), or a
            model file path loaded with :func:`irsde.models.load_model`.
        sampler: ``"posterior"`` (default), ``"sde"`` or ``"ode"``; None: the model's
            recommended sampler, else ``"posterior"``.
        steps: network evaluations; None: the model's recommendation, else ``T``.
        spacing: timestep spacing for few-step sampling.
        tile, overlap: tile side and minimum overlap (``tile=None``: never tile).
        device: ``"auto"`` (CUDA > MPS > CPU), ``"cpu"``, ``"cuda"``, ...
        seed: seed of every image's random stream.
        samples: posterior samples per image; above 1 the mean and a std map are returned.
        ensemble: geometric self-ensemble: 1, 2, 4 or 8 flips/transposes of the input, each
            restored and mapped back, averaged; None: the model's recommendation, else 1.
        task: task name (pre/post-processing; SDE defaults for models without settings).
        sde: an :class:`IRSDE` or a dict of overrides (``max_sigma``, ``T``, ...).
        tile_batch: tiles per network call; None: 4 on CUDA, 1 on a CPU (where batching
            tiles measured about 2x slower: ``benchmarks/bench_large.py``).
        image_batch: small equal-sized images per batch.
        amp: autocast dtype: ``"bf16"`` (CUDA, or a CPU with native bf16: 1.3-1.6x faster
            there, within 0.1 dB), ``"fp16"`` (CUDA) or None (full precision, the default).
        callback: called with the sampler's per-step dict (plus ``sample``, ``samples``).
    """

    def __init__(
        self,
        model: nn.Module | str | os.PathLike,
        sampler: str | None = "posterior",
        steps: int | None = None,
        spacing: str = "uniform",
        tile: int | None = 512,
        overlap: int = 32,
        device: str | torch.device = "auto",
        seed: int = 0,
        samples: int = 1,
        ensemble: int | None = None,
        task: str | None = None,
        sde: IRSDE | dict | None = None,
        tile_batch: int | None = None,
        image_batch: int = 4,
        amp: str | None = None,
        callback: StepCallback | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.net = self._load(model)
        config = dict(getattr(self.net, "irsde_config", None) or {})
        self.config = config
        self.task = self._task(task, config.get("task"))
        self.sde, self.sde_note = resolve_sde(config, self.task, sde)
        if self.sde_note:
            log.info("%s", self.sde_note)
        rec = config.get("sampler") or {}
        self.sampler = sampler or rec.get("name") or "posterior"
        if self.sampler not in SAMPLERS:
            raise UsageError(
                f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}"
            )
        use_rec = sampler is None or sampler == rec.get("name")
        self.steps = steps if steps is not None else (rec.get("steps") if use_rec else None)
        self.spacing = (
            spacing if steps is not None or not use_rec else rec.get("spacing") or spacing
        )
        try:
            self.timesteps = self.sde.timesteps(self.steps, self.spacing)
        except ValueError as err:
            raise UsageError(str(err)) from None
        if samples < 1:
            raise UsageError(f"samples must be at least 1, got {samples}")
        self.samples = int(samples)
        ensemble = rec.get("ensemble", 1) if ensemble is None else ensemble
        if ensemble not in ENSEMBLE_SIZES:
            raise UsageError(f"ensemble must be one of {ENSEMBLE_SIZES}, got {ensemble}")
        self.ensemble = int(ensemble)
        self.hole_fill = (config.get("task_params") or {}).get("fill", "white")
        if self.hole_fill not in HOLE_FILLS:
            raise ModelLoadError(
                f"model settings: inpainting fill must be one of {', '.join(HOLE_FILLS)}, "
                f"not {self.hole_fill!r}"
            )
        self.seed = int(seed)
        self.image_batch = max(1, int(image_batch))
        cuda = self.device.type == "cuda"
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}.get(amp)
        if amp is not None and amp_dtype is None:
            raise UsageError(f"unknown amp mode {amp!r}; use bf16 or fp16")
        if amp == "fp16" and self.device.type == "cpu":
            raise UsageError("fp16 autocast is for CUDA; on a CPU use bf16")
        if amp == "bf16" and self.device.type == "cpu" and not _native_bf16():
            log.warning("this CPU has no native bf16 (AVX512-BF16/AMX): --amp bf16 may be slower")
        if amp is not None and self.device.type not in ("cpu", "cuda"):
            raise UsageError(f"autocast is supported on CPU and CUDA, not {self.device.type}")
        if cuda and isinstance(self.net, nn.Module):
            self.net = self.net.to(memory_format=torch.channels_last)
        if tile_batch is None:
            tile_batch = 4 if cuda else 1
        self.tiler = TiledNet(self.net, tile, overlap, tile_batch, amp_dtype, channels_last=cuda)
        self.callback = callback

    # -- setup
    def _load(self, model: nn.Module | str | os.PathLike) -> nn.Module:
        if isinstance(model, str | os.PathLike):
            from .models import load_model

            model = load_model(model, device=self.device)
        if not callable(model):
            raise ModelLoadError(f"not a network: {type(model).__name__}")
        if isinstance(model, nn.Module):
            model = model.to(self.device).eval()
        return model

    @staticmethod
    def _task(task: str | None, model_task: str | list[str] | None) -> str | None:
        several = isinstance(model_task, list)
        if task is not None:
            task = get_task(task).name
            if model_task and task not in (model_task if several else [model_task]):
                log.warning("model was trained for task %r; using %r as asked", model_task, task)
            return task
        if several:
            raise UsageError(
                f"this model restores several tasks ({', '.join(model_task)}): choose one with --task"
            )
        return get_task(model_task).name if model_task else None

    @property
    def scale(self) -> int:
        """Output / input size ratio of the task (4 for ``sr4``)."""
        return get_task(self.task).scale if self.task else 1

    def describe(self) -> str:
        """One line: sampler, steps, SDE, device."""
        return (
            f"{self.sampler} sampler, {len(self.timesteps)} steps ({self.spacing}), "
            f"{'' if self.ensemble == 1 else f'x{self.ensemble} self-ensemble, '}"
            f"{self.sde!r}, task {self.task or 'unspecified'}, device {self.device}"
        )

    # -- core
    def prepare(
        self, rgb: np.ndarray, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``mu`` for the network from an ``H x W x 3`` image, and the known-pixel map.

        ``sr4``: bicubic x4 upscaling. ``inpaint``: missing pixels (the mask's white, or
        pure-white pixels without a mask) are painted white, or filled smoothly for models
        trained that way (``task_params`` ``{"fill": "smooth"}``); the others are known.
        """
        if mask is not None and self.task != "inpaint":
            raise UsageError("a mask is only used with the inpaint task")
        if self.task == "sr4":
            return upscale_for_sr(rgb, self.scale), None
        if self.task == "inpaint":
            if mask is None:
                missing = (rgb >= 1.0).all(axis=2)
            else:
                missing = mask_from_array(mask)
                if missing.shape != rgb.shape[:2]:
                    raise InputError(
                        f"mask size {missing.shape[1]}x{missing.shape[0]} does not match "
                        f"the image size {rgb.shape[1]}x{rgb.shape[0]}"
                    )
            return fill_holes_as(rgb, missing, self.hole_fill), ~missing
        return rgb, None

    @torch.inference_mode()
    def run(self, mu: Tensor, callback: StepCallback | None = None) -> tuple[Tensor, Tensor | None]:
        """Sample from ``mu`` (``(B, 3, H, W)``): the mean of the samples and their std."""
        mu = mu.to(self.device, torch.float32)
        gens = [torch.Generator().manual_seed(self.seed) for _ in range(mu.shape[0])]
        noise_fn = _per_item_noise(gens)
        callback = callback or self.callback
        draws = self.ensemble * self.samples
        # contiguous copies: a transposed view makes every sampler update a strided pass
        views = [dihedral(mu, view).contiguous() for view in range(self.ensemble)]
        mean = m2 = None
        for k in range(draws):
            cb = None
            if callback is not None:
                cb = lambda info, k=k: callback({**info, "sample": k, "samples": draws})  # noqa: E731
            view = k // self.samples
            x = sample(
                self.tiler,
                self.sde,
                views[view],
                self.sampler,
                self.steps,
                spacing=self.spacing,
                noise_fn=noise_fn,
                callback=cb,
            )
            x = undo_dihedral(x, view)
            if draws == 1:
                return x, None
            if mean is None:
                mean, m2 = x.clone(), torch.zeros_like(x)
            else:  # Welford's running mean and sum of squared deviations
                delta = x - mean
                mean += delta / (k + 1)
                m2 += delta * (x - mean)
        std = (m2 / (draws - 1)).sqrt_() if self.samples > 1 else None
        return mean, std

    def restore_rgb(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[np.ndarray | None] | None = None,
        callback: StepCallback | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Restore equal-sized ``H x W x 3`` float images together.

        Returns, per image, the restored ``H' x W' x 3`` float32 image in ``[0, 1]`` and,
        with ``samples > 1``, the ``H' x W'`` per-pixel std (mean over channels).
        """
        masks = list(masks) if masks is not None else [None] * len(images)
        prepared = [
            self.prepare(np.asarray(im, np.float32), m) for im, m in zip(images, masks, strict=True)
        ]
        mu = torch.stack(
            [torch.from_numpy(np.ascontiguousarray(p[0].transpose(2, 0, 1))) for p in prepared]
        )
        mean, std = self.run(mu, callback)
        out = []
        for i, (im, (_, known)) in enumerate(zip(images, prepared, strict=True)):
            res = mean[i].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            if known is not None:
                res[known] = np.asarray(im, np.float32)[known]
            s = std[i].float().mean(0).cpu().numpy() if std is not None else None
            out.append((res, s))
        return out

    # -- public conveniences
    def restore(self, image: Any, mask: Any = None) -> Any:
        """Restore one image, returned as the same kind it came as.

        Accepts ``H x W [x C]`` numpy arrays (uint8, uint16 or float in [0, 1]; a 4th
        channel is alpha, passed through), PIL images, :class:`~irsde.io.ImageData`, and
        float tensors ``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1].
        """
        if isinstance(image, Tensor):
            return self._restore_tensor(image, mask)
        if isinstance(image, Image.Image):
            return _to_pil(self.restore_data(_from_pil(image), mask)[0], image.mode)
        if isinstance(image, ImageData):
            return self.restore_data(image, mask)[0]
        arr = np.asarray(image)
        data = as_image_data(arr)
        out = self.restore_data(data, mask)[0]
        return _to_array_like(out, arr)

    def restore_data(
        self, data: ImageData, mask: Any = None, callback: StepCallback | None = None
    ) -> tuple[ImageData, np.ndarray | None]:
        """Restore an :class:`ImageData` (gray via 3 channels, alpha untouched); + std map."""
        m = mask_from_array(mask) if mask is not None else None
        res, std = self.restore_rgb([data.rgb()], [m], callback)[0]
        return data.with_pixels(res), std

    def _restore_tensor(self, x: Tensor, mask: Any) -> Tensor:
        batch = x if x.ndim == 4 else x[None]
        if batch.shape[1] == 1:
            batch = batch.repeat(1, 3, 1, 1)
        imgs = [b.detach().float().cpu().permute(1, 2, 0).numpy() for b in batch]
        masks = [mask_from_array(mask) if mask is not None else None] * len(imgs)
        outs = self.restore_rgb(imgs, masks)
        res = torch.stack([torch.from_numpy(o).permute(2, 0, 1) for o, _ in outs])
        if x.shape[-3] == 1:
            res = (res * torch.from_numpy(LUMA)[:, None, None]).sum(1, keepdim=True)
        res = res.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
        return res if x.ndim == 4 else res[0]

    # -- files
    def output_paths(
        self, path: Path, out_dir: Path, ext: str | None = None
    ) -> tuple[Path, Path | None]:
        """Where the result of ``path`` goes (and its std map when ``samples > 1``)."""
        out = out_dir / (path.stem + ext if ext else path.name)
        std = out.with_name(f"{out.stem}_std.png") if self.samples > 1 else None
        return out, std

    def restore_files(
        self,
        inputs: Iterable[str | os.PathLike],
        out_dir: str | os.PathLike,
        overwrite: bool = False,
        *,
        mask: str | os.PathLike | dict[str, Path] | None = None,
        ext: str | None = None,
        callback: StepCallback | None = None,
        on_result: Callable[[RestoreResult], None] | None = None,
    ) -> list[RestoreResult]:
        """Restore files into ``out_dir`` under their own names; one result per input.

        Unusable inputs are reported as ``"failed"`` and the rest still run; existing
        outputs are ``"skipped"`` unless ``overwrite``. Small images (one tile) of equal
        size go through the network together. ``mask``: one mask file for all inputs,
        or a dict from input stem to mask file. ``ext``: output extension (e.g. ``.png``).
        """
        out_dir = Path(out_dir)
        results: list[RestoreResult] = []
        pending: dict[tuple[int, int], list[_Item]] = {}

        def report(res: RestoreResult) -> None:
            results.append(res)
            if on_result is not None:
                on_result(res)

        def flush(key: tuple[int, int]) -> None:
            items = pending.pop(key, [])
            if items:
                self._process(items, overwrite, callback, report)

        paths = [Path(p) for p in inputs]
        shared_mask = None
        for path in paths:
            out, std_out = self.output_paths(path, out_dir, ext)
            if not overwrite and out.exists():
                report(RestoreResult(path, out, "skipped", f"{out} exists (use --overwrite)"))
                continue
            try:
                data = load_image(path)
                m = None
                if isinstance(mask, dict):
                    m = load_mask(mask[path.stem]) if path.stem in mask else None
                elif mask is not None:
                    shared_mask = load_mask(mask) if shared_mask is None else shared_mask
                    m = shared_mask
                if m is not None and m.shape != (data.height, data.width):
                    raise InputError(
                        f"{path}: mask size {m.shape[1]}x{m.shape[0]} does not match "
                        f"the image size {data.width}x{data.height}"
                    )
            except InputError as err:
                report(RestoreResult(path, None, "failed", str(err)))
                continue
            item = _Item(path, out, std_out, data, m)
            key = (data.height, data.width)
            if self.tiler.tile and max(key) * self.scale > self.tiler.tile:
                self._process([item], overwrite, callback, report)  # large: alone, tiled
                continue
            pending.setdefault(key, []).append(item)
            if len(pending[key]) >= self.image_batch:
                flush(key)
        for key in list(pending):
            flush(key)
        order = {p: i for i, p in enumerate(paths)}
        results.sort(key=lambda r: order.get(r.input, 0))
        return results

    def _process(
        self,
        items: list[_Item],
        overwrite: bool,
        callback: StepCallback | None,
        report: Callable[[RestoreResult], None],
    ) -> None:
        names = [it.path.name for it in items]
        cb = None
        if callback is not None:
            cb = lambda info: callback({**info, "names": names})  # noqa: E731
        try:
            outs = self.restore_rgb([it.data.rgb() for it in items], [it.mask for it in items], cb)
        except InputError as err:
            for it in items:
                report(RestoreResult(it.path, None, "failed", f"{it.path}: {err}"))
            return
        for it, (res, std) in zip(items, outs, strict=True):
            report(self._write(it, res, std, overwrite))

    def _write(
        self, it: _Item, res: np.ndarray, std: np.ndarray | None, overwrite: bool
    ) -> RestoreResult:
        try:
            save_image(it.out, it.data.with_pixels(res), overwrite=overwrite)
            if std is not None and it.std_out is not None:
                save_image(it.std_out, colorize(std), overwrite=overwrite)
                log.debug("%s: std max %.4g", it.std_out, float(std.max(initial=0)))
        except OutputExistsError as err:
            return RestoreResult(it.path, it.out, "skipped", str(err))
        except (OSError, ValueError) as err:
            return RestoreResult(it.path, None, "failed", f"{it.out}: cannot write ({err})")
        secs = time.perf_counter() - it.started
        return RestoreResult(it.path, it.out, "ok", "", it.std_out, secs)


# ---------------------------------------------------------------------------- kinds
def _from_pil(im: Image.Image) -> ImageData:
    from .io import _from_pillow

    im.load()
    return _from_pillow(im, im.mode, im.format, im.info.get("icc_profile"))


def _to_pil(data: ImageData, mode: str) -> Image.Image:
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


def _to_array_like(data: ImageData, like: np.ndarray) -> np.ndarray:
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
