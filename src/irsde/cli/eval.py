"""``irsde eval``: PSNR / SSIM (and optionally LPIPS) of restored images against ground truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="PSNR/SSIM of restored images against ground truth",
        description="Match files of --pred and --gt by name (stem) and report per-image and "
        "mean PSNR and SSIM (paper conventions: 8-bit, float64 math). Each side is a "
        "folder or one image file (two files: one pair, whatever their names).",
    )
    p.add_argument(
        "--pred", required=True, type=Path, metavar="PATH", help="restored image(s): folder or file"
    )
    p.add_argument(
        "--gt", required=True, type=Path, metavar="PATH", help="ground truth: folder or file"
    )
    p.add_argument("--crop-border", type=int, default=0, metavar="N")
    p.add_argument("--y-channel", action="store_true", help="metrics on BT.601 luma (Y)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--csv", type=Path, metavar="FILE", help="write per-image results as CSV")
    p.add_argument("--grid", type=Path, metavar="DIR", help="write pred | gt | error images")
    p.add_argument("--lpips-weights", metavar="FILE", help="local LPIPS weights (adds LPIPS)")
    p.add_argument("--lpips-backbone", metavar="FILE", help="local AlexNet weights for LPIPS")
    p.add_argument(
        "--swd", action="store_true",
        help="add the sliced Wasserstein distance of Laplacian-pyramid patches over the set "
        "(a perceptual distance, no network; images >= 56 px a side)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_folders, format_table, write_csv, write_json

    report = evaluate_folders(
        args.pred,
        args.gt,
        crop_border=args.crop_border,
        y_channel=args.y_channel,
        lpips_weights=args.lpips_weights,
        lpips_backbone=args.lpips_backbone,
        grid=args.grid,
        swd=args.swd,
    )
    for line in report.unmatched:
        print(f"irsde eval: warning: {line}", file=sys.stderr)
    for line in report.errors:
        print(f"irsde eval: error: {line}", file=sys.stderr)
    if report.rows:
        print(format_table(report))
    if args.json:
        write_json(args.json, report)
    if args.csv:
        write_csv(args.csv, report)
    return 1 if report.errors else 0
