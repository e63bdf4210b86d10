"""``irsde restore``: restore image files of any size with a model."""

from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import InputError, UsageError
from ..io import IMAGE_EXTENSIONS, list_images
from ..seeding import MAX_SEED, seed_arg

log = logging.getLogger("irsde")


def register(sub: argparse._SubParsersAction) -> None:
    from ..restore import ENSEMBLE_SIZES
    from ..samplers import DEFAULT_MODE, DEFAULT_SAMPLER, MODES, SAMPLERS, SPACINGS
    from ..sde import DEFAULT_SPACING, SCHEDULES
    from ..tasks import TASKS

    p = sub.add_parser(
        "restore",
        help="restore images (any size, tiled) with a model",
        description="Restore images with an IR-SDE model. Each result is written to OUTDIR "
        "under its input's file name; existing outputs are skipped unless --overwrite.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR")
    p.add_argument("--task", help=f"task: {', '.join(TASKS)}")
    p.add_argument(
        "--model",
        type=Path,
        metavar="MODEL",
        help=".safetensors or reference .pth file, or an embedded model's name (irsde models)",
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default=DEFAULT_MODE,
        help="faithful: the model's stored setting (1 NFE for the embedded models: the "
        "posterior-mean estimate, best PSNR); realistic: a posterior sample (the model's "
        "stored realistic setting, else unipc, 5 NFE, tuned spacing; one view). "
        f"--sampler/--steps override either (default: {DEFAULT_MODE})",
    )
    p.add_argument(
        "--sampler",
        default=None,
        help=f"{', '.join(SAMPLERS)} (default: the model's stored sampler, else {DEFAULT_SAMPLER})",
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="network evaluations (default: the model's stored steps, else T: the full loop)",
    )
    p.add_argument(
        "--spacing",
        default=DEFAULT_SPACING,
        choices=SPACINGS,
        help=f"timestep spacing with --steps: {', '.join(SPACINGS)} (default: {DEFAULT_SPACING})",
    )
    p.add_argument(
        "--noise-level",
        type=float,
        default=None,
        metavar="SIGMA",
        help="noise std of the inputs (8-bit units, e.g. 25, or a fraction) for a model whose "
        "SDE is 'denoising': restoring starts at its t* (default: estimated per image)",
    )
    p.add_argument("--seed", type=seed_arg, default=0, help=f"random seed (0..{MAX_SEED})")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, mps or auto")
    p.add_argument("--tile", type=int, default=512, help="tile side in pixels (0: no tiling)")
    p.add_argument("--overlap", type=int, default=32, help="overlap between tiles")
    p.add_argument(
        "--max-output-pixels",
        type=int,
        default=None,
        metavar="N",
        help="refuse an image whose result has more pixels (default: $IRSDE_MAX_PIXELS, "
        "else Pillow's 89.5 million, as for inputs)",
    )
    p.add_argument(
        "--tile-batch",
        type=int,
        default=None,
        help="tiles per network call (default: 4 on CUDA, 1 on CPU)",
    )
    p.add_argument("--batch", type=int, default=4, help="small equal-sized images per batch")
    p.add_argument("--samples", type=int, default=1, help="posterior samples (>1: + std map)")
    p.add_argument(
        "--ensemble",
        type=int,
        choices=ENSEMBLE_SIZES,
        default=None,
        help=f"average {'/'.join(map(str, ENSEMBLE_SIZES))} flipped and transposed views "
        "(default: the model's choice)",
    )
    p.add_argument("--mask", type=Path, help="inpainting mask (white = missing) or folder")
    p.add_argument("--format", dest="ext", help="output extension, e.g. png (default: input's)")
    p.add_argument(
        "--amp", choices=("bf16", "fp16"), help="mixed precision: bf16 (CUDA or CPU) or fp16 (CUDA)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing outputs (an input of the same run is never replaced)",
    )
    p.add_argument(
        "--suffix",
        default="",
        metavar="TEXT",
        help="added to each output's name, e.g. _restored: photo.png -> photo_restored.png",
    )
    g = p.add_argument_group("SDE settings (override the model's or the task's)")
    g.add_argument("--max-sigma", type=float, default=None)
    g.add_argument("--T", type=int, default=None, dest="T")
    g.add_argument("--schedule", choices=SCHEDULES, default=None)
    g.add_argument("--eps", type=float, default=None)
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------- inputs
def expand_inputs(items: list[str]) -> tuple[list[Path], list[str]]:
    """Files, folders (their images) and globs -> sorted unique paths, and error lines."""
    found: list[Path] = []
    errors: list[str] = []
    for item in items:
        p = Path(item)
        if p.is_dir() and p.suffix.lower() not in IMAGE_EXTENSIONS:
            listed = list_images(p, include_non_files=True)  # reported when read
            if not listed:
                errors.append(f"{p}: folder has no images")
            found.extend(listed)
        elif p.exists() or p.is_symlink():
            found.append(p)
        elif glob.has_magic(item):
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            matches = [m for m in matches if m.suffix.lower() in IMAGE_EXTENSIONS]
            if not matches:
                errors.append(f"{item}: no images match")
            found.extend(matches)
        else:
            errors.append(f"{p}: no such file")
    # the same path given twice is restored once; a symlink is an input of its own
    unique = sorted({Path(os.path.abspath(f)): f for f in found}.values(), key=lambda f: str(f))
    return unique, errors


def shard(paths: list[Path]) -> tuple[list[Path], int, int]:
    """This process's share under torchrun (``RANK``/``WORLD_SIZE``): items ``rank::world``."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    rank = int(os.environ.get("RANK", "0") or 0)
    if world < 1 or not 0 <= rank < world:
        raise UsageError(f"invalid RANK={rank} / WORLD_SIZE={world}")
    return sorted(paths, key=str)[rank::world], rank, world


def _collisions(
    paths: list[Path], out_dir: Path, ext: str | None, suffix: str = "", samples: int = 1
) -> tuple[list[Path], list[str]]:
    """Drop inputs one of whose outputs (or std maps) an earlier input writes, before
    sharding, so that no two ranks write one file (:func:`irsde.restore.files.plan_outputs`)."""
    from ..restore.files import plan_outputs

    plan = plan_outputs(paths, out_dir, ext, samples, suffix)
    return [p for p, _, _, problem in plan if not problem], [m for *_, m in plan if m]


def _model_path(args: argparse.Namespace) -> Path:
    if args.model is not None:
        return args.model
    if args.task is None:
        raise UsageError("give --task TASK (embedded model) or --model PATH")
    from ..weights import default_model_path

    return default_model_path(args.task)


def _masks(mask: Path | None) -> Path | dict[str, Path] | None:
    if mask is None or not mask.is_dir():
        return mask
    found = {p.stem: p for p in list_images(mask)}
    if not found:
        raise UsageError(f"{mask}: mask folder has no images")
    return found


# ---------------------------------------------------------------------------- progress
class _Progress:
    """tqdm bars at the CLI edge: one over files, one over the sampler steps of a batch."""

    def __init__(self, total: int) -> None:
        self.files = self.steps = None
        self.disabled = not sys.stderr.isatty()
        if self.disabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover
            self.disabled = True
            return
        self._tqdm = tqdm
        self.files = tqdm(total=total, unit="img", desc="images", position=0)

    def step(self, info: dict[str, Any]) -> None:
        if self.disabled:
            return
        total = info["steps"] * info.get("samples", 1)
        if self.steps is None or self.steps.total != total or info["i"] == 0 == info["sample"]:
            if self.steps is not None:
                self.steps.close()
            names = ", ".join(info.get("names", []))
            self.steps = self._tqdm(total=total, unit="step", desc=names[:40], leave=False)
        self.steps.update(1)

    def done(self) -> None:
        if self.files is not None:
            self.files.update(1)

    def close(self) -> None:
        for bar in (self.steps, self.files):
            if bar is not None:
                bar.close()


# ---------------------------------------------------------------------------- command
def run(args: argparse.Namespace) -> int:
    from ..restore import Restorer

    ext = None
    if args.ext:
        ext = "." + args.ext.lower().lstrip(".")
        if ext not in IMAGE_EXTENSIONS:
            raise UsageError(f"unsupported output format {args.ext!r}")
    paths, errors = expand_inputs(args.inputs)
    if os.sep in args.suffix or (os.altsep and os.altsep in args.suffix):
        raise UsageError(f"--suffix {args.suffix!r}: must not contain a path separator")
    paths, clashes = _collisions(paths, args.out, ext, args.suffix, args.samples)
    errors += clashes
    paths, rank, world = shard(paths)
    if rank > 0:
        errors = []  # reported once, by rank 0
    if args.mask is not None and not args.mask.exists():
        raise UsageError(f"{args.mask}: no such mask file or folder")
    sde = {"max_sigma": args.max_sigma, "T": args.T, "schedule": args.schedule, "eps": args.eps}
    restorer = Restorer(
        _model_path(args),
        sampler=args.sampler,
        steps=args.steps,
        spacing=args.spacing,
        tile=args.tile or None,
        overlap=args.overlap,
        device=args.device,
        seed=args.seed,
        samples=args.samples,
        ensemble=args.ensemble,
        task=args.task,
        sde=sde,
        tile_batch=args.tile_batch,
        image_batch=args.batch,
        amp=args.amp,
        mode=args.mode,
        noise_level=args.noise_level,
        max_output_pixels=args.max_output_pixels,
    )
    if restorer.sde_note:
        print(f"note: {restorer.sde_note}", file=sys.stderr)
    where = f" (rank {rank} of {world})" if world > 1 else ""
    log.info("restoring %d image(s)%s: %s", len(paths), where, restorer.describe())
    for line in errors:
        print(f"irsde restore: error: {line}", file=sys.stderr)
    failed = len(errors)
    progress = _Progress(len(paths))

    def on_result(res: Any) -> None:
        nonlocal failed
        progress.done()
        if res.status == "ok":
            extra = f" (+ {res.std_map.name})" if res.std_map else ""
            log.info("%s -> %s%s [%.1fs]", res.input, res.output, extra, res.seconds)
        elif res.status == "skipped":
            print(f"irsde restore: skipped {res.input}: {res.message}", file=sys.stderr)
        else:
            failed += 1
            print(f"irsde restore: error: {res.message}", file=sys.stderr)

    try:
        results = restorer.restore_files(
            paths,
            args.out,
            overwrite=args.overwrite,
            mask=_masks(args.mask),
            ext=ext,
            suffix=args.suffix,
            callback=progress.step,
            on_result=on_result,
        )
    except InputError as err:  # e.g. an unreadable shared mask
        raise UsageError(str(err)) from None
    finally:
        progress.close()
    _barrier()
    done = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    if not args.quiet:
        print(f"restored {done}, skipped {skipped}, failed {failed}{where} -> {args.out}")
    return 1 if failed else 0


def _barrier() -> None:
    """Wait for the other ranks when a process group happens to be initialized."""
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
    except Exception as err:  # pragma: no cover - best effort
        log.debug("barrier skipped: %s", err)
