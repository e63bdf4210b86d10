"""Run visibility: ``metrics.csv``, TensorBoard scalars and images, a PNG of the curves."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

CSV_FIELDS = (
    "step",
    "epoch",
    "loss",
    "lr",
    "grad_norm",
    "nonfinite",
    "steps_per_s",
    "val_psnr",
    "val_ssim",
    #: PSNR-Y, 4-pixel border (irsde.metrics.psnr_y): chooses best.safetensors
    "val_psnr_y",
)


class RunLog:
    """Appends rows to ``metrics.csv`` and mirrors them to TensorBoard when available."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        self.csv_path = run_dir / "metrics.csv"
        if resume_step is not None:
            self._truncate_after(resume_step)
        new = not self.csv_path.exists()
        self._file = self.csv_path.open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._file, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if new:
            self._csv.writeheader()
        self._tb = _summary_writer(run_dir / "tb")

    def _truncate_after(self, step: int) -> None:
        """Drop rows logged after the checkpoint being resumed (a killed run wrote them)."""
        if not self.csv_path.exists():
            return
        with self.csv_path.open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
        tmp = self.csv_path.with_name(f".{self.csv_path.name}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:  # atomic: a kill keeps the log
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, self.csv_path)

    def scalars(self, step: int, values: dict[str, Any]) -> None:
        try:
            self._csv.writerow({"step": step, **values})
            self._file.flush()
        except OSError as err:  # full disk: say which file, keep the checkpoints
            err.filename = err.filename or str(self.csv_path)
            raise
        if self._tb is not None:
            for key, v in values.items():
                if isinstance(v, int | float) and key not in ("step", "epoch"):
                    self._tb.add_scalar(
                        f"{'val' if key.startswith('val_') else 'train'}/{key}", v, step
                    )

    def images(self, step: int, tag: str, grid: torch.Tensor) -> None:
        """A ``(3, H, W)`` image in [0, 1] (e.g. LQ | restored | GT side by side)."""
        if self._tb is not None:
            self._tb.add_image(tag, grid.clamp(0, 1), step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def _summary_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        log.warning(
            "tensorboard is not installed (pip install 'irsde[train]'): no TensorBoard logs"
        )
        return None
    return SummaryWriter(str(folder))


def plot_curves(csv_path: Path, out_png: Path) -> Path | None:
    """Loss, learning rate and validation PSNR against steps, as one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no curves plot")
        return None
    with csv_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))

    def series(key: str) -> tuple[list[int], list[float]]:
        pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, key, title in zip(
        axes,
        ("loss", "lr", "val_psnr_y"),
        ("training loss", "learning rate", "validation PSNR-Y (dB)"),
        strict=True,
    ):
        xs, ys = series(key)
        ax.plot(xs, ys, marker="o" if key == "val_psnr_y" else None, markersize=3)
        ax.set_title(title)
        ax.set_xlabel("step")
        if key == "loss" and ys and min(ys) > 0:
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(out_png, dpi=90)
    plt.close(fig)
    return out_png
