"""One universal model against task-specific models on the held-out photos.

Runs ``benchmarks/quality.py`` (no classical baselines) for every task of the universal
model, once with the universal model and once with that task's own model, all with the
same sampler, and writes a Markdown table (``--md``, default docs/universal.md).

    python benchmarks/universal.py runs/universal-3/final.safetensors \\
        --specific derain=runs/embedded-derain/final.safetensors \\
        dehaze=runs/embedded-dehaze/final.safetensors deblur=runs/embedded-deblur/final.safetensors
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import quality

from irsde.models import load_model
from irsde.samplers import DEFAULT_SAMPLER


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("universal", type=Path, help="the universal model file")
    p.add_argument("--specific", nargs="+", required=True, metavar="TASK=FILE")
    p.add_argument("--sampler", default=DEFAULT_SAMPLER)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--images", type=Path, help="held-out photos (default: the bundled samples)")
    p.add_argument("--md", type=Path, default=Path("docs/universal.md"))
    p.add_argument("--json", type=Path, help="also write the rows as JSON")
    p.add_argument("--about", default="", help="a paragraph on how the models were trained")
    return p.parse_args(argv)


def rows_for(task: str, model: Path, args: argparse.Namespace, out: Path) -> list[dict]:
    """quality.py's rows for one model on one task (input rows included)."""
    js = out / "rows.json"
    argv = ["--tasks", task, "--model", str(model), "--no-classical", "--md", str(out / "q.md")]
    argv += ["--sampler", args.sampler, "--steps", str(args.steps), "--out", str(out)]
    argv += ["--json", str(js), "--seeds", *map(str, args.seeds)]
    argv += ["--images", str(args.images)] if args.images else []
    quality.main(argv)
    return json.loads(js.read_text())["rows"]


def steps_of(model: Path) -> int:
    return int((load_model(model).irsde_config.get("provenance") or {}).get("trained_steps", 0))


def difference_summary(table: list[dict]) -> str:
    """``derain +0.12 dB, deblur (motion) -0.30 dB``: universal minus task-specific."""
    score = {(r["task"], r["degradation"], r["model"]): r["psnr_y"] for r in table}
    parts = []
    for task, deg, model in score:
        if model == "universal":
            diff = score[(task, deg, "universal")] - score[(task, deg, "task-specific")]
            name = task if deg == "default ranges" else f"{task} ({deg})"
            parts.append(f"{name} {diff:+.2f} dB")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    specific = dict(item.split("=", 1) for item in args.specific)
    universal_tasks = load_model(args.universal).irsde_config.get("task")
    if not isinstance(universal_tasks, list) or set(specific) - set(universal_tasks):
        raise SystemExit(f"{args.universal}: not a universal model for {', '.join(specific)}")
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for task, path in specific.items():
            for label, model in (("universal", args.universal), ("task-specific", Path(path))):
                rows = rows_for(task, model, args, Path(tmp) / task / label)
                for r in rows:
                    r["model"] = "input" if r["method"] == "input" else label
                table += [r for r in rows if r["model"] != "input" or label == "universal"]
    lines = [
        "# One universal model or one model per task",
        "",
        f"Universal model: `{args.universal}` ({', '.join(universal_tasks)}; "
        f"{steps_of(args.universal)} steps). Task-specific models: "
        + ", ".join(f"`{p}` ({steps_of(Path(p))} steps)" for p in specific.values())
        + f". Sampler: {args.sampler}, {args.steps} steps, no self-ensemble. Held-out photos "
        f"degraded once per seed {', '.join(map(str, args.seeds))}; PSNR/SSIM on Y with a "
        "4-pixel crop and on RGB.",
        "",
        *([args.about, ""] if args.about else []),
        f"Command: `python benchmarks/universal.py {shlex.join(argv)}`",
        "",
        "| task | degradation | model | PSNR-Y | SSIM-Y | PSNR-RGB | SSIM-RGB |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(
            f"| {r['task']} | {r['degradation']} | {r['model']} | {r['psnr_y']:.2f} "
            f"| {r['ssim_y']:.4f} | {r['psnr_rgb']:.2f} | {r['ssim_rgb']:.4f} |"
        )
    lines += ["", "Universal minus task-specific, PSNR-Y: " + difference_summary(table) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
