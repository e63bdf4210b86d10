"""Scoring restored images against ground truth folders (what ``irsde eval`` reports).

Files of the two folders are paired by name (stem); each pair is scored with PSNR/SSIM
(:mod:`irsde.metrics`, 8-bit, float64 math) and optionally LPIPS. A bad or mismatched
file is one error line and the other pairs are still scored. :func:`summary` gives the
means (PSNR of identical pairs, ``inf``, is counted apart); the report can be written as
an aligned table, JSON, CSV, and ``pred | gt | error`` grids.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, UsageError
from .io import list_images, load_image, save_image, to_uint8


@dataclass
class Row:
    """The scores of one image."""

    name: str
    psnr: float
    ssim: float
    lpips: float | None = None


@dataclass
class Report:
    """Scores of the matched pairs, one line per bad file and per unmatched name."""

    crop_border: int = 0
    y_channel: bool = False
    rows: list[Row] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    #: the set-level sliced Wasserstein distance (``swd=True``), :class:`irsde.metrics.SWD`
    swd: Any = None

    @property
    def has_lpips(self) -> bool:
        return bool(self.rows) and self.rows[0].lpips is not None


# ---------------------------------------------------------------------------- scoring
def _by_stem(path: Path, what: str, skip_std: bool = False) -> dict[str, Path]:
    """The images of a folder (or the one file ``path``) by stem; two files of one stem
    (``dup.png``, ``dup.jpg``) are a :class:`UsageError` naming both, never a silent pick."""
    if path.is_file():
        return {path.stem: path}
    if not path.is_dir():
        raise UsageError(f"{what} {path}: no such file or folder")
    found = list_images(path, include_non_files=True)
    by_stem: dict[str, Path] = {}
    for p in found:
        if skip_std and p.stem.endswith("_std"):
            continue
        if p.stem in by_stem:
            raise UsageError(
                f"{what} {path}: {by_stem[p.stem].name} and {p.name} share the name "
                f"{p.stem!r}; keep one"
            )
        by_stem[p.stem] = p
    return by_stem


def match_by_stem(pred_dir: Path, gt_dir: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """Pairs ``(stem, pred, gt)`` sorted by stem, and one line per unmatched name.

    Either side may be a folder or one image file; two files are one pair whatever
    their names. Uncertainty maps (``*_std``) among the predictions are left out.
    """
    if pred_dir.is_file() and gt_dir.is_file():
        return [(pred_dir.stem, pred_dir, gt_dir)], []
    preds = _by_stem(pred_dir, "--pred", skip_std=True)
    gts = _by_stem(gt_dir, "--gt")
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


def read_uint8(path: Path) -> np.ndarray:
    """An image file as 8-bit RGB (what the metrics score)."""
    return to_uint8(load_image(path).rgb())


def evaluate_folders(
    pred_dir: Path,
    gt_dir: Path,
    *,
    crop_border: int = 0,
    y_channel: bool = False,
    lpips_weights: str | None = None,
    lpips_backbone: str | None = None,
    grid: Path | None = None,
    swd: bool = False,
) -> Report:
    """Score every pair of ``pred_dir`` and ``gt_dir``; bad files are reported and skipped.

    ``grid`` names a folder for ``pred | gt | error`` images; LPIPS is added when
    ``lpips_weights`` is given (local files only); ``swd`` adds the sliced Wasserstein
    distance of the two sets (:func:`irsde.metrics.swd`, seed 0).
    """
    if crop_border < 0:
        raise UsageError("--crop-border must be >= 0")
    if lpips_weights:
        check_lpips(lpips_weights, lpips_backbone)
    pairs, unmatched = match_by_stem(Path(pred_dir), Path(gt_dir))
    if not pairs:
        raise UsageError(f"no file names in common between {pred_dir} and {gt_dir}")
    report = Report(crop_border, y_channel, unmatched=unmatched)
    descriptors: list[tuple[list, list]] | None = [] if swd else None
    for stem, pred_path, gt_path in pairs:
        try:
            args = (lpips_weights, lpips_backbone, grid, descriptors)
            report.rows.append(_score_pair(stem, pred_path, gt_path, report, *args))
        except InputError as err:
            report.errors.append(str(err))
        except ValueError as err:
            report.errors.append(f"{pred_path}: {err}")
    if descriptors:
        from .metrics import swd_from_descriptors

        report.swd = swd_from_descriptors([d[0] for d in descriptors], [d[1] for d in descriptors])
    return report


def _score_pair(
    stem: str,
    pred_path: Path,
    gt_path: Path,
    report: Report,
    lpips_weights: str | None,
    lpips_backbone: str | None,
    grid: Path | None,
    descriptors: list[tuple[list, list]] | None = None,
) -> Row:
    from .metrics import lpips, patch_descriptors, psnr, ssim

    pred, gt = read_uint8(pred_path), read_uint8(gt_path)
    if pred.shape != gt.shape:
        raise InputError(
            f"{pred_path}: size {pred.shape[1]}x{pred.shape[0]} differs from "
            f"{gt_path} ({gt.shape[1]}x{gt.shape[0]})"
        )
    kw = {"crop_border": report.crop_border, "y_channel": report.y_channel}
    row = Row(stem, psnr(pred, gt, **kw), ssim(pred, gt, **kw))
    if lpips_weights:
        row.lpips = lpips(pred, gt, lpips_weights, lpips_backbone)
    if grid is not None:
        write_grid(Path(grid) / f"{stem}.png", pred, gt)
    if descriptors is not None:  # the same patch positions in both images, as metrics.swd
        try:
            pair = tuple(
                patch_descriptors(im, np.random.default_rng([0, 0, len(descriptors)]))
                for im in (pred, gt)
            )
            descriptors.append(pair)
        except ValueError as err:
            report.errors.append(f"{pred_path}: SWD: {err}; left out of the SWD")
    return row


def check_lpips(weights: str, backbone: str | None = None) -> None:
    """Load the LPIPS files once; a :class:`UsageError` when they are unusable."""
    from .metrics import LPIPSAlex

    try:
        LPIPSAlex.from_files(weights, backbone)
    except (FileNotFoundError, ValueError, OSError, RuntimeError) as err:
        raise UsageError(f"LPIPS: {err}") from None


def write_grid(path: Path, pred: np.ndarray, gt: np.ndarray) -> None:
    """``pred | gt | |pred - gt|`` side by side (error as a heat map scaled to its max)."""
    from .restore import colorize

    err = np.abs(pred.astype(np.float32) - gt.astype(np.float32)).mean(axis=2)
    gap = np.full((pred.shape[0], 4, 3), 255, dtype=np.uint8)
    save_image(path, np.concatenate([pred, gap, gt, gap, colorize(err)], axis=1), overwrite=True)


# ---------------------------------------------------------------------------- summaries
def _mean(values: list[float]) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else None


def _json_value(v: float | None) -> float | str | None:
    return "inf" if v is not None and math.isinf(v) else v


def summary(report: Report) -> dict[str, Any]:
    """Means over images; PSNR of identical pairs (inf) is left out of the mean and counted."""
    rows = report.rows
    out: dict[str, Any] = {
        "count": len(rows),
        "psnr": _json_value(_mean([r.psnr for r in rows])),
        "psnr_inf_count": sum(math.isinf(r.psnr) for r in rows),
        "ssim": _mean([r.ssim for r in rows]),
    }
    if report.has_lpips:
        out["lpips"] = _mean([r.lpips for r in rows if r.lpips is not None])
    if report.swd is not None:
        out["swd"] = report.swd.mean
        out["swd_levels"] = list(report.swd.levels)
    return out


def _fmt(v: float | str | None, digits: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, str) or math.isinf(v):
        return "inf"
    return f"{v:.{digits}f}"


def format_table(report: Report) -> str:
    """Plain aligned text: one line per image, then the mean."""
    lpips_col = report.has_lpips
    head = ["image", "PSNR (dB)", "SSIM"] + (["LPIPS"] if lpips_col else [])
    lines = [
        [r.name, _fmt(r.psnr, 2), _fmt(r.ssim, 4)] + ([_fmt(r.lpips, 4)] if lpips_col else [])
        for r in report.rows
    ]
    s = summary(report)
    mean = [f"mean ({s['count']})", _fmt(s["psnr"], 2), _fmt(s["ssim"], 4)]
    if lpips_col:
        mean.append(_fmt(s.get("lpips"), 4))
    widths = [max(len(x[i]) for x in [head, *lines, mean]) for i in range(len(head))]

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)])

    rule = "-" * len(fmt(head))
    text = [fmt(head), rule, *map(fmt, lines), rule, fmt(mean)]
    if s["psnr_inf_count"]:
        text.append(f"({s['psnr_inf_count']} identical image(s): PSNR inf, left out of the mean)")
    if report.swd is not None:
        bands = ", ".join(f"{v:.1f}" for v in report.swd.levels)
        text.append(
            f"SWD x1e3 over the set: {report.swd.mean:.2f} (levels fine to coarse: {bands})"
        )
    return "\n".join(text)


def _row_json(r: Row) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.name, "psnr": _json_value(r.psnr), "ssim": r.ssim}
    if r.lpips is not None:
        out["lpips"] = r.lpips
    return out


def report_json(report: Report) -> dict[str, Any]:
    """The report as JSON data: settings, mean, per-image rows, errors, unmatched names."""
    return {
        "settings": {"crop_border": report.crop_border, "y_channel": report.y_channel},
        "mean": summary(report),
        "images": [_row_json(r) for r in report.rows],
        "errors": report.errors,
        "unmatched": report.unmatched,
    }


def write_json(path: Path, report: Report) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_json(report), indent=2, allow_nan=False) + "\n")


def write_csv(path: Path, report: Report) -> None:
    """One line per image: name, psnr, ssim (and lpips)."""
    lpips_col = report.has_lpips
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "psnr", "ssim"] + (["lpips"] if lpips_col else []))
        for r in report.rows:
            w.writerow(
                [r.name, _fmt(r.psnr, 6), _fmt(r.ssim, 6)]
                + ([_fmt(r.lpips, 6)] if lpips_col else [])
            )
