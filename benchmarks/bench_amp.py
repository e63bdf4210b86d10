"""Full precision versus bf16 autocast: quality and time of the embedded models.

Each task's held-out photos (the bundled samples) are degraded as in
``benchmarks/quality.py`` (fixed seeds; denoise at sigma 25 unless ``--variant``) and
restored with the model's default sampler, once in float32 and once under
``torch.autocast(dtype=bfloat16)`` (``Restorer(amp="bf16")``), without self-ensemble.
Prints PSNR-Y (crop 4) and the summed restore time per setting.

    .venv/bin/python benchmarks/bench_amp.py --threads 2 [--device cpu] [--json amp.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from irsde.apps.bench import degrade_case, quantize
from irsde.io import list_images, read_image, sample_images_dir, to_uint8
from irsde.metrics import psnr_y
from irsde.restore import Restorer
from irsde.tasks import TASKS, get_task
from irsde.weights import default_model_path


def measure(task: str, variant: str, amp: str | None, device: str) -> dict:
    r = Restorer(default_model_path(task), sampler=None, device=device, amp=amp, ensemble=1)
    values, seconds = [], 0.0
    for path in list_images(sample_images_dir()):
        gt = read_image(path)
        case = degrade_case(path.stem, gt, task, 0, variant)
        r.restore_rgb([quantize(case.lq)], [case.mask])  # warm-up (allocations, oneDNN)
        t0 = time.perf_counter()
        ((out, _),) = r.restore_rgb([quantize(case.lq)], [case.mask])
        seconds += time.perf_counter() - t0
        values.append(psnr_y(to_uint8(out), to_uint8(gt)))
    return {"psnr_y": float(np.mean(values)), "seconds": seconds}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    p.add_argument("--variant", default=None, help="e.g. sigma15 (denoise); default: per task")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(f"device {args.device}, {torch.get_num_threads()} thread(s), torch {torch.__version__}")
    print("| task | degradation | fp32 PSNR-Y | bf16 PSNR-Y | fp32 time | bf16 time |")
    print("|---|---|---|---|---|---|")
    for task in args.tasks:
        variant = args.variant or get_task(task).curve_variant
        get_task(task).variant_settings(variant)  # a one-line error for an unknown one
        full = measure(task, variant, None, args.device)
        half = measure(task, variant, "bf16", args.device)
        rows.append({"task": task, "variant": variant, "fp32": full, "bf16": half})
        print(
            f"| {task} | {variant or 'default ranges'} | {full['psnr_y']:.3f} | "
            f"{half['psnr_y']:.3f} | {full['seconds']:.2f} s | {half['seconds']:.2f} s |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
