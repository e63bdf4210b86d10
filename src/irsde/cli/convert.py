"""``irsde convert``: a reference ``.pth`` checkpoint to this toolkit's ``.safetensors``."""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

from ..errors import UsageError

log = logging.getLogger("irsde")


def register(sub: argparse._SubParsersAction) -> None:
    from ..tasks import TASKS

    p = sub.add_parser(
        "convert",
        help="convert a reference .pth checkpoint to .safetensors",
        description="Convert a model file (reference .pth or .safetensors) to a .safetensors "
        "file with its architecture, SDE settings and provenance embedded.",
    )
    p.add_argument("input", type=Path, metavar="IN.pth", help="checkpoint to convert")
    p.add_argument("output", type=Path, metavar="OUT.safetensors", help="file to write")
    p.add_argument("--task", help=f"task whose reference SDE settings to embed: {', '.join(TASKS)}")
    p.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models import load_model, save_model
    from ..tasks import get_task

    src, dst = Path(args.input), Path(args.output)
    if dst.suffix.lower() != ".safetensors":
        raise UsageError(f"output must be a .safetensors file, got {dst}")
    if dst.is_dir():
        raise UsageError(f"{dst} is a folder; give the output file name")
    if dst.exists() and not args.overwrite:
        raise UsageError(f"{dst} exists; pass --overwrite to replace it")
    if dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise UsageError("input and output are the same file")
    task = get_task(args.task).name if args.task else None

    net = load_model(src, task=task)
    cfg = net.irsde_config
    provenance = {k: v for k, v in (cfg.get("provenance") or {}).items() if k != "file"}
    provenance.update(
        {"converted_from": src.name, "source_format": cfg["source"], "source_sha256": _sha256(src)}
    )
    if cfg["sde"] is None:
        log.warning("no SDE settings embedded (the input has none); pass --task to add them")
    try:
        save_model(
            net,
            dst,
            sde=cfg["sde"],
            task=cfg["task"],
            sampler=cfg["sampler"],
            provenance=provenance,
            half=args.half,
        )
    except OSError as err:
        raise UsageError(f"cannot write {dst}: {err.strerror or err}") from None
    log.info(
        "wrote %s (%s, %s, task %s)",
        dst,
        cfg["arch"],
        "float16" if args.half else "float32",
        cfg["task"] or "unknown",
    )
    return 0


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
