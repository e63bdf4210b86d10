"""Training and validation datasets: paired folders and on-the-fly synthetic degradations.

Every item is ``{"gt": (3, H, W) float32, "lq": (3, H, W) float32, "name": str}`` where
``lq`` is the network input ``mu`` at GT size (for x4 super-resolution, the LR image
upsampled with :func:`irsde.degrade.bicubic_resize`).

Decisions, the same for all datasets:

- Image files are read with :func:`irsde.io.read_image` (RGB float32; grayscale is
  expanded to RGB, an alpha channel is dropped, not composited).
- Images smaller than the crop are padded by mirroring (bottom and right), not skipped.
- A file that cannot be read is logged once (a warning naming it) and another image is
  drawn instead; a folder with no usable image is a :class:`~irsde.errors.ConfigError`.
- Randomness (which file, crop, flips, degradation) comes from
  ``np.random.default_rng([seed, epoch, index])``: items depend neither on the number
  of DataLoader workers nor on the order they are fetched. Call :meth:`set_epoch` before
  each epoch (it reaches persistent workers too: the epoch lives in shared memory).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..degrade import bicubic_resize, check_params, grayscale, synthesize
from ..errors import ConfigError, IrsdeError
from ..io import list_images, read_image
from ..tasks import get_task
from .augment import crop_origin, pad_to, random_augment
from .deadleaves import dead_leaves

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

#: LR pixels read around an LR crop so that its bicubic upsampling equals the crop of
#: the whole image's upsampling
_SR_MARGIN = 3


def _by_stem(files: list[Path], suffix: str = "") -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in files:
        stem = p.stem[: -len(suffix)] if suffix and p.stem.endswith(suffix) else p.stem
        if stem in out:
            raise ConfigError(f"{p.parent}: two images named {stem!r} ({out[stem].name}, {p.name})")
        out[stem] = p
    return out


def _names(items: Sequence[str], shown: int = 5) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """``H x W x 3`` array -> ``(3, H, W)`` float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))


def worker_init_fn(worker_id: int) -> None:
    """For ``DataLoader(worker_init_fn=...)``: one thread per worker, and numpy's legacy
    global generator seeded per worker (the datasets themselves do not need it)."""
    torch.set_num_threads(1)
    np.random.seed(torch.initial_seed() % 2**32)


class _BadSample(Exception):
    pass


class _SeededDataset(Dataset):
    """Per-item generators from ``(seed, epoch, index)``, bad-file handling, caching."""

    def __init__(self, seed: int, cache: bool) -> None:
        self.seed = int(seed)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._cache: dict[Path, np.ndarray] | None = {} if cache else None
        self._bad: set[Path] = set()

    @property
    def epoch(self) -> int:
        return int(self._epoch.item())

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random crops/augmentations/degradations are drawn."""
        self._epoch.fill_(int(epoch))

    def item_rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _read(self, path: Path) -> np.ndarray:
        if self._cache is not None and path in self._cache:
            return self._cache[path]
        try:
            img = read_image(path)
        except (IrsdeError, OSError, ValueError) as err:
            text = str(err) if str(path) in str(err) else f"{path}: {err}"
            if path not in self._bad:
                log.warning("%s; skipped, drawing another image", text)
                self._bad.add(path)
            raise _BadSample from None
        if self._cache is not None:
            self._cache[path] = img
        return img

    def _retry(self, n_files: int, where: str, fn, first: int, rng: np.random.Generator):
        """``fn(i, rng)`` for file ``first``, or another random file while they fail."""
        i = first
        for _ in range(100):
            try:
                return fn(i, rng)
            except _BadSample:
                if len(self._bad) >= n_files:
                    break
                i = int(rng.integers(n_files))
        raise ConfigError(f"{where}: no usable images ({len(self._bad)} could not be read)")


class PairedFolderDataset(_SeededDataset):
    """Aligned ``GT`` / ``LQ`` images matched by file stem.

    Args:
        gt_dir: the GT folder, or a root holding ``GT/`` and ``LQ/`` when ``lq_dir`` is None.
        lq_dir: the LQ folder; LQ stems may carry ``lq_suffix`` (e.g. ``"x4"``).
        crop: square crop size at GT resolution (a multiple of ``scale``); None: whole images.
        scale: 4 when LQ images are the x4 low-resolution images (upsampled here with
            ``bicubic_resize`` to GT size; an LQ already at GT size is used as is).
        augment: random flips and 90-degree rotations, the same for GT and LQ.
        crop_mode: ``"random"`` or ``"center"`` crops.
        limit: use only the first ``limit`` pairs.
        cache: keep decoded images in memory (per worker).
    """

    def __init__(
        self,
        gt_dir: PathLike,
        lq_dir: PathLike | None = None,
        *,
        crop: int | None = 128,
        scale: int = 1,
        augment: bool = True,
        seed: int = 0,
        limit: int | None = None,
        lq_suffix: str = "",
        crop_mode: str = "random",
        cache: bool = False,
    ) -> None:
        super().__init__(seed, cache)
        if lq_dir is None:
            gt_dir, lq_dir = Path(gt_dir) / "GT", Path(gt_dir) / "LQ"
        self.gt_dir, self.lq_dir = Path(gt_dir), Path(lq_dir)
        self.crop, self.scale, self.augment = crop, int(scale), augment
        self.crop_mode = _check_crop(crop, self.scale, crop_mode)
        gt = _by_stem(list_images(self.gt_dir))
        lq = _by_stem(list_images(self.lq_dir), lq_suffix)
        if not gt:
            raise ConfigError(f"{self.gt_dir}: no images")
        missing_lq = sorted(set(gt) - set(lq))
        missing_gt = sorted(set(lq) - set(gt))
        if missing_lq or missing_gt:
            parts = []
            if missing_lq:
                parts.append(f"{len(missing_lq)} GT image(s) without LQ: {_names(missing_lq)}")
            if missing_gt:
                parts.append(f"{len(missing_gt)} LQ image(s) without GT: {_names(missing_gt)}")
            raise ConfigError(f"{self.gt_dir} and {self.lq_dir} do not match: " + "; ".join(parts))
        names = sorted(gt)[:limit] if limit else sorted(gt)
        self.pairs = [(n, gt[n], lq[n]) for n in names]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self.item_rng(index)
        return self._retry(len(self.pairs), str(self.gt_dir), self._item, index, rng)

    def _item(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        name, gt_path, lq_path = self.pairs[i]
        gt, lq = self._read(gt_path), self._read(lq_path)
        crop_rng = rng if self.crop_mode == "random" else None
        if self.scale > 1 and lq.shape != gt.shape:
            gt, mu = self._sr_pair(gt, lq, gt_path, crop_rng)
        else:
            if lq.shape != gt.shape:
                self._mismatch(gt_path, f"GT {gt.shape[:2]} and LQ {lq.shape[:2]} sizes differ")
            gt, mu = gt, lq
            if self.crop:
                gt, mu = (pad_to(a, self.crop, self.crop) for a in (gt, mu))
                y, x = crop_origin(*gt.shape[:2], self.crop, crop_rng)
                gt, mu = (a[y : y + self.crop, x : x + self.crop] for a in (gt, mu))
        if self.augment:
            gt, mu = random_augment([gt, mu], rng)
        return {"gt": to_tensor(gt), "lq": to_tensor(mu), "name": name}

    def _mismatch(self, path: Path, why: str) -> None:
        if path not in self._bad:
            log.warning("%s: skipped, %s; drawing another image", path, why)
            self._bad.add(path)
        raise _BadSample

    def _sr_pair(
        self, gt: np.ndarray, lr: np.ndarray, gt_path: Path, rng: np.random.Generator | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """GT and mu crops for an LR input: the LR crop is ``crop / scale`` at the matching
        position, upsampled with a margin so that it equals the whole image's upsampling."""
        s = self.scale
        hl, wl = lr.shape[:2]
        if not (hl * s <= gt.shape[0] < (hl + 1) * s and wl * s <= gt.shape[1] < (wl + 1) * s):
            self._mismatch(gt_path, f"GT {gt.shape[:2]} is not x{s} the LQ {lr.shape[:2]}")
        gt = gt[: hl * s, : wl * s]
        if not self.crop:
            return gt, bicubic_resize(lr, gt.shape[:2])
        lc = self.crop // s
        lr = pad_to(lr, lc, lc)
        gt = pad_to(gt, lr.shape[0] * s, lr.shape[1] * s)
        y, x = crop_origin(*lr.shape[:2], lc, rng)
        y0, x0 = max(0, y - _SR_MARGIN), max(0, x - _SR_MARGIN)
        y1, x1 = min(lr.shape[0], y + lc + _SR_MARGIN), min(lr.shape[1], x + lc + _SR_MARGIN)
        up = bicubic_resize(lr[y0:y1, x0:x1], ((y1 - y0) * s, (x1 - x0) * s))
        oy, ox = (y - y0) * s, (x - x0) * s
        mu = up[oy : oy + self.crop, ox : ox + self.crop]
        return gt[y * s : y * s + self.crop, x * s : x * s + self.crop], mu


def _check_crop(crop: int | None, scale: int, crop_mode: str) -> str:
    if crop_mode not in ("random", "center"):
        raise ConfigError(f"crop_mode must be random or center, not {crop_mode!r}")
    if crop is not None and (crop < 1 or crop % scale):
        raise ConfigError(f"crop {crop} must be a positive multiple of the scale {scale}")
    return crop_mode


def params_per_task(tasks: list[str], params: dict[str, Any] | None) -> dict[str, dict]:
    """Degradation parameters by task, checked: ``params`` itself for one task, else a
    dict keyed by task names."""
    params = dict(params or {})
    if len(tasks) > 1:
        stray = sorted(set(params) - set(tasks))
        if stray:
            raise ConfigError(
                f"with several tasks, params are keyed by task name ({', '.join(tasks)}); "
                f"got {', '.join(stray)}"
            )
    per_task = (
        {t: dict(params.get(t) or {}) for t in tasks} if len(tasks) > 1 else {tasks[0]: params}
    )
    for task, given in per_task.items():
        check_params(task, given)
    return per_task


class SyntheticDataset(_SeededDataset):
    """Clean images with degradations synthesized on the fly by ``irsde.degrade.synthesize``.

    Args:
        source: a folder of clean images, ``"deadleaves"``, or a list of folders and/or
            ``"deadleaves"``.
        task: a task of :data:`irsde.tasks.TASKS`, or several (a universal model): each
            item then draws its task, and ``params`` holds one dict per task name.
        crop: square crop size (required with dead leaves: their size); None: whole
            images (cut to a multiple of the task's scale).
        length: items per epoch (default: the number of image files). Item ``i`` uses file
            ``i % n_files``.
        params: degradation parameters (see :data:`irsde.degrade.TASK_DEFAULTS`).
        deadleaves_ratio: fraction of dead-leaves images when folders are given too;
            None or 0 with ``"deadleaves"`` among several sources: an equal share per
            source; a positive ratio without ``"deadleaves"`` listed still mixes them in.
        deadleaves_params: keyword arguments of :func:`irsde.data.dead_leaves`.
        deadleaves_bank: draw this many dead-leaves images of twice the crop size (each
            from its own seed, once per process) and cut random crops from them instead
            of drawing a new image per item (about 10x cheaper; 0: a new image per item).
        gray_fraction: fraction of clean images made gray (BT.601 luma in all channels)
            before degradation; a gray image stays gray (:func:`irsde.degrade.synthesize`).
    """

    def __init__(
        self,
        source: PathLike | Sequence[PathLike] = "deadleaves",
        task: str | Sequence[str] = "denoise",
        *,
        crop: int | None = 128,
        length: int | None = None,
        seed: int = 0,
        augment: bool = True,
        params: dict[str, Any] | None = None,
        deadleaves_ratio: float | None = None,
        deadleaves_params: dict[str, Any] | None = None,
        crop_mode: str = "random",
        cache: bool = False,
        deadleaves_bank: int = 0,
        gray_fraction: float = 0.0,
    ) -> None:
        super().__init__(seed, cache)
        if not 0.0 <= gray_fraction <= 1.0:
            raise ConfigError(f"gray_fraction must be in [0, 1], not {gray_fraction}")
        self.gray_fraction = float(gray_fraction)
        self.tasks = [task] if isinstance(task, str) else list(task)
        self.scale = max(get_task(t).scale for t in self.tasks)
        self.deadleaves_bank = int(deadleaves_bank)
        self._bank: dict[int, np.ndarray] = {}
        self.params = params_per_task(self.tasks, params)
        self.crop, self.augment = crop, augment
        self.crop_mode = _check_crop(crop, self.scale, crop_mode)
        self.deadleaves_params = dict(deadleaves_params or {})
        sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
        folders = [Path(s) for s in sources if str(s) != "deadleaves"]
        if not sources:
            raise ConfigError("no data source given")
        self.files: list[Path] = [p for f in folders for p in list_images(f)]
        if folders and not self.files:
            raise ConfigError(f"{', '.join(map(str, folders))}: no images")
        self.where = ", ".join(map(str, folders))
        if not folders:
            self.ratio = 1.0
        elif deadleaves_ratio:
            self.ratio = float(deadleaves_ratio)
        else:
            self.ratio = 1.0 / len(sources) if len(folders) < len(sources) else 0.0
        if self.ratio > 0 and not crop:
            raise ConfigError("dead-leaves images need a crop size")
        if length is None and not self.files:
            raise ConfigError("dead-leaves data needs a length (images per epoch)")
        self.length = int(length if length is not None else len(self.files))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self.item_rng(index)
        if self.ratio >= 1 or (self.ratio > 0 and rng.random() < self.ratio):
            gt = self._dead_leaves(rng)
            name = f"deadleaves_{index:06d}"
        else:
            n = len(self.files)
            gt, name = self._retry(n, self.where, self._clean, index % n, rng)
        if self.gray_fraction and rng.random() < self.gray_fraction:
            gt = grayscale(gt)
        task = self.task or self.tasks[int(rng.integers(len(self.tasks)))]
        deg = synthesize(gt, task, rng, **self.params[task])
        item = {"gt": to_tensor(gt), "lq": to_tensor(deg.mu), "name": name}
        if self.task is None:
            item["task"] = task
        if deg.mask is not None or ("inpaint" in self.tasks and self.task is None):
            # inpainting: 1 where pixels are missing (all 0 for the other tasks of a mix,
            # so that items of a batch have the same keys)
            mask = deg.mask if deg.mask is not None else np.zeros(gt.shape[:2], bool)
            item["mask"] = torch.from_numpy(mask.astype(np.float32))[None]
        return item

    @property
    def task(self) -> str | None:
        """The task, or None for a mix of several (each item then draws one)."""
        return self.tasks[0] if len(self.tasks) == 1 else None

    def _dead_leaves(self, rng: np.random.Generator) -> np.ndarray:
        """A new dead-leaves image, or a crop of one from the bank."""
        if not self.deadleaves_bank:
            return dead_leaves(self.crop, rng, **self.deadleaves_params)
        slot = int(rng.integers(self.deadleaves_bank))
        if slot not in self._bank:  # same leaf sizes as a crop-sized image would have
            params = {"rmax": self.crop / 2, **self.deadleaves_params}
            slot_rng = np.random.default_rng([self.seed, 0xDEAD1EAF, slot])
            self._bank[slot] = dead_leaves(2 * self.crop, slot_rng, **params)
        big = self._bank[slot]
        y, x = crop_origin(*big.shape[:2], self.crop, rng)
        img = big[y : y + self.crop, x : x + self.crop]
        if self.augment:
            (img,) = random_augment([img], rng)
        return np.ascontiguousarray(img)

    def _clean(self, i: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        path = self.files[i]
        img = self._read(path)
        if self.crop:
            img = pad_to(img, self.crop, self.crop)
            rng_crop = rng if self.crop_mode == "random" else None
            y, x = crop_origin(*img.shape[:2], self.crop, rng_crop)
            img = img[y : y + self.crop, x : x + self.crop]
        else:
            s = self.scale
            img = img[: img.shape[0] // s * s or s, : img.shape[1] // s * s or s]
            img = pad_to(img, s, s)
        if self.augment:
            (img,) = random_augment([img], rng)
        return np.ascontiguousarray(img), path.stem


class ValidationDataset(Dataset):
    """Whole (or centre-cropped) images for validation, without augmentation: paired
    folders when ``lq_dir`` is given, else ``task`` degradations of ``gt_dir`` with
    fixed per-image randomness (``seed``). Use batch size 1 for whole images."""

    def __init__(
        self,
        gt_dir: PathLike,
        lq_dir: PathLike | None = None,
        *,
        task: str | None = None,
        scale: int | None = None,
        crop: int | None = None,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> None:
        common = {"crop": crop, "seed": seed, "augment": False, "crop_mode": "center"}
        if lq_dir is not None:
            if scale is None:
                scale = get_task(task).scale if task else 1
            self.inner: Dataset = PairedFolderDataset(
                gt_dir, lq_dir, scale=scale, limit=limit, **common
            )
        else:
            if task is None:
                raise ConfigError("validation without LQ images needs a task to synthesize them")
            n = len(list_images(gt_dir))
            self.inner = SyntheticDataset(
                gt_dir, task, length=min(n, limit or n), params=params, **common
            )

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.inner[index]
