"""``irsde degrade``: synthesize low-quality images from clean ones.

Each output is written to OUTDIR as ``<input stem>.png`` (lossless, so the synthesized
degradation is kept exactly). For ``sr4`` the x4 low-resolution image is written (what
``irsde restore --task sr4`` takes); ``--no-lr`` writes the bicubic down-then-up image
at full size instead. ``--save-mask`` writes inpainting masks (white = hole) to
``OUTDIR/masks/<stem>.png``. Every image draws its parameters from a generator seeded by
``(seed, file name)``, so the result does not depend on the order or number of inputs.
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
from pathlib import Path

import numpy as np

from ..seeding import MAX_SEED, seed_arg

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    from ..tasks import TASKS

    p = sub.add_parser(
        "degrade",
        help="synthesize low-quality inputs (noise, rain, blur, x4 LR, holes, haze)",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or globs")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUTDIR")
    p.add_argument("--task", required=True, help=", ".join(TASKS))
    p.add_argument("--seed", type=seed_arg, default=0, help=f"random seed (0..{MAX_SEED})")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--save-mask", action="store_true", help="inpaint: also write the hole masks")
    p.add_argument(
        "--lr",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sr4: write the x4 low-resolution image (default) or, with --no-lr, the "
        "bicubic down-then-up image at full size",
    )
    p.set_defaults(func=run)


def expand_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files from files, folders and globs; and one message per input that gave nothing."""
    from ..io import list_images

    files: list[Path] = []
    problems: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = list_images(path, include_non_files=True)  # reported when read
            files += found
            if not found:
                problems.append(f"{item}: no images in this folder")
        elif path.exists() or path.is_symlink():
            files.append(path)
        elif glob.has_magic(item):
            found = sorted(Path(p) for p in glob.glob(item) if Path(p).is_file())
            files += found
            if not found:
                problems.append(f"{item}: no file matches")
        else:
            problems.append(f"{item}: no such file or folder")
    return files, problems


def _degrade_one(path: Path, args: argparse.Namespace, out: Path) -> None:
    from ..degrade import is_gray, synthesize
    from ..io import load_image, write_image
    from ..seeding import image_rng

    data = load_image(path)
    res = synthesize(data.rgb(), args.task, image_rng(args.seed, path.name))
    result = res.lr if (res.lr is not None and args.lr) else res.mu
    if data.gray and is_gray(result):  # a gray file's degraded version is a gray file
        result = result[..., :1]
    write_image(out, result)
    if args.save_mask and res.mask is not None:
        write_image(out.parent / "masks" / out.name, res.mask.astype(np.uint8) * 255)
    log.debug("%s -> %s %s", path, out, res.params)


def run(args: argparse.Namespace) -> int:
    from ..errors import IrsdeError
    from ..restore.files import file_identity, same_file
    from ..tasks import get_task

    writes_masks = get_task(args.task).uses_mask and args.save_mask  # an unknown task: usage error
    files, problems = expand_inputs(args.inputs)
    failed = len(problems)
    for msg in problems:
        print(f"irsde degrade: error: {msg}", file=sys.stderr)
    done, skipped, seen = 0, 0, set()
    inputs = set().union(*(file_identity(p) for p in files))
    for path in files:
        out = args.out / f"{path.stem}.png"
        planned = [out, out.parent / "masks" / out.name] if writes_masks else [out]
        clash = next((o for o in planned if same_file(o, inputs)), None)
        if clash is not None:  # never write over an input, --overwrite or not
            print(
                f"irsde degrade: error: {path}: its output {clash} is an input of this run; "
                "not degraded (use another -o)",
                file=sys.stderr,
            )
            failed += 1
            continue
        there = next((o for o in planned if o.exists()), None)
        if out not in seen and there is not None and not args.overwrite:  # as `irsde restore`
            print(
                f"irsde degrade: skipped {path}: {there} exists (use --overwrite)", file=sys.stderr
            )
            skipped += 1
            seen.add(out)
            continue
        msg = f"{path}: another input already writes {out.name}" if out in seen else None
        seen.add(out)
        if msg is None:
            try:
                _degrade_one(path, args, out)
                done += 1
                continue
            except (IrsdeError, OSError, ValueError) as err:
                text = str(err)
                msg = text if str(path) in text else f"{path}: {text}"
        failed += 1
        print(f"irsde degrade: error: {msg}", file=sys.stderr)
    log.info("%d image(s) written to %s, %d skipped, %d failed", done, args.out, skipped, failed)
    return 1 if failed else 0
