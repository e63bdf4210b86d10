"""A demonstration of the IR-SDE mathematics on a bundled photo.

The forward SDE drives a clean photo ``x0`` towards a degraded version ``mu``; the
reverse process, driven by the *oracle* score (computed from the known ``x0``), brings
it back. It shows the closed forms and the samplers at work without any trained network.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..io import (
    image_to_tensor,
    read_image,
    sample_images_dir,
    tensor_to_image,
    to_uint8,
    write_image,
)
from ..metrics import psnr, psnr_y
from ..samplers import DEFAULT_SAMPLER, sample
from ..sde import IRSDE

log = logging.getLogger(__name__)

#: the samplers the oracle demonstration runs; the first one's states are plotted
ORACLE_SAMPLERS: tuple[str, ...] = (DEFAULT_SAMPLER, "sde", "ode")


@dataclass
class OracleDemoResult:
    psnr_lq: float
    psnr_by_sampler: dict[str, float]
    figure: Path


def box_blur(x: torch.Tensor, size: int = 5) -> torch.Tensor:
    """A simple stand-in degradation: per-channel box blur with reflect padding."""
    c = x.shape[1]
    k = torch.full((c, 1, size, size), 1.0 / size**2, dtype=x.dtype)
    return F.conv2d(F.pad(x, [size // 2] * 4, mode="reflect"), k, groups=c)


def oracle_demo(
    out_dir: Path, image: Path | None = None, steps: int = 10, seed: int = 0
) -> OracleDemoResult:
    """Degrade ``image`` with the forward SDE, restore it with the oracle score, plot the states."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = image or sample_images_dir() / "astronaut.png"
    x0 = image_to_tensor(read_image(image))
    mu = box_blur(x0)
    sde = IRSDE(max_sigma=10, T=100)
    gen = torch.Generator().manual_seed(seed)
    oracle = lambda x, m, t: sde.noise_from_x0(x, x0, m, t)  # noqa: E731

    forward_ts = [0, 25, 50, 75, 100]
    noise = torch.randn(x0.shape, generator=gen)
    forward = [x0 if t == 0 else sde.q_sample(x0, mu, t, noise) for t in forward_ts]

    trajectory: list[tuple[int, torch.Tensor]] = []
    restored = {}
    shown = ORACLE_SAMPLERS[0]
    for name in ORACLE_SAMPLERS:
        cb = (lambda st: trajectory.append((st["s"], st["x"]))) if name == shown else None
        restored[name] = sample(
            oracle, sde, mu, name, steps, generator=torch.Generator().manual_seed(seed), callback=cb
        )

    def to8(x: torch.Tensor) -> np.ndarray:
        return to_uint8(tensor_to_image(x))

    gt8 = to8(x0)
    scores = {k: psnr(to8(v), gt8) for k, v in restored.items()}
    psnr_lq = psnr(to8(mu), gt8)

    out_dir.mkdir(parents=True, exist_ok=True)
    write_image(out_dir / "oracle_lq.png", to8(mu))
    write_image(out_dir / "oracle_restored.png", to8(restored[shown]))

    picks = [*trajectory[:: max(1, len(trajectory) // 4)][:4], trajectory[-1]]
    fig, axes = plt.subplots(2, 5, figsize=(15, 6.4))
    for ax, t, x in zip(axes[0], forward_ts, forward, strict=True):
        ax.imshow(to8(x))
        ax.set_title("x0 (clean)" if t == 0 else f"forward x_{t}")
    for ax, (s, x) in zip(axes[1], picks, strict=True):
        ax.imshow(to8(x))
        ax.set_title(f"reverse x_{s}" + (f"  PSNR {scores[shown]:.1f} dB" if s == 0 else ""))
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(
        f"IR-SDE with the oracle score: mu = box blur (PSNR {psnr_lq:.2f} dB), "
        f"{steps}-step {shown} sampler; lam = {sde.lam:.4f}, T = {sde.T}"
    )
    fig.tight_layout()
    figure = out_dir / "oracle_demo.png"
    fig.savefig(figure, dpi=80)
    plt.close(fig)
    return OracleDemoResult(psnr_lq, scores, figure)


@dataclass
class TaskDemoResult:
    task: str
    psnr_input: float
    psnr_output: float
    figure: Path


#: fixed degradation settings of the demo, per task (milder than the random training ranges)
DEMO_PARAMS: dict[str, dict] = {
    "denoise": {"sigma": 25},
    "deblur": {"kind": "gaussian", "blur_sigma": 2.0, "noise_sigma": 1.0},
}


def embedded_demo(
    out_dir: Path,
    tasks: list[str] | None = None,
    samples: int = 3,
    seed: int = 0,
    progress=None,
) -> list[TaskDemoResult]:
    """Degrade the bundled photos per task, restore them with the embedded models, plot.

    Per task: restored images in ``out_dir/<task>/`` and a figure ``out_dir/<task>.png``
    with input / restored / ground truth / uncertainty (std over ``samples`` draws).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..degrade import synthesize
    from ..restore import Restorer
    from ..weights import available_models

    entries = {e.task: e for e in available_models()}
    tasks = [t for t in (tasks or list(entries)) if t in entries]
    photos = sorted(sample_images_dir().glob("*.png"))
    results = []
    for task in tasks:
        restorer = Restorer(entries[task].path, samples=samples, seed=seed, task=task)
        rows = []
        for k, photo in enumerate(photos):
            gt = read_image(photo)
            deg = synthesize(
                gt, task, np.random.default_rng([seed, k]), **DEMO_PARAMS.get(task, {})
            )
            given = deg.restore_input
            ((out, std),) = restorer.restore_rgb([given], [deg.mask])
            write_image(out_dir / task / photo.name, out)
            write_image(out_dir / task / f"{photo.stem}_input.png", given)
            rows.append((photo.stem, given, deg.mu, out, gt, std))
            if progress is not None:
                progress(task, photo.stem)
        p_in = float(np.mean([psnr_y(to_uint8(r[2]), to_uint8(r[4])) for r in rows]))
        p_out = float(np.mean([psnr_y(to_uint8(r[3]), to_uint8(r[4])) for r in rows]))
        fig, axes = plt.subplots(len(rows), 4, figsize=(13, 3.3 * len(rows)), squeeze=False)
        for ax_row, (name, given, mu, out, gt, std) in zip(axes, rows, strict=True):
            panels = [
                (given, f"{name}: input {given.shape[1]}x{given.shape[0]}"),
                (out, f"restored  PSNR-Y {psnr_y(to_uint8(out), to_uint8(gt)):.2f} dB"),
                (gt, f"ground truth (input {psnr_y(to_uint8(mu), to_uint8(gt)):.2f} dB)"),
            ]
            for ax, (img, title) in zip(ax_row, panels, strict=False):
                ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
                ax.set_title(title, fontsize=9)
            if std is not None:
                im = ax_row[3].imshow(std, cmap="magma")
                fig.colorbar(im, ax=ax_row[3], fraction=0.046)
                ax_row[3].set_title(f"uncertainty: std of {samples} samples", fontsize=9)
            for ax in ax_row:
                ax.axis("off")
        fig.suptitle(
            f"irsde embedded model '{task}': mean PSNR-Y (crop 4) {p_in:.2f} -> {p_out:.2f} dB"
        )
        fig.tight_layout()
        figure = out_dir / f"{task}.png"
        fig.savefig(figure, dpi=72)
        plt.close(fig)
        results.append(TaskDemoResult(task, p_in, p_out, figure))
    return results
