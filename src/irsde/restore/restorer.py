"""The :class:`Restorer`: a network, its SDE, a sampler and the task's pre/post-processing.

Each image gets its own random stream seeded with ``seed``, so an image restores the
same whether it is alone or batched with others. ``samples=K`` draws K posterior
samples and returns their mean and per-pixel standard deviation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from ..errors import ConfigError, InputError, ModelLoadError, UsageError
from ..io import LUMA, ImageData, as_image_data, max_pixels
from ..samplers import (
    DEFAULT_MODE,
    DEFAULT_SAMPLER,
    MODES,
    SAMPLERS,
    NoiseFn,
    realistic_setting,
    sample,
)
from ..sde import DEFAULT_SPACING, SDE, SPACINGS, build_sde
from ..tasks import DEFAULT_SDE, NO_TASK, Task, get_task
from . import files
from .device import autocast_dtype, resolve_device
from .ensemble import check_ensemble, dihedral, undo_dihedral
from .kinds import from_pil, to_array_like, to_pil
from .noiselevel import estimate_noise_level
from .tiling import TiledNet
from .uncertainty import RunningMoments

log = logging.getLogger(__name__)

StepCallback = Callable[[dict[str, Any]], None]
#: the sampler of an SDE restored from a noise level when none is named (the reference's)
NOISE_LEVEL_SAMPLER = "ode"
#: the SDE assumed for an unconditional network without settings (the reference's
#: denoising-sde process, its defaults)
UNCONDITIONAL_SDE: dict[str, Any] = {"type": "denoising"}


def _unconditional(config: Mapping[str, Any] | None) -> bool:
    """Whether the model's network ignores ``mu`` (see :meth:`Architecture.is_conditional`)."""
    from ..nets import get_architecture

    try:
        arch = get_architecture((config or {}).get("arch"))
    except ValueError:
        return False
    return not arch.is_conditional((config or {}).get("arch_params") or {})


def resolve_sde(
    config: Mapping[str, Any] | None,
    task: str | None = None,
    overrides: Mapping[str, Any] | SDE | None = None,
) -> tuple[SDE, str | None]:
    """The SDE for a model: its own settings, else the task's, else the reference defaults.

    ``overrides`` (an :class:`~irsde.sde.SDE`, or a dict of settings such as
    ``max_sigma``/``T``/``schedule``/``eps`` whose None values are ignored) take
    precedence. Returns the SDE and, when settings were assumed rather than read from
    the model, a sentence saying which.
    """
    if isinstance(overrides, SDE):
        return overrides, None
    own = (config or {}).get("sde")
    if isinstance(own, SDE):
        own = own.spec()
    uncond = not own and _unconditional(config)
    if own:
        base = dict(own)
    elif uncond:
        base = dict(UNCONDITIONAL_SDE)
    else:
        base = dict(get_task(task).sde if task else DEFAULT_SDE)
    changes = {k: v for k, v in (overrides or {}).items() if v is not None}
    base.update(changes)
    try:
        sde = build_sde(base)
    except (TypeError, ValueError) as err:
        raise UsageError(f"invalid SDE settings {base}: {err}") from None
    note = None
    if not own:
        origin = f"the reference settings of task {task!r}" if task else "the reference defaults"
        if uncond:
            origin = "the reference's denoising-sde defaults for an unconditional network"
        settings = ", ".join(f"{k}={v}" for k, v in sde.config().items())
        note = f"the model has no SDE settings; assumed {settings} ({origin}"
        note += ", with command-line overrides)" if changes else ")"
    return sde, note


_EXPECTED = "expected uint8, uint16 or float in [0, 1], H x W x C"
#: how far a float image may stray outside [0, 1] (rounding of earlier processing)
_FLOAT_SLACK = 0.01


def _check_range(
    x: np.ndarray | Tensor, kind: str, floating: bool, expected: str = _EXPECTED
) -> None:
    """Refuse a float image outside [0, 1] (e.g. on the 0..255 scale) in one line."""
    if not floating or (x.numel() == 0 if isinstance(x, Tensor) else x.size == 0):
        return
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= -_FLOAT_SLACK and hi <= 1 + _FLOAT_SLACK):  # also catches NaN
        hint = "; divide by 255" if 1 < hi <= 255 and lo >= -_FLOAT_SLACK else ""
        raise InputError(f"float {kind} with values {lo:.4g}..{hi:.4g}: {expected}{hint}")


def _check_array(arr: np.ndarray) -> None:
    """Refuse an array :meth:`Restorer.restore` would misread, saying what it expects."""
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        hint = " (a C x H x W array: arr.transpose(1, 2, 0))" if arr.ndim == 3 else ""
        raise InputError(f"image array of shape {arr.shape}: {_EXPECTED}{hint}")
    if arr.dtype.kind not in "uif":
        raise InputError(f"image array of dtype {arr.dtype}: {_EXPECTED}")
    if arr.dtype.kind in "ui" and arr.dtype not in (np.uint8, np.uint16) and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise InputError(f"{arr.dtype} image with values {lo}..{hi}: {_EXPECTED}")
    _check_range(arr, "image", arr.dtype.kind == "f")


def _per_item_noise(gens: Sequence[torch.Generator]) -> NoiseFn:
    """Noise drawn on the CPU from one generator per batch item, moved to the device."""

    def draw(i: int, like: Tensor) -> Tensor:
        shape = (1, *like.shape[1:])
        z = torch.cat([torch.randn(shape, generator=g) for g in gens])
        return z.to(device=like.device, dtype=like.dtype)

    return draw


class Restorer:
    """Restore images with a noise-prediction network and its mean-reverting SDE.

    Args:
        model: an ``nn.Module`` with ``irsde_config`` (see the internal contracts), or a
            model file path loaded with :func:`irsde.models.load_model`.
        sampler: a name of :data:`irsde.samplers.SAMPLERS`; None: the model's
            recommended sampler, else :data:`irsde.samplers.DEFAULT_SAMPLER`.
        steps: network evaluations; None: the model's recommendation, else ``T``.
        spacing: timestep spacing for few-step sampling.
        tile, overlap: tile side and minimum overlap (``tile=None``: never tile).
        device: ``"auto"`` (CUDA > MPS > CPU), ``"cpu"``, ``"cuda"``, ...
        seed: seed of every image's random stream.
        samples: posterior samples per image; above 1 the mean and a std map are returned.
        ensemble: geometric self-ensemble: 1, 2, 4 or 8 flips/transposes of the input, each
            restored and mapped back, averaged; None: the model's recommendation, else 1.
        task: task name (pre/post-processing; SDE defaults for models without settings).
        sde: an :class:`~irsde.sde.SDE` or a dict of overrides (``max_sigma``, ``T``, ...).
        tile_batch: tiles per network call; None: 4 on CUDA, 1 on a CPU (where batching
            tiles measured about 2x slower: ``benchmarks/bench_large.py``).
        image_batch: small equal-sized images per batch.
        amp: autocast dtype: ``"bf16"`` (CUDA, or a CPU with native bf16: 1.3-1.6x faster
            there, within 0.1 dB), ``"fp16"`` (CUDA) or None (full precision, the default).
        callback: called with the sampler's per-step dict (plus ``sample``, ``samples``).
        noise_level: for an SDE restored from a noise level (``denoising``): the noise std
            of the inputs, 8-bit units (25) or a fraction (0.1), as the reference reads it;
            the reverse process starts at ``sde.optimal_timestep(noise_level)`` with the
            image as the state there. None: estimated per image
            (:func:`~irsde.restore.noiselevel.estimate_noise_level`) and logged. Such an
            SDE's sampler, when none is named and the model recommends none, is ``ode``.
        mode: ``"faithful"`` (default): the model's stored setting, above; ``"realistic"``:
            a posterior sample with the model's stored ``"realistic"`` sampler setting, else
            :data:`irsde.samplers.REALISTIC_DEFAULT`, one view unless ``ensemble`` is
            given; a ``sampler`` other than the default, or ``steps``, still override it.
        max_output_pixels: largest result (pixels) restored; a larger one (an input
            times the task's scale squared) is refused with :class:`InputError` before
            anything is allocated. None: :func:`irsde.io.max_pixels`, the input limit.
    """

    def __init__(
        self,
        model: nn.Module | str | os.PathLike,
        sampler: str | None = DEFAULT_SAMPLER,
        steps: int | None = None,
        spacing: str = DEFAULT_SPACING,
        tile: int | None = 512,
        overlap: int = 32,
        device: str | torch.device = "auto",
        seed: int = 0,
        samples: int = 1,
        ensemble: int | None = None,
        task: str | None = None,
        sde: SDE | Mapping[str, Any] | None = None,
        tile_batch: int | None = None,
        image_batch: int = 4,
        amp: str | None = None,
        callback: StepCallback | None = None,
        noise_level: float | None = None,
        mode: str = DEFAULT_MODE,
        max_output_pixels: int | None = None,
    ) -> None:
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        if spacing not in SPACINGS:
            raise UsageError(f"unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}")
        limit = max_pixels() if max_output_pixels is None else max_output_pixels
        if not isinstance(limit, int) or limit < 1:
            raise UsageError(f"the output pixel limit must be a whole number >= 1, got {limit!r}")
        self.max_output_pixels = limit
        self.mode = mode
        self.device = resolve_device(device)
        self.net = self._load(model)
        config = dict(getattr(self.net, "irsde_config", None) or {})
        self.config = config
        self.task = self._task(task, config.get("task"))
        self.sde, self.sde_note = resolve_sde(config, self.task, sde)
        if self.sde_note:
            log.info("%s", self.sde_note)
        self.from_noise_level = callable(getattr(self.sde, "optimal_timestep", None))
        self.noise_level = self._noise_level(noise_level)
        rec = config.get("sampler") or {}
        if mode == "realistic":
            rec = {**realistic_setting(rec), "ensemble": 1}
            sampler = None if sampler == DEFAULT_SAMPLER else sampler
            spacing = rec["spacing"] if spacing == DEFAULT_SPACING else spacing
        default = NOISE_LEVEL_SAMPLER if self.from_noise_level else DEFAULT_SAMPLER
        self.sampler = self._sampler(sampler or rec.get("name") or default)
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
        self.ensemble = check_ensemble(rec.get("ensemble", 1) if ensemble is None else ensemble)
        self.task_params = dict(config.get("task_params") or {})
        try:
            self.task_spec.check_task_params(self.task_params)
        except ConfigError as err:
            raise ModelLoadError(f"model settings: {err}") from None
        self.seed = int(seed)
        self.image_batch = max(1, int(image_batch))
        cuda = self.device.type == "cuda"
        amp_dtype = autocast_dtype(amp, self.device)
        # channels-last on CUDA, and on a CPU under bf16 autocast, whose oneDNN kernels want
        # it (there 2.7x faster than NCHW bf16 for the embedded denoiser at 512x512)
        channels_last = cuda or amp_dtype is not None
        if channels_last and isinstance(self.net, nn.Module):
            self.net = self.net.to(memory_format=torch.channels_last)
        if tile_batch is None:
            tile_batch = 4 if cuda else 1
        self.tiler = TiledNet(
            self.net, tile, overlap, tile_batch, amp_dtype, channels_last=channels_last
        )
        self.callback = callback

    # -- setup
    def _load(self, model: nn.Module | str | os.PathLike) -> nn.Module:
        if isinstance(model, str | os.PathLike):
            from ..models import load_model

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

    def _noise_level(self, level: float | None) -> float | None:
        if level is None:
            return None
        if not self.from_noise_level:
            raise UsageError(
                f"a noise level needs a model whose SDE restores from one (type 'denoising'); "
                f"this model's is {self.sde.type!r}"
            )
        if not isinstance(level, int | float) or not level > 0:
            raise UsageError(f"the noise level must be a positive number, got {level!r}")
        return float(level)

    def starts(self, mu: Tensor) -> list[int] | None:
        """Per image of ``mu``, the timestep its reverse process starts from (None: ``T``,
        from the prior). An SDE restored from a noise level starts at the ``t*`` of the
        given or estimated level; 0 means nothing to remove."""
        if not self.from_noise_level:
            return None
        levels = []
        for img in mu:
            level = self.noise_level
            if level is None:
                level = estimate_noise_level(img.float().permute(1, 2, 0).cpu().numpy())
                log.info("estimated noise level %.2f (8-bit units)", 255 * level)
            levels.append(level)
        return [self.starts_at(s) for s in levels]

    def starts_at(self, level: float) -> int:
        """The timestep of noise level ``level`` (8-bit units or a fraction); 0 for none."""
        return self.sde.optimal_timestep(level) if level > 0 else 0  # type: ignore[attr-defined]

    def _sampler(self, name: str) -> str:
        if name not in SAMPLERS:
            raise UsageError(f"unknown sampler {name!r}; choose one of {', '.join(SAMPLERS)}")
        if not SAMPLERS[name].supports(self.sde):
            raise UsageError(f"the {name} sampler does not support {self.sde!r}")
        return name

    @property
    def task_spec(self) -> Task:
        """The task object: pre/post-processing and scale (:data:`NO_TASK` without a task)."""
        return get_task(self.task) if self.task else NO_TASK

    @property
    def scale(self) -> int:
        """Output / input size ratio of the task (4 for ``sr4``)."""
        return self.task_spec.scale

    def describe(self) -> str:
        """One line: sampler, steps, SDE, device."""
        if self.from_noise_level:
            level = "estimated" if self.noise_level is None else f"{self.noise_level:g}"
            t = "" if self.noise_level is None else f" (t*={self.starts_at(self.noise_level)})"
            steps = f"from noise level {level}{t}, "
        else:
            steps = f"{len(self.timesteps)} steps ({self.spacing}), "
        return (
            f"{self.sampler} sampler, {steps}"
            f"{'' if self.ensemble == 1 else f'x{self.ensemble} self-ensemble, '}"
            f"{self.sde!r}, task {self.task or 'unspecified'}, device {self.device}"
        )

    # -- core
    def prepare(self, rgb: np.ndarray, mask: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``mu`` for the network from an ``H x W x 3`` image, and the known-pixel map
        (:meth:`irsde.tasks.Task.network_input`: e.g. bicubic x4 upscaling for ``sr4``,
        the holes filled for ``inpaint``)."""
        return self.task_spec.network_input(rgb, mask, self.task_params)

    @torch.inference_mode()
    def run(self, mu: Tensor, callback: StepCallback | None = None) -> tuple[Tensor, Tensor | None]:
        """Sample from ``mu`` (``(B, 3, H, W)``): the mean of the samples and their std."""
        mu = mu.to(self.device, torch.float32)
        starts = self.starts(mu)
        if starts is not None and len(set(starts)) > 1:  # images of different noise levels
            runs = [self.run(mu[i : i + 1], callback) for i in range(mu.shape[0])]
            stds = [s for _, s in runs]
            std = None if stds[0] is None else torch.cat(stds)
            return torch.cat([m for m, _ in runs]), std
        start = None if starts is None else starts[0]
        if start == 0:
            return mu.clone(), (torch.zeros_like(mu) if self.samples > 1 else None)
        steps = self.steps if start is None or self.steps is None else min(self.steps, start)
        gens = [torch.Generator().manual_seed(self.seed) for _ in range(mu.shape[0])]
        noise_fn = _per_item_noise(gens)
        callback = callback or self.callback
        draws = self.ensemble * self.samples
        # contiguous copies: a transposed view makes every sampler update a strided pass
        views = [dihedral(mu, view).contiguous() for view in range(self.ensemble)]
        moments = RunningMoments()
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
                steps,
                spacing=self.spacing,
                start=start,
                x_T=None if start is None else views[view],
                noise_fn=noise_fn,
                callback=cb,
            )
            x = undo_dihedral(x, view)
            if draws == 1:
                return x, None
            moments.add(x)
        return moments.mean, (moments.std() if self.samples > 1 else None)

    def restore_rgb(
        self,
        images: Sequence[np.ndarray],
        masks: Sequence[Any] | None = None,
        callback: StepCallback | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Restore equal-sized ``H x W x 3`` float images together.

        Returns, per image, the restored ``H' x W' x 3`` float32 image in ``[0, 1]`` and,
        with ``samples > 1``, the ``H' x W'`` per-pixel std (mean over channels).
        """
        masks = list(masks) if masks is not None else [None] * len(images)
        rgbs = [np.asarray(im, np.float32) for im in images]
        for im in rgbs:
            self.check_output_size(im.shape[0], im.shape[1])
        prepared = [self.prepare(im, m) for im, m in zip(rgbs, masks, strict=True)]
        mu = torch.stack(
            [torch.from_numpy(np.ascontiguousarray(p[0].transpose(2, 0, 1))) for p in prepared]
        )
        mean, std = self.run(mu, callback)
        out = []
        for i, (im, (_, known)) in enumerate(zip(rgbs, prepared, strict=True)):
            res = mean[i].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            res = self.task_spec.postprocess(res, im, known)
            s = std[i].float().mean(0).cpu().numpy() if std is not None else None
            out.append((res, s))
        return out

    def check_output_size(self, height: int, width: int) -> None:
        """Refuse (:class:`InputError`) an input whose result exceeds ``max_output_pixels``."""
        s = self.scale
        if height * width * s * s > self.max_output_pixels:
            raise InputError(
                f"{width}x{height} image: its result ({width * s}x{height * s}) is over the "
                f"limit of {self.max_output_pixels:,} pixels (--max-output-pixels, "
                "$IRSDE_MAX_PIXELS)"
            )

    # -- public conveniences
    def restore(self, image: Any, mask: Any = None) -> Any:
        """Restore one image, returned as the same kind it came as.

        Accepts ``H x W [x C]`` numpy arrays (uint8, uint16 or float in [0, 1]; a 4th
        channel is alpha, passed through), PIL images, :class:`~irsde.io.ImageData`, and
        float tensors ``(C, H, W)`` or ``(B, C, H, W)`` in [0, 1].

        Raises:
            InputError: another shape, dtype or value range (e.g. floats in 0..255), in one
                line saying what is expected.
        """
        if isinstance(image, Tensor):
            expected = "expected a float tensor (C, H, W) or (B, C, H, W) in [0, 1]"
            _check_range(image.detach(), "tensor", image.is_floating_point(), expected)
            return self._restore_tensor(image, mask)
        if isinstance(image, Image.Image):
            return to_pil(self.restore_data(from_pil(image), mask)[0], image.mode)
        if isinstance(image, ImageData):
            return self.restore_data(image, mask)[0]
        arr = np.asarray(image)
        _check_array(arr)
        data = as_image_data(arr)
        out = self.restore_data(data, mask)[0]
        return to_array_like(out, arr)

    def restore_data(
        self, data: ImageData, mask: Any = None, callback: StepCallback | None = None
    ) -> tuple[ImageData, np.ndarray | None]:
        """Restore an :class:`ImageData` (gray via 3 channels, alpha untouched); + std map.

        ``mask``: the task's mask (inpainting: white = missing) as an array, a PIL image
        or a tensor.
        """
        res, std = self.restore_rgb([data.rgb()], [mask], callback)[0]
        return data.with_pixels(res), std

    def _restore_tensor(self, x: Tensor, mask: Any) -> Tensor:
        batch = x if x.ndim == 4 else x[None]
        if batch.shape[1] == 1:
            batch = batch.repeat(1, 3, 1, 1)
        imgs = [b.detach().float().cpu().permute(1, 2, 0).numpy() for b in batch]
        outs = self.restore_rgb(imgs, [mask] * len(imgs))
        res = torch.stack([torch.from_numpy(o).permute(2, 0, 1) for o, _ in outs])
        if x.shape[-3] == 1:
            res = (res * torch.from_numpy(LUMA)[:, None, None]).sum(1, keepdim=True)
        res = res.to(device=x.device, dtype=x.dtype if x.is_floating_point() else torch.float32)
        return res if x.ndim == 4 else res[0]

    # -- files
    def output_paths(
        self, path: Path, out_dir: Path, ext: str | None = None, suffix: str = ""
    ) -> tuple[Path, Path | None]:
        """Where the result of ``path`` goes (and its std map when ``samples > 1``)."""
        return files.output_paths(path, out_dir, ext, self.samples, suffix)

    def restore_files(
        self,
        inputs: Iterable[str | os.PathLike],
        out_dir: str | os.PathLike,
        overwrite: bool = False,
        *,
        mask: str | os.PathLike | dict[str, Path] | None = None,
        ext: str | None = None,
        suffix: str = "",
        callback: StepCallback | None = None,
        on_result: Callable[[files.RestoreResult], None] | None = None,
    ) -> list[files.RestoreResult]:
        """Restore files into ``out_dir`` under their own names; one result per input.

        See :func:`irsde.restore.files.restore_files`.
        """
        return files.restore_files(
            self,
            inputs,
            out_dir,
            overwrite,
            mask=mask,
            ext=ext,
            suffix=suffix,
            callback=callback,
            on_result=on_result,
        )
