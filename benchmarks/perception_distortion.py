"""Perception-distortion of the embedded models on the held-out photos.

For each embedded model (:func:`irsde.weights.available_models`) the held-out photos
(default: the bundled samples), center-cropped to ``--crop``, are degraded once with the
task's curve variant (``irsde bench``'s NFE curves: denoise sigma 25, deblur Gaussian
sigma 2, the others their default ranges; 8-bit inputs) and restored with every setting
of :data:`SETTINGS`, one view (no self-ensemble), sampler seed ``--seed``. Per setting:
PSNR-Y and SSIM-Y (paper convention, mean over the photos) and the sliced Wasserstein
distance (:func:`irsde.metrics.swd`, ``irsde eval --swd``'s defaults) between the set
of restored photos and the set of ground truths, mean and std over ``--swd-seeds``
(patch positions and directions; the estimator's own spread). Lower SWD = patch
statistics closer to the photos'. Writes JSON, a Markdown table and a plot (x: PSNR-Y,
y: SWD, one panel per task).

    python benchmarks/perception_distortion.py --crop 128 --json pd.json \\
        --md pd.md --plot docs/images/perception_distortion.png
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irsde.apps.bench import degrade_case, heldout_images, quantize, restore_cases, scores
from irsde.io import temp_file_beside, to_uint8
from irsde.metrics import swd
from irsde.models import load_model
from irsde.samplers import REALISTIC_DEFAULT
from irsde.tasks import get_task
from irsde.weights import available_models

#: (sampler, spacing, NFE) measured per model: the posterior sampler (NFE 1 = the
#: posterior-mean estimate), the realistic mode's sampler around its default, Euler-Maruyama
SETTINGS: tuple[tuple[str, str, int], ...] = (
    *(("posterior", "uniform", n) for n in (1, 2, 5, 10, 20)),
    ("unipc", "logsnr", 3),
    *((REALISTIC_DEFAULT["name"], REALISTIC_DEFAULT["spacing"], n) for n in (5, 6, 10)),
    *(("sde", "uniform", n) for n in (10, 20)),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", nargs="+", help="default: every embedded model")
    p.add_argument("--model", type=Path, help="one model file instead (with a single --tasks)")
    p.add_argument("--images", type=Path, help="held-out photos (default: the bundled samples)")
    p.add_argument("--crop", type=int, default=128, help="center crop (0: whole photos)")
    p.add_argument("--seed", type=int, default=0, help="degradation and sampler seed")
    p.add_argument("--swd-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", type=Path, help="write the rows as JSON")
    p.add_argument("--md", type=Path, help="write the Markdown table")
    p.add_argument("--plot", type=Path, help="write the perception-distortion plot (PNG)")
    p.add_argument(
        "--rows-from", type=Path, nargs="+", help="report the rows of earlier --json files instead"
    )
    return p.parse_args(argv)


def models(args: argparse.Namespace) -> dict[str, Path]:
    """Task -> model file: ``--model`` for the single ``--tasks``, else the embedded ones."""
    if args.model is not None:
        if not args.tasks or len(args.tasks) != 1:
            raise SystemExit("--model needs exactly one --tasks")
        return {args.tasks[0]: args.model}
    found = {m.task: m.path for m in available_models() if isinstance(m.task, str)}
    missing = sorted(set(args.tasks or ()) - set(found))
    if missing:
        raise SystemExit(f"no embedded model for {', '.join(missing)}; have {', '.join(found)}")
    return {t: p for t, p in found.items() if not args.tasks or t in args.tasks}


def swd_stats(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], seeds: Sequence[int]):
    """Mean and std of the set SWD over ``seeds`` (8-bit images, as saved files are)."""
    p8 = [to_uint8(p).astype(np.float64) / 255 for p in preds]
    g8 = [to_uint8(g).astype(np.float64) / 255 for g in gts]
    vals = [swd(p8, g8, seed=s).mean for s in seeds]
    return float(np.mean(vals)), float(np.std(vals))


def measure_setting(net, task, cases, sampler, spacing, nfe, args) -> dict[str, Any]:
    t0 = time.perf_counter()
    outs = restore_cases(net, task, cases, sampler, nfe, spacing, torch.device("cpu"), args.seed)
    seconds = time.perf_counter() - t0
    return row(task, sampler, spacing, nfe, outs, [c.gt for c in cases], args) | {
        "seconds": seconds
    }


def row(task, sampler, spacing, nfe, outs, gts, args) -> dict[str, Any]:
    per = [scores(o, g) for o, g in zip(outs, gts, strict=True)]
    mean, std = swd_stats(outs, gts, args.swd_seeds)
    return {
        "task": task, "sampler": sampler, "spacing": spacing, "nfe": nfe,
        "psnr_y": float(np.mean([s["psnr_y"] for s in per])),
        "ssim_y": float(np.mean([s["ssim_y"] for s in per])),
        "swd": mean, "swd_std": std,
        "images": str(args.images or "src/irsde/assets/samples"), "crop": args.crop,
    }  # fmt: skip


def measure_task(task: str, path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The degraded input's row (same-size tasks) and one row per setting (NFE up to T)."""
    net = load_model(path)
    T = (net.irsde_config.get("sde") or {}).get("T", 100)
    variant = get_task(task).curve_variant
    cases = [degrade_case(n, g, task, args.seed, variant) for n, g in photos(args).items()]
    for c in cases:
        c.lq = quantize(c.lq)
    rows = []
    if all(c.lq.shape == c.gt.shape for c in cases):
        rows.append(row(task, "input", "", 0, [c.lq for c in cases], [c.gt for c in cases], args))
    seen = set()
    for sampler, spacing, nfe in SETTINGS:
        key = (sampler, spacing, min(nfe, T))
        if key in seen:
            continue
        seen.add(key)
        rows.append(measure_setting(net, task, cases, *key, args))
        print(f"[pd] {task} {sampler} {key[2]} done", file=sys.stderr)
    return [r | {"variant": variant} for r in rows]


def photos(args: argparse.Namespace) -> dict[str, np.ndarray]:
    return heldout_images(args.images, args.crop)


# ---------------------------------------------------------------------------- reporting
def label(r: dict[str, Any]) -> str:
    if r["sampler"] == "input":
        return "degraded input"
    mean = " (posterior-mean estimate)" if r["sampler"] == "posterior" and r["nfe"] == 1 else ""
    return f"{r['sampler']} {r['spacing']} {r['nfe']}{mean}"


def markdown(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        f"Command: `{command}`",
        "",
        "| task | setting (sampler spacing NFE) | PSNR-Y | SSIM-Y | SWD (x1e3, mean ± std over patch seeds) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {label(r)} | {r['psnr_y']:.2f} | {r['ssim_y']:.4f} "
            f"| {r['swd']:.1f} ± {r['swd_std']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per task: SWD against PSNR-Y, one marker per setting, NFE next to it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    cols = min(3, len(tasks))
    nrows = -(-len(tasks) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), squeeze=False)
    styles = {"posterior": "o-", "unipc": "s-", "sde": "^-", "input": "kx"}
    for ax, task in zip(axes.flat, tasks, strict=False):
        mine = [r for r in rows if r["task"] == task and r["sampler"] != "input"]
        for sampler in dict.fromkeys(r["sampler"] for r in mine):
            pts = sorted((r for r in mine if r["sampler"] == sampler), key=lambda r: r["nfe"])
            xs, ys = [r["psnr_y"] for r in pts], [r["swd"] for r in pts]
            ax.plot(xs, ys, styles.get(sampler, "d-"), label=f"{sampler} {pts[0]['spacing']}")
            for r in pts:
                ax.annotate(str(r["nfe"]), (r["psnr_y"], r["swd"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.set_title(f"{task} ({mine[0]['variant'] or 'default ranges'})" if mine else task)
        ax.set_xlabel("PSNR-Y (dB), higher = more faithful")
        ax.set_ylabel("SWD x1e3, lower = more realistic")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    fig.tight_layout()
    tmp = temp_file_beside(path)
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
        plt.close(fig)


def write_text(path: Path, text: str) -> None:
    """Atomic text write (temp file beside ``path``, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file_beside(path)
    try:
        Path(tmp).write_text(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if args.rows_from:
        rows = [r for f in args.rows_from for r in json.loads(f.read_text())["rows"]]
    else:
        for task, path in models(args).items():
            rows += measure_task(task, path, args)
    command = "python benchmarks/perception_distortion.py " + shlex.join(argv)
    text = markdown(rows, command)
    print(text)
    print(f"[pd] {time.perf_counter() - t0:.0f} s in all", file=sys.stderr)
    if args.md:
        write_text(args.md, text)
    if args.json:
        write_text(args.json, json.dumps({"argv": argv, "crop": args.crop, "rows": rows}, indent=2))
    if args.plot:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        plot(rows, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
