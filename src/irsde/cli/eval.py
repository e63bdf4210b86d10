"""``irsde eval``: PSNR / SSIM (and optionally LPIPS) of restored images against ground truth."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..io import list_images, load_image, save_image, to_uint8


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="PSNR/SSIM of restored images against ground truth",
        description="Match files of --pred and --gt by name (stem) and report per-image and "
        "mean PSNR and SSIM (paper conventions: 8-bit, float64 math).",
    )
    p.add_argument("--pred", required=True, type=Path, metavar="DIR", help="restored images")
    p.add_argument("--gt", required=True, type=Path, metavar="DIR", help="ground-truth images")
    p.add_argument("--crop-border", type=int, default=0, metavar="N")
    p.add_argument("--y-channel", action="store_true", help="metrics on BT.601 luma (Y)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write per-image results as CSV")
    p.add_argument("--grid", type=Path, metavar="DIR", help="write pred | gt | error images")
    p.add_argument("--lpips-weights", metavar="FILE", help="local LPIPS weights (adds LPIPS)")
    p.add_argument("--lpips-backbone", metavar="FILE", help="local AlexNet weights for LPIPS")
    p.set_defaults(func=run)


@dataclass
class Row:
    name: str
    psnr: float
    ssim: float
    lpips: float | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def match_by_stem(pred_dir: Path, gt_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Pairs ``(stem, pred, gt)`` sorted by stem, and one line per unmatched name."""
    for d, what in ((pred_dir, "--pred"), (gt_dir, "--gt")):
        if not d.is_dir():
            raise UsageError(f"{what} {d}: not a folder")
    preds = {p.stem: p for p in list_images(pred_dir) if not p.stem.endswith("_std")}
    gts = {p.stem: p for p in list_images(gt_dir)}
    pairs = [(s, preds[s], gts[s]) for s in sorted(preds.keys() & gts.keys())]
    notes = [
        f"{preds[s]}: no ground truth named {s}.* in {gt_dir}"
        for s in sorted(preds.keys() - gts.keys())
    ]
    notes += [
        f"{gts[s]}: no prediction named {s}.* in {pred_dir}"
        for s in sorted(gts.keys() - preds.keys())
    ]
    return pairs, notes


def _as_uint8(path: Path) -> np.ndarray:
    return to_uint8(load_image(path).rgb())


def evaluate(args: argparse.Namespace) -> tuple[Report, list[str]]:
    """Compute the metrics of every matched pair; bad files are reported and skipped."""
    from ..metrics import lpips, psnr, ssim

    pairs, unmatched = match_by_stem(args.pred, args.gt)
    if not pairs:
        raise UsageError(f"no file names in common between {args.pred} and {args.gt}")
    report = Report()
    for stem, pred_path, gt_path in pairs:
        try:
            pred, gt = _as_uint8(pred_path), _as_uint8(gt_path)
            if pred.shape != gt.shape:
                raise InputError(
                    f"{pred_path}: size {pred.shape[1]}x{pred.shape[0]} differs from "
                    f"{gt_path} ({gt.shape[1]}x{gt.shape[0]})"
                )
            kw = {"crop_border": args.crop_border, "y_channel": args.y_channel}
            row = Row(stem, psnr(pred, gt, **kw), ssim(pred, gt, **kw))
            if args.lpips_weights:
                row.lpips = lpips(pred, gt, args.lpips_weights, args.lpips_backbone)
            if args.grid:
                _write_grid(args.grid / f"{stem}.png", pred, gt)
        except InputError as err:
            report.errors.append(str(err))
            continue
        except ValueError as err:
            report.errors.append(f"{pred_path}: {err}")
            continue
        report.rows.append(row)
    return report, unmatched


def _write_grid(path: Path, pred: np.ndarray, gt: np.ndarray) -> None:
    """``pred | gt | |pred - gt|`` side by side (error as a heat map scaled to its max)."""
    from ..restore import colorize

    err = np.abs(pred.astype(np.float32) - gt.astype(np.float32)).mean(axis=2)
    gap = np.full((pred.shape[0], 4, 3), 255, dtype=np.uint8)
    save_image(path, np.concatenate([pred, gap, gt, gap, colorize(err)], axis=1), overwrite=True)


def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def summary(report: Report) -> dict:
    """Means over images; PSNR of identical pairs (inf) is left out of the mean and counted."""
    rows = report.rows
    out = {
        "count": len(rows),
        "psnr": _mean([r.psnr for r in rows]),
        "psnr_inf_count": sum(math.isinf(r.psnr) for r in rows),
        "ssim": _mean([r.ssim for r in rows]),
    }
    if rows and rows[0].lpips is not None:
        out["lpips"] = _mean([r.lpips for r in rows if r.lpips is not None])
    out["psnr"] = _json_value(out["psnr"])
    return out


def _fmt(v: float | None, digits: int) -> str:
    if v is None:
        return "-"
    return "inf" if math.isinf(v) else f"{v:.{digits}f}"


def format_table(report: Report) -> str:
    """Plain aligned text: one line per image, then the mean."""
    has_lpips = bool(report.rows) and report.rows[0].lpips is not None
    head = ["image", "PSNR (dB)", "SSIM"] + (["LPIPS"] if has_lpips else [])
    lines = [
        [r.name, _fmt(r.psnr, 2), _fmt(r.ssim, 4)] + ([_fmt(r.lpips, 4)] if has_lpips else [])
        for r in report.rows
    ]
    s = summary(report)
    mean = [f"mean ({s['count']})", _fmt(s["psnr"], 2), _fmt(s["ssim"], 4)]
    if has_lpips:
        mean.append(_fmt(s.get("lpips"), 4))
    widths = [max(len(x[i]) for x in [head, *lines, mean]) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)])

    rule = "-" * len(fmt(head))
    text = [fmt(head), rule, *map(fmt, lines), rule, fmt(mean)]
    if s["psnr_inf_count"]:
        text.append(f"({s['psnr_inf_count']} identical image(s): PSNR inf, left out of the mean)")
    return "\n".join(text)


def _json_value(v: float | None) -> float | str | None:
    return "inf" if v is not None and math.isinf(v) else v


def _row_json(r: Row) -> dict:
    out = {"name": r.name, "psnr": _json_value(r.psnr), "ssim": r.ssim}
    if r.lpips is not None:
        out["lpips"] = r.lpips
    return out


def write_json(path: Path, report: Report, args: argparse.Namespace, unmatched: list[str]) -> None:
    data = {
        "settings": {"crop_border": args.crop_border, "y_channel": args.y_channel},
        "mean": summary(report),
        "images": [_row_json(r) for r in report.rows],
        "errors": report.errors,
        "unmatched": unmatched,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, report: Report) -> None:
    has_lpips = bool(report.rows) and report.rows[0].lpips is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "psnr", "ssim"] + (["lpips"] if has_lpips else []))
        for r in report.rows:
            w.writerow(
                [r.name, _fmt(r.psnr, 6), _fmt(r.ssim, 6)]
                + ([_fmt(r.lpips, 6)] if has_lpips else [])
            )


def run(args: argparse.Namespace) -> int:
    if args.crop_border < 0:
        raise UsageError("--crop-border must be >= 0")
    if args.lpips_weights:
        from ..metrics import LPIPSAlex

        try:
            LPIPSAlex.from_files(args.lpips_weights, args.lpips_backbone)
        except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
            raise UsageError(f"LPIPS: {err}") from None
    report, unmatched = evaluate(args)
    for line in unmatched:
        print(f"irsde eval: warning: {line}", file=sys.stderr)
    for line in report.errors:
        print(f"irsde eval: error: {line}", file=sys.stderr)
    if report.rows:
        print(format_table(report))
    if args.json:
        write_json(args.json, report, args, unmatched)
    if args.csv:
        write_csv(args.csv, report)
    return 1 if report.errors else 0
