"""Quality of the IR-SDE models against classical baselines on the held-out photos.

For each task the held-out photos (default: the bundled samples) are degraded once per
seed of ``--seeds`` (default 0-3, so 12 cases per row for the 3 bundled photos; denoise at sigma 15, 25 and 50; deblur with a Gaussian sigma-2 and a motion
kernel plus noise of sigma 1; sr4, derain, dehaze and inpaint with ``irsde degrade``'s
default ranges), restored by a model through the ``irsde restore`` command and by the
classical baselines (:mod:`irsde.classical`) from the same 8-bit input files, and scored
with the ``irsde eval`` code: PSNR/SSIM on Y with a 4-pixel crop (paper convention) and
on RGB without crop, averaged over photos and seeds. Writes
OUT/<task>/<degradation>/seed<S>/<method>/*.png, a Markdown table
(``--md``, default docs/quality.md) and JSON (``--json``).

    python benchmarks/quality.py --model-dir runs --steps 5 100 --json quality.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from irsde import cli
from irsde.apps.bench import degrade_case, find_models
from irsde.classical import (
    BASELINE_NOTE,
    PARAM_GRIDS,
    MissingDependencyError,
    baseline_label,
    run_baseline,
)
from irsde.evaluation import evaluate_folders, summary
from irsde.io import list_images, read_image, sample_images_dir, write_image
from irsde.metrics import PAPER_CROP_BORDER
from irsde.models import load_model
from irsde.samplers import DEFAULT_SAMPLER
from irsde.sde import DEFAULT_SPACING
from irsde.tasks import TASKS, get_task


def _rel(path: Path) -> Path:
    """``path`` relative to the current folder when inside it (shorter commands)."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--model", type=Path, help="one model file (with a single --tasks)")
    p.add_argument("--model-dir", type=Path, help="e.g. runs (embedded-<task>/ folders)")
    p.add_argument("--sampler", default=None, help="default: the model's recommendation")
    p.add_argument("--steps", nargs="*", type=int, default=[], help="one row per value")
    p.add_argument("--spacing", default=DEFAULT_SPACING)
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3],
        help="degradation (and sampler) seeds; each photo is degraded once per seed and the "
        "scores are averaged over all of them",
    )
    p.add_argument("--images", type=Path, default=_rel(sample_images_dir()), help="held-out photos")
    p.add_argument("--out", type=Path, default=Path("quality-results"))
    p.add_argument("--json", type=Path, help="write the results as JSON")
    p.add_argument("--md", type=Path, default=Path("docs/quality.md"), help="Markdown report")
    p.add_argument("--no-classical", action="store_true", help="skip the classical baselines")
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


# ---------------------------------------------------------------------------- inputs
def make_inputs(
    task: str, variant: str, args: argparse.Namespace, lq_dir: Path
) -> tuple[dict, Path]:
    """Write the degraded inputs of every photo; returns side information per stem and
    the folder of the ground truth to score against.

    Gray variants write gray PNG files (what a user's gray photo is) and their gray
    ground truth to ``lq_dir/../gt``.
    """
    gray = variant.startswith("gray")
    gt_dir = lq_dir.parent / "gt" if gray else args.images
    gts = list_images(args.images)
    side: dict[str, dict[str, Any]] = {}
    if variant == "":  # exactly what `irsde degrade` writes
        argv = ["degrade", *map(str, gts), "-o", str(lq_dir), "--task", task]
        argv += ["--seed", str(args.seed), "--overwrite", "-q"]
        argv += ["--save-mask"] if task == "inpaint" else []
        run_cli(argv)
    for gt in gts:
        case = degrade_case(gt.stem, read_image(gt), task, args.seed, variant)
        if variant:
            write_image(lq_dir / f"{gt.stem}.png", case.lq[..., :1] if gray else case.lq)
        if gray:
            write_image(gt_dir / f"{gt.stem}.png", case.gt[..., :1])
        side[gt.stem] = {"kernel": case.kernel, "sigma": case.params.get("sigma")}
        if case.kernel is not None:
            np.save(lq_dir / f"{gt.stem}.kernel.npy", case.kernel)
    return side, gt_dir


def run_cli(argv: list[str]) -> None:
    argv = [a for a in argv if a != "-q"]
    code = cli.main(["-q", *argv])
    if code != 0:
        raise SystemExit(f"irsde {' '.join(argv)} failed with exit code {code}")


# ---------------------------------------------------------------------------- methods
def run_model(task: str, model: Path, steps: int | None, lq: Path, pred: Path, args) -> list[str]:
    argv = ["restore", str(lq), "-o", str(pred), "--model", str(model), "--task", task]
    argv += ["--seed", str(args.seed), "--device", args.device, "--overwrite"]
    argv += ["--sampler", args.sampler] if args.sampler else []
    argv += ["--steps", str(steps), "--spacing", args.spacing] if steps else []
    argv += ["--mask", str(lq / "masks")] if task == "inpaint" else []
    run_cli(argv)
    return argv


def run_classical(task: str, method: str, lq: Path, pred: Path, side: dict, gt: Path) -> None:
    """One baseline on every input; the ground truth picks the free parameters of the
    methods of ``PARAM_GRIDS`` (an upper bound on tuning them by eye)."""
    pred.mkdir(parents=True, exist_ok=True)
    for path in list_images(lq):
        info = side.get(path.stem, {})
        mask = None
        if task == "inpaint":
            mask = read_image(lq / "masks" / path.name).mean(axis=2) > 0.5
        reference = read_image(gt / path.name) if method in PARAM_GRIDS else None
        out = run_baseline(
            task, method, read_image(path), sigma=info.get("sigma"), kernel=info.get("kernel"),
            mask=mask, reference=reference,
        )  # fmt: skip
        write_image(pred / f"{path.stem}.png", out)


def score(pred: Path, gt: Path) -> dict[str, float]:
    """Mean PSNR/SSIM through ``irsde eval``'s code: Y crop 4 and RGB crop 0."""
    out = {}
    for suffix, crop, y in (("y", PAPER_CROP_BORDER, True), ("rgb", 0, False)):
        s = summary(evaluate_folders(pred, gt, crop_border=crop, y_channel=y))
        out[f"psnr_{suffix}"], out[f"ssim_{suffix}"] = s["psnr"], s["ssim"]
    return out


# ---------------------------------------------------------------------------- driver
def model_for(task: str, args: argparse.Namespace) -> Path | None:
    if args.model is not None:
        return args.model
    try:
        return find_models(None, args.model_dir, [task])[task]
    except Exception as err:  # no model for this task yet: classical rows only
        print(f"[quality] {task}: no model ({err})", file=sys.stderr)
        return None


def evaluate_task(task: str, args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    """Rows averaged over ``args.seeds`` (one degradation of every photo per seed); the
    commands of the first seed."""
    rows, commands = [], []
    model = model_for(task, args)
    for variant in get_task(task).variants:
        per_seed = []
        for k, seed in enumerate(args.seeds):
            one = argparse.Namespace(**{**vars(args), "seed": seed})
            r, c = evaluate_variant(task, variant, model, one)
            per_seed.append(r)
            commands += c if k == 0 else []
        if len(args.seeds) > 1:
            commands.append(f"# ... and the same for --seed {' '.join(map(str, args.seeds[1:]))}")
        rows += average_rows(per_seed)
        print(f"[quality] {task} ({variant or 'default ranges'}) done", file=sys.stderr)
    return rows, commands


def average_rows(per_seed: list[list[dict]]) -> list[dict]:
    """Mean of each method's scores and seconds over the seeds (same methods, same order)."""
    out = []
    for same in zip(*per_seed, strict=True):
        row = dict(same[0])
        for key in ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb", "seconds"):
            if key in row:
                row[key] = float(np.mean([r[key] for r in same]))
        row["cases"] = sum(r["cases"] for r in same)
        out.append(row)
    return out


def evaluate_variant(
    task: str, variant: str, model: Path | None, args: argparse.Namespace
) -> tuple[list[dict], list[str]]:
    """Every method on the photos degraded with one seed: rows and command lines."""
    rows, commands = [], []
    base = args.out / task / (variant or "default") / f"seed{args.seed}"
    lq = base / "input"
    side, gt = make_inputs(task, variant, args, lq)
    label = variant or "default ranges"
    if variant == "":
        commands.append(f"irsde degrade {args.images}/*.png -o {lq} --task {task} "
                        f"--seed {args.seed}" + (" --save-mask" if task == "inpaint" else ""))  # fmt: skip
    else:
        commands.append(f"# {lq}: written by benchmarks/quality.py ({variant}, seed {args.seed})")
    if task != "sr4":
        rows.append({"method": "input", **score(lq, gt)})
    for steps in args.steps or [None]:
        if model is None:
            break
        pred = base / f"irsde-{steps or 'default'}"
        t0 = time.perf_counter()
        argv = run_model(task, model, steps, lq, pred, args)
        rows.append({"method": describe_model(model, steps, args), "seconds": time.perf_counter() - t0,
                     **score(pred, gt)})  # fmt: skip
        commands.append("irsde " + shlex.join(argv))
        commands.append(
            f"irsde eval --pred {pred} --gt {gt} --crop-border {PAPER_CROP_BORDER} --y-channel"
        )
    for method in [] if args.no_classical else get_task(task).baselines:
        if method == "input":
            continue
        pred = base / method
        try:
            t0 = time.perf_counter()
            run_classical(task, method, lq, pred, side, gt)
        except MissingDependencyError as err:
            print(f"[quality] {task}/{method}: skipped ({err})", file=sys.stderr)
            continue
        rows.append({"method": method, "seconds": time.perf_counter() - t0, **score(pred, gt)})  # fmt: skip
    cases = len(list_images(args.images))
    for r in rows:
        r.setdefault("task", task)
        r.setdefault("degradation", label)
        r["cases"] = cases
    return rows, commands


def describe_model(model: Path, steps: int | None, args: argparse.Namespace) -> str:
    cfg = load_model(model).irsde_config
    rec = cfg.get("sampler") or {}
    sampler = args.sampler or rec.get("name") or DEFAULT_SAMPLER
    n = steps or (rec.get("steps") if sampler == rec.get("name") else None) or cfg["sde"]["T"]
    spacing = args.spacing if steps else rec.get("spacing") or DEFAULT_SPACING
    views = int(rec.get("ensemble") or 1)
    return f"IR-SDE {sampler} {n} NFE ({spacing})" + (f" x{views} views" if views > 1 else "")


def model_sources(args: argparse.Namespace) -> list[str]:
    out = []
    for task in args.tasks:
        path = model_for(task, args)
        if path is not None:
            prov = load_model(path).irsde_config.get("provenance") or {}
            out.append(f"- {task}: `{path}` (trained steps: {prov.get('trained_steps', '?')})")
    return out


def markdown(
    rows: list[dict], commands: list[str], args: argparse.Namespace, argv: list[str]
) -> str:
    cmd = "python benchmarks/quality.py " + shlex.join(argv)
    lines = [
        "# Restoration quality on the held-out photos",
        "",
        f"Held-out photos: `{args.images}` (never used in training). PSNR/SSIM on Y "
        "(BT.601, 4-pixel crop: the papers' convention) and on RGB (no crop), mean over the "
        f"photos, each degraded once per seed {', '.join(map(str, args.seeds))} "
        f"({rows[0]['cases'] if rows else 0} cases per row). {BASELINE_NOTE} "
        "`gray-sigma25`: the photos made gray "
        "(BT.601 luma) with gray noise, given as gray PNG files and scored against the gray "
        "photos.",
        "",
        f"Command: `{cmd}`",
        "",
        "Models:",
        *model_sources(args),
        "",
        "| task | degradation | method | PSNR-Y | SSIM-Y | PSNR-RGB | SSIM-RGB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['degradation']} | {baseline_label(r['method'])} | {r['psnr_y']:.2f} "
            f"| {r['ssim_y']:.4f} | {r['psnr_rgb']:.2f} | {r['ssim_rgb']:.4f} |"
        )
    lines += ["", "Reproduce each model row with the command line:", "", "```sh", *commands, "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.model is not None and len(args.tasks) != 1:
        raise SystemExit("--model needs exactly one --tasks")
    rows, commands = [], []
    for task in args.tasks:
        r, c = evaluate_task(task, args)
        rows += r
        commands += c
    text = markdown(rows, commands, args, argv)
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text)
    if args.json:
        args.json.write_text(
            json.dumps({"argv": argv, "rows": rows, "commands": commands}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
