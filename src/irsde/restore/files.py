"""The batch file loop of ``irsde restore``: read, group, restore, write, report.

Unusable inputs are reported as ``"failed"`` and the rest still run; existing outputs
are ``"skipped"`` unless overwriting. Small images (one tile) of equal size go through
the network together.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError
from ..io import ImageData, OutputExistsError, load_image, save_image
from .uncertainty import colorize

if TYPE_CHECKING:
    from .restorer import Restorer, StepCallback

log = logging.getLogger(__name__)


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


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask image file (white = missing) as an ``H x W`` bool array."""
    data = load_image(path)
    return data.pixels.mean(axis=2) > 0.5


def output_paths(
    path: Path, out_dir: Path, ext: str | None = None, samples: int = 1, suffix: str = ""
) -> tuple[Path, Path | None]:
    """Where the result of ``path`` goes (and its std map when ``samples > 1``): its
    name, ``suffix`` added to the stem, ``ext`` (e.g. ``.png``) replacing its extension."""
    out = out_dir / f"{path.stem}{suffix}{ext or path.suffix}"
    std = out.with_name(f"{out.stem}_std.png") if samples > 1 else None
    return out, std


def _key(path: Path) -> str:
    """A path as the file system compares names (absolute, case-folded where it is)."""
    return os.path.normcase(os.path.abspath(path))


def plan_outputs(
    paths: Iterable[Path], out_dir: Path, ext: str | None = None, samples: int = 1, suffix: str = ""
) -> list[tuple[Path, Path, Path | None, str]]:
    """Every input's output and std map (:func:`output_paths`), planned before any is
    written: ``(input, output, std map, problem)``. An input one of whose outputs an
    earlier input already writes gets a one-line ``problem`` (else ``""``) and no claim."""
    claimed: dict[str, Path] = {}
    plan = []
    for path in paths:
        out, std = output_paths(path, out_dir, ext, samples, suffix)
        mine = [o for o in (out, std) if o is not None]
        clash = next((o for o in mine if _key(o) in claimed), None)
        problem = ""
        if clash is not None:
            problem = (
                f"{path}: output {clash.name} is also written for {claimed[_key(clash)]}; "
                "not restored (use another -o or --suffix)"
            )
        else:
            claimed.update((_key(o), path) for o in mine)
        plan.append((path, out, std, problem))
    return plan


def file_identity(path: Path) -> set[object]:
    """What makes two paths one file: the resolved path, and device and inode if it exists."""
    ids: set[object] = {path.resolve()}
    try:
        st = path.stat()
        ids.add((st.st_dev, st.st_ino))
    except OSError:
        pass
    return ids


def same_file(path: Path, inputs: set[object]) -> bool:
    """Whether ``path`` is one of ``inputs`` (:func:`file_identity`): by name, link or hard link."""
    return not file_identity(path).isdisjoint(inputs)


def restore_files(
    restorer: Restorer,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    overwrite: bool = False,
    *,
    mask: str | os.PathLike | dict[str, Path] | None = None,
    ext: str | None = None,
    suffix: str = "",
    callback: StepCallback | None = None,
    on_result: Callable[[RestoreResult], None] | None = None,
) -> list[RestoreResult]:
    """Restore files into ``out_dir`` under their own names; one result per input, in
    input order. ``mask``: one mask file for all inputs, or a dict from input stem to
    mask file. ``ext``: output extension (e.g. ``.png``); ``suffix``: added to each
    output's stem. An output that would replace an input (or mask) of the same run is
    never written, ``overwrite`` or not: that input is reported as failed; so is one
    whose output another input writes (:func:`plan_outputs`), one without a mask in a
    mask folder, and one too large or out of memory (the rest go on)."""
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
            _process(restorer, items, overwrite, callback, report)

    paths = [Path(p) for p in inputs]
    masks = _MaskSource(mask)
    protected = set().union(*(file_identity(p) for p in [*paths, *masks.files()]))
    for path, out, std_out, problem in plan_outputs(paths, out_dir, ext, restorer.samples, suffix):
        if problem:
            report(RestoreResult(path, None, "failed", problem))
            continue
        clash = next((o for o in (out, std_out) if o and same_file(o, protected)), None)
        if clash is not None:
            msg = f"{path}: output {clash} would replace an input; use another -o or --suffix"
            report(RestoreResult(path, None, "failed", msg))
            continue
        if not overwrite and out.exists():
            report(RestoreResult(path, out, "skipped", f"{out} exists (use --overwrite)"))
            continue
        try:
            item = _read(path, out, std_out, masks)
        except InputError as err:
            report(RestoreResult(path, None, "failed", str(err)))
            continue
        key = (item.data.height, item.data.width)
        tile = restorer.tiler.tile
        if tile and max(key) * restorer.scale > tile:
            _process(restorer, [item], overwrite, callback, report)  # large: alone, tiled
            continue
        pending.setdefault(key, []).append(item)
        if len(pending[key]) >= restorer.image_batch:
            flush(key)
    for key in list(pending):
        flush(key)
    order = {p: i for i, p in enumerate(paths)}
    results.sort(key=lambda r: order.get(r.input, 0))
    return results


class _MaskSource:
    """The mask of each input: none, one shared file (read once), or one file per stem."""

    def __init__(self, mask: str | os.PathLike | dict[str, Path] | None) -> None:
        self.mask = mask
        self.shared: np.ndarray | None = None

    def files(self) -> list[Path]:
        """The mask files this source may read."""
        if isinstance(self.mask, dict):
            return list(self.mask.values())
        return [] if self.mask is None else [Path(self.mask)]

    def get(self, path: Path) -> np.ndarray | None:
        if isinstance(self.mask, dict):
            if path.stem not in self.mask:
                folder = next((str(p.parent) for p in self.mask.values()), "the mask folder")
                raise InputError(f"{path}: no mask {path.stem}.* in {folder}; not restored")
            return load_mask(self.mask[path.stem])
        if self.mask is not None and self.shared is None:
            self.shared = load_mask(self.mask)
        return self.shared


def _read(path: Path, out: Path, std_out: Path | None, masks: _MaskSource) -> _Item:
    data = load_image(path)
    m = masks.get(path)
    if m is not None and m.shape != (data.height, data.width):
        raise InputError(
            f"{path}: mask size {m.shape[1]}x{m.shape[0]} does not match "
            f"the image size {data.width}x{data.height}"
        )
    return _Item(path, out, std_out, data, m)


def _process(
    restorer: Restorer,
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
        outs = restorer.restore_rgb([it.data.rgb() for it in items], [it.mask for it in items], cb)
    except InputError as err:
        for it in items:
            report(RestoreResult(it.path, None, "failed", f"{it.path}: {err}"))
        return
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        _free_memory()
        if len(items) > 1:  # retry one by one: a batch may not fit where an image does
            for it in items:
                _process(restorer, [it], overwrite, callback, report)
            return
        (it,) = items
        msg = f"{it.path}: out of memory ({_first_line(err)}); try a smaller --tile or --tile-batch"
        report(RestoreResult(it.path, None, "failed", msg))
        return
    for it, (res, std) in zip(items, outs, strict=True):
        report(_write(it, res, std, overwrite))


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is an allocation failure (host or device), not another bug."""
    if isinstance(err, MemoryError):
        return True
    text = str(err).lower()
    return type(err).__name__ == "OutOfMemoryError" or any(
        w in text for w in ("out of memory", "can't allocate memory", "not enough memory")
    )


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return (lines[0] if lines else type(err).__name__)[:200]


def _free_memory() -> None:
    """Return cached device memory after an out-of-memory error."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _write(it: _Item, res: np.ndarray, std: np.ndarray | None, overwrite: bool) -> RestoreResult:
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
