"""Speed, memory, sampler overhead and NFE-vs-quality measurements (``irsde bench``).

Everything is deterministic given the seed: held-out photos are degraded with
generators seeded by ``(seed, file name)`` (as ``irsde degrade`` does) and restored
through :class:`irsde.restore.Restorer`, whose per-image noise streams are seeded too.

- :func:`time_forward`: median seconds per network evaluation (NFE).
- :func:`time_restore`: seconds per image through the Restorer for a sampler setting.
- :func:`peak_memory`: extra peak memory of one restore, in a fresh subprocess
  (``ru_maxrss`` growth on CPU, ``max_memory_allocated`` on CUDA).
- :func:`sampler_overhead`: a sampler run with a zero-cost network vs the real one.
- :func:`nfe_curve`: PSNR/SSIM against NFE per sampler and timestep spacing.
- :func:`exact_posterior` (``--posterior``, off by default): the exact-posterior sampler
  benchmark (:mod:`irsde.apps.posterior`) on its quick settings, model-free.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import UsageError
from ..samplers import DEFAULT_SAMPLER, SPACINGS
from ..sde import DEFAULT_SPACING

if TYPE_CHECKING:
    from .posterior import Settings as PosteriorSettings

NFES: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50, 100)
#: the sampler of the T-step reference timing and quality (the reference loop)
REFERENCE_SAMPLER = DEFAULT_SAMPLER  # the reference loop at steps = T
#: the samplers measured unless told otherwise (any of ``irsde.samplers.SAMPLERS``)
CURVE_SAMPLERS: tuple[str, ...] = (REFERENCE_SAMPLER, "ode", "sde")
#: the tolerance used to call a few-step setting "as good as the reference"
REFERENCE_TOLERANCE_DB = 0.1
#: the exact-posterior section's spacings and NFE (its other settings: the quick ones)
POSTERIOR_SPACINGS: tuple[str, ...] = ("uniform", "tuned")
POSTERIOR_NFES: tuple[int, ...] = (1, 3, 5, 10, 100)


# ---------------------------------------------------------------------------- setup
def environment(device: torch.device) -> dict[str, Any]:
    """Device, threads and versions the figures were measured with."""
    from .. import __version__

    info: dict[str, Any] = {
        "device": str(device),
        "device_name": _device_name(device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "irsde": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda if device.type == "cuda" else None,
    }
    return info


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def find_models(
    paths: Sequence[str | os.PathLike] | None = None,
    model_dir: str | os.PathLike | None = None,
    tasks: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Model files by task: explicit ``paths``, a ``model_dir``, else the embedded ones.

    ``model_dir`` holding ``embedded-<task>/`` run folders gives each run's
    ``final.safetensors`` (else ``best.safetensors``); otherwise its ``*.safetensors``.
    """
    from ..weights import available_models

    if paths:
        pairs = [_task_of(Path(p)) for p in paths]
    elif model_dir is not None:
        pairs = _models_in(Path(model_dir))
    else:
        pairs = [(e.task, e.path) for e in available_models()]
    found: dict[str, Path] = {}
    for task, f in pairs:
        if isinstance(task, list):
            raise UsageError(f"{f}: a universal model ({', '.join(task)}); bench one-task models")
        found.setdefault(task, f)
    if tasks:
        missing = [t for t in tasks if t not in found]
        if missing:
            raise UsageError(
                f"no model for task(s) {', '.join(missing)} among {len(pairs)} file(s)"
            )
        found = {t: found[t] for t in tasks}
    if not found:
        raise UsageError("no models found; pass --model-dir runs or --models FILE...")
    return found


def _task_of(path: Path) -> tuple[str | list[str], Path]:
    """The task a model file (``.safetensors`` or reference ``.pth``) records, else its stem."""
    from ..models import load_model

    if not path.is_file():
        raise UsageError(f"{path}: no such model file")
    return (load_model(path).irsde_config.get("task") or path.stem), path


def _models_in(folder: Path) -> list[tuple[str | list[str], Path]]:
    """``embedded-<task>/`` runs' ``final`` (else ``best``) files, else the folder's models."""
    from ..weights import available_models

    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    runs = sorted(p for p in folder.glob("embedded-*") if p.is_dir())
    if not runs:
        return [(e.task, e.path) for e in available_models(folder)]
    picks = [r / "final.safetensors" for r in runs]
    picks = [p if p.is_file() else p.with_name("best.safetensors") for p in picks]
    return [_task_of(p) for p in picks if p.is_file()]


def model_info(net: nn.Module, path: Path) -> dict[str, Any]:
    """What a figure was measured with: file, parameters, SDE, recommended sampler, step."""
    cfg = getattr(net, "irsde_config", {}) or {}
    prov = cfg.get("provenance") or {}
    return {
        "path": str(path),
        "arch": cfg.get("arch"),
        "params": sum(p.numel() for p in net.parameters()),
        "sde": cfg.get("sde"),
        "sampler": cfg.get("sampler"),
        "trained_steps": prov.get("trained_steps"),
        "exported_at": prov.get("exported_at") or prov.get("created"),
    }


# ---------------------------------------------------------------------------- held-out data
@dataclass
class Case:
    """A held-out test image and its synthesized degradation."""

    name: str
    gt: np.ndarray
    #: what ``irsde restore`` takes (the x4 LR image for sr4, else ``mu``)
    lq: np.ndarray
    mask: np.ndarray | None = None
    kernel: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)


def heldout_images(folder: str | os.PathLike | None = None, crop: int = 0) -> dict[str, np.ndarray]:
    """The held-out photos (default: the bundled samples), center-cropped to ``crop``."""
    from ..io import list_images, read_image, sample_images_dir

    folder = Path(folder) if folder else sample_images_dir()
    out = {}
    for p in list_images(folder):
        img = read_image(p)
        if crop:
            h, w = img.shape[:2]
            c = min(crop, h, w) // 4 * 4
            y, x = (h - c) // 2, (w - c) // 2
            img = img[y : y + c, x : x + c]
        out[p.stem] = np.ascontiguousarray(img)
    if not out:
        raise UsageError(f"{folder}: no images")
    return out


def degrade_case(name: str, gt: np.ndarray, task: str, seed: int, variant: str = "") -> Case:
    """Degrade ``gt`` for ``task``; ``variant`` names one of the task's fixed benchmark
    settings (:attr:`irsde.tasks.Task.variants`).

    Default ranges with ``variant == ""`` reproduce ``irsde degrade --task T --seed S``
    on a file called ``name + ".png"``.
    """
    from ..seeding import image_rng
    from ..tasks import get_task

    truth, deg = get_task(task).degrade_variant(gt, image_rng(seed, f"{name}.png"), variant)
    return Case(name, truth, deg.restore_input, deg.mask, deg.kernel, dict(deg.params))


def quantize(img: np.ndarray) -> np.ndarray:
    """Round-trip through 8 bits, as writing the input to a PNG file does."""
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).astype(np.float32) / 255


def scores(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """PSNR/SSIM on Y with crop 4 (paper convention) and on RGB without crop."""
    from ..io import to_uint8
    from ..metrics import paper_scores

    return paper_scores(to_uint8(pred), to_uint8(gt))


def mean_scores(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    rows = list(rows)
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


# ---------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _median_time(fn: Callable[[], Any], device: torch.device, repeat: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeat)):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.inference_mode()
def time_forward(
    net: nn.Module, size: int, device: torch.device, repeat: int = 3, warmup: int = 1
) -> float:
    """Median seconds of one network evaluation on a ``size x size`` image."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, size, size, generator=g).to(device)
    mu = torch.rand(1, 3, size, size, generator=g).to(device)
    t = torch.full((1,), 50, dtype=torch.long, device=device)
    return _median_time(lambda: net(x, mu, t), device, repeat, warmup)


def time_restore(
    net: nn.Module,
    task: str | None,
    size: int,
    device: torch.device,
    sampler: str | None = None,
    steps: int | None = None,
    repeat: int = 1,
    warmup: int = 0,
    ensemble: int = 1,
) -> float:
    """Median seconds to restore one ``size x size`` image (output size) end to end."""
    from ..restore import Restorer
    from ..tasks import get_task

    r = Restorer(net, sampler=sampler, steps=steps, device=device, task=task, ensemble=ensemble)
    scale = get_task(task).scale if task else 1
    side = max(1, size // scale)
    img = np.random.default_rng(0).random((side, side, 3), dtype=np.float32) * 0.98
    return _median_time(lambda: r.restore_rgb([img]), device, repeat, warmup)


def peak_memory(
    path: str | os.PathLike, size: int, device: torch.device, threads: int = 0
) -> int | None:
    """Extra peak memory (bytes) of restoring one ``size x size`` image with 2 steps.

    On Linux the peak RSS is reset before the restore (``/proc/self/clear_refs``), so the
    figure is the peak during the restore minus the RSS before it. Runs in a fresh Python process so that the peak is this restore's own. None when the
    subprocess fails.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mem.json"
        code = (
            "import sys; from irsde.apps.bench import _memory_worker; _memory_worker(sys.argv[1:])"
        )
        args = [str(path), str(size), str(device), str(threads), str(out)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, env=env, timeout=600
        )
        if proc.returncode != 0 or not out.exists():
            return None
        return int(json.loads(out.read_text())["bytes"])


def _rss_bytes() -> int:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_bytes("VmHWM") > 0
    except OSError:
        return False


def _status_bytes(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024  # kB
    return 0


def _memory_worker(argv: Sequence[str]) -> None:
    """Subprocess side of :func:`peak_memory` (writes ``{"bytes": N}`` to ``argv[4]``)."""
    path, size, device_name, threads, out = argv
    if int(threads):
        torch.set_num_threads(int(threads))
    from ..models import load_model
    from ..restore import Restorer
    from ..tasks import get_task

    device = torch.device(device_name)
    net = load_model(path, device=device)
    task = (net.irsde_config or {}).get("task")

    r = Restorer(net, steps=2, device=device, task=task)
    side = max(1, int(size) // (get_task(task).scale if task else 1))
    img = np.random.default_rng(0).random((side, side, 3), dtype=np.float32) * 0.98
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        r.restore_rgb([img])
        used = torch.cuda.max_memory_allocated(device) - base
    elif _reset_peak_rss():
        base = _status_bytes("VmRSS")
        r.restore_rgb([img])
        used = _status_bytes("VmHWM") - base
    else:
        base = _rss_bytes()
        r.restore_rgb([img])
        used = _rss_bytes() - base
    Path(out).write_text(json.dumps({"bytes": int(used)}))


# ---------------------------------------------------------------------------- overhead
@torch.inference_mode()
def sampler_overhead(
    net: nn.Module,
    sde: Any,
    size: int,
    device: torch.device,
    sampler: str = DEFAULT_SAMPLER,
    steps: int | None = None,
    repeat: int = 1,
) -> dict[str, float]:
    """Seconds of a sampler run with the real network and with a zero-cost one.

    ``percent`` is the zero-cost run as a share of the real run: the time the sampler
    spends outside the network (schedule math, noise draws, state updates).
    """
    from ..samplers import gaussian_noise, sample

    steps = None if steps is None or steps >= sde.T else steps
    mu = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    zeros = torch.zeros_like(mu)

    def zero_net(x: Tensor, m: Tensor, t: Tensor) -> Tensor:
        return zeros

    def run(f: Callable[[Tensor, Tensor, Tensor], Tensor]) -> Callable[[], Tensor]:
        gen = torch.Generator(device=device).manual_seed(0)
        return lambda: sample(f, sde, mu, sampler, steps, noise_fn=gaussian_noise(gen))

    real = _median_time(run(net), device, repeat, warmup=0)
    zero = _median_time(run(zero_net), device, max(3, repeat), warmup=1)
    nfe = len(sde.timesteps(steps))
    return {"real_s": real, "zero_s": zero, "percent": 100.0 * zero / real, "nfe": nfe}


# ---------------------------------------------------------------------------- NFE curves
def restore_cases(
    net: nn.Module,
    task: str,
    cases: Sequence[Case],
    sampler: str,
    steps: int | None,
    spacing: str,
    device: torch.device,
    seed: int = 0,
    ensemble: int = 1,
) -> list[np.ndarray]:
    """Restore every case's LQ input with the Restorer (one batch, fixed seed)."""
    from ..restore import Restorer

    r = Restorer(
        net, sampler=sampler, steps=steps, spacing=spacing, tile=None, device=device,
        seed=seed, task=task, ensemble=ensemble,
    )  # fmt: skip
    masks = [c.mask for c in cases]
    return [res for res, _ in r.restore_rgb([c.lq for c in cases], masks)]


def nfe_curve(
    net: nn.Module,
    task: str,
    cases: Sequence[Case],
    device: torch.device,
    nfes: Sequence[int] = NFES,
    samplers: Sequence[str] = CURVE_SAMPLERS,
    spacings: Sequence[str] = SPACINGS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Mean scores over ``cases`` per (sampler, spacing, NFE); NFE above T is skipped.

    At NFE = T all spacings coincide, so it is run once per sampler and repeated.
    """
    T = net.irsde_config["sde"]["T"] if net.irsde_config.get("sde") else 100
    rows: list[dict[str, Any]] = []
    for sampler in samplers:
        full: dict[str, float] | None = None
        for spacing in spacings:
            for nfe in sorted({min(n, T) for n in nfes}):
                if nfe == T and full is not None:
                    m = full
                else:
                    outs = restore_cases(net, task, cases, sampler, nfe, spacing, device, seed)
                    m = mean_scores(scores(o, c.gt) for o, c in zip(outs, cases, strict=True))
                    full = m if nfe == T else full
                rows.append({"task": task, "sampler": sampler, "spacing": spacing, "nfe": nfe, **m})
    return rows


def fewest_steps(rows: Sequence[dict[str, Any]], T: int, tol: float = REFERENCE_TOLERANCE_DB):
    """Smallest NFE whose PSNR-Y is within ``tol`` dB of the T-step reference sampler."""
    ref = [r for r in rows if r["sampler"] == REFERENCE_SAMPLER and r["nfe"] == T]
    if not ref:
        return None
    target = ref[0]["psnr_y"] - tol
    ok = [r for r in rows if r["psnr_y"] >= target]
    best = min(ok, key=lambda r: (r["nfe"], -r["psnr_y"]))
    return {
        "reference_psnr_y": ref[0]["psnr_y"],
        "nfe": best["nfe"],
        "sampler": best["sampler"],
        "spacing": best["spacing"],
        "psnr_y": best["psnr_y"],
    }


# ---------------------------------------------------------------------------- driver
@dataclass
class BenchSettings:
    sizes: tuple[int, ...] = (256, 512)
    nfes: tuple[int, ...] = NFES
    samplers: tuple[str, ...] = CURVE_SAMPLERS
    spacings: tuple[str, ...] = SPACINGS
    crop: int = 128
    repeat: int = 3
    reference: bool = True  # time the T-step reference sampler (else estimate it)
    memory: bool = True
    overhead_steps: int | None = None  # None: T
    seed: int = 0
    images: str | None = None
    posterior: bool = False  # also run the exact-posterior section (:func:`exact_posterior`)


def bench_model(
    net: nn.Module,
    path: Path,
    task: str,
    device: torch.device,
    s: BenchSettings,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """All measurements for one model."""
    from ..sde import build_sde
    from ..tasks import get_task

    sde = build_sde(net.irsde_config["sde"])
    rec = net.irsde_config.get("sampler") or {}
    out: dict[str, Any] = {"model": model_info(net, path), "timing": [], "overhead": []}
    for size in s.sizes:
        log(f"{task}: timing {size}x{size}")
        out["timing"].append(_timing(net, path, task, size, device, sde, rec, s))
    for sampler in s.samplers:
        log(f"{task}: sampler overhead ({sampler})")
        ov = sampler_overhead(net, sde, min(s.sizes), device, sampler, s.overhead_steps)
        out["overhead"].append({"sampler": sampler, "size": min(s.sizes), **ov})
    if s.nfes:
        log(f"{task}: NFE curves")
        imgs = heldout_images(s.images, s.crop)
        variant = get_task(task).curve_variant
        cases = [degrade_case(n, g, task, s.seed, variant) for n, g in imgs.items()]
        for c in cases:
            c.lq = quantize(c.lq)
        rows = nfe_curve(net, task, cases, device, s.nfes, s.samplers, s.spacings, s.seed)
        out["nfe_curves"] = {"variant": variant, "crop": s.crop, "images": list(imgs), "rows": rows}
        out["fewest_steps"] = fewest_steps(rows, sde.T)
        out["default_quality"] = default_quality(net, task, cases, device, rec, sde.T, s.seed)
    return out


def default_setting(rec: dict[str, Any], T: int) -> dict[str, Any]:
    """The model's stored default (``irsde_config["sampler"]``) with every field filled in."""
    return {
        "sampler": rec.get("name") or DEFAULT_SAMPLER,
        "steps": rec.get("steps") or T,
        "spacing": rec.get("spacing") or DEFAULT_SPACING,
        "ensemble": int(rec.get("ensemble") or 1),
    }


def default_quality(net, task, cases, device, rec, T: int, seed: int) -> dict[str, Any]:
    """Scores of the model's default setting (self-ensemble included) on the curve's cases."""
    d = default_setting(rec, T)
    outs = restore_cases(
        net, task, cases, d["sampler"], d["steps"], d["spacing"], device, seed, d["ensemble"]
    )
    m = mean_scores(scores(o, c.gt) for o, c in zip(outs, cases, strict=True))
    return {
        "sampler": d["sampler"],
        "steps": d["steps"],
        "ensemble": d["ensemble"],
        "nfe": d["steps"] * d["ensemble"],
        **m,
    }


def _timing(net, path, task, size, device, sde, rec, s: BenchSettings) -> dict[str, Any]:
    per_nfe = time_forward(net, size, device, s.repeat)
    d = default_setting(rec, sde.T)
    default = time_restore(
        net, task, size, device, rec.get("name"), d["steps"], repeat=s.repeat,
        ensemble=d["ensemble"],
    )  # fmt: skip
    row: dict[str, Any] = {
        "size": size,
        "per_nfe_s": per_nfe,
        "default": {
            "sampler": d["sampler"],
            "steps": d["steps"],
            "ensemble": d["ensemble"],
            "seconds": default,
        },
    }
    if s.reference:
        ref = time_restore(net, task, size, device, REFERENCE_SAMPLER, sde.T, ensemble=1)
        row["reference"] = {"steps": sde.T, "seconds": ref, "estimated": False}
    else:
        row["reference"] = {"steps": sde.T, "seconds": per_nfe * sde.T, "estimated": True}
    row["peak_memory_bytes"] = peak_memory(path, size, device) if s.memory else None
    return row


def run_bench(
    models: dict[str, Path],
    device: torch.device,
    settings: BenchSettings,
    log: Callable[[str], None] = lambda m: None,
) -> dict[str, Any]:
    """Measure every model; the result is JSON-serialisable."""
    from ..models import load_model

    result: dict[str, Any] = {
        "environment": environment(device),
        "settings": {k: getattr(settings, k) for k in settings.__dataclass_fields__},
        "tasks": {},
    }
    for task, path in models.items():
        net = load_model(path, device=device)
        result["tasks"][task] = bench_model(net, path, task, device, settings, log)
    if settings.posterior:
        result["posterior"] = exact_posterior(log=log)
    return result


# ---------------------------------------------------------------------------- exact posterior
def posterior_settings() -> PosteriorSettings:
    """The section's :class:`irsde.apps.posterior.Settings`: ``--quick`` ones, with every
    registered sampler that runs on IR-SDE, :data:`POSTERIOR_SPACINGS` and
    :data:`POSTERIOR_NFES`."""
    from ..samplers import supported
    from ..sde import IRSDE
    from .posterior import quick_settings

    cfg = quick_settings(nfes=POSTERIOR_NFES, spacings=POSTERIOR_SPACINGS)
    cfg.samplers = tuple(supported(IRSDE(max_sigma=cfg.max_sigma, T=cfg.T)))
    return cfg


def exact_posterior(
    cfg: PosteriorSettings | None = None, log: Callable[[str], None] = lambda m: None
) -> dict[str, Any]:
    """Every sampler against a Gaussian problem's true posterior (``docs/exact-posterior.md``),
    on ``cfg`` (default :func:`posterior_settings`); on the CPU, JSON-serialisable."""
    from .posterior import run

    cfg = posterior_settings() if cfg is None else cfg
    log(f"exact posterior: {len(cfg.samplers)} samplers, NFE {' '.join(map(str, cfg.nfes))}")
    with torch.inference_mode():
        return run(cfg)


def write_posterior(
    result: dict[str, Any], folder: str | os.PathLike, plots: bool = True
) -> list[Path]:
    """``folder/posterior/``: the section's ``results.json``, ``results.md`` and (with
    matplotlib, unless not ``plots``) ``distance_vs_nfe.png``; [] without the section."""
    from .posterior import write_results

    if not result.get("posterior"):
        return []
    return write_results(result["posterior"], Path(folder) / "posterior", plots)


# ---------------------------------------------------------------------------- reporting
def _ms(sec: float) -> str:
    return f"{sec * 1e3:.1f} ms" if sec < 1 else f"{sec:.2f} s"


def format_tables(result: dict[str, Any]) -> str:
    """Markdown tables: timing and memory, sampler overhead, fewest steps."""
    env = result["environment"]
    lines = [
        f"Device: {env['device']} ({env['device_name']}), {env['torch_threads']} thread(s), "
        f"torch {env['torch']}, irsde {env['irsde']}",
        "",
        "| task | size | per NFE | default sampler | per image | reference (T steps) "
        "| per image | peak memory |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for task, r in result["tasks"].items():
        for t in r["timing"]:
            d, ref = t["default"], t["reference"]
            mem = t["peak_memory_bytes"]
            lines.append(
                f"| {task} | {t['size']} | {_ms(t['per_nfe_s'])} | {default_label(d)} "
                f"| {_ms(d['seconds'])} | {REFERENCE_SAMPLER} {ref['steps']} | {_ms(ref['seconds'])}"
                f"{' (est.)' if ref['estimated'] else ''} "
                f"| {'-' if mem is None else f'{mem / 2**20:.0f} MiB'} |"
            )
    lines += ["", "| task | sampler | NFE | size | real | zero-cost net | overhead |"]
    lines.append("|---|---|---|---|---|---|---|")
    for task, r in result["tasks"].items():
        for o in r["overhead"]:
            lines.append(
                f"| {task} | {o['sampler']} | {o['nfe']} | {o['size']} | {_ms(o['real_s'])} "
                f"| {_ms(o['zero_s'])} | {o['percent']:.2f}% |"
            )
    few = [(t, r.get("fewest_steps")) for t, r in result["tasks"].items() if r.get("fewest_steps")]
    if few:
        lines += ["", "| task | reference PSNR-Y | fewest NFE within 0.1 dB | sampler | spacing "
                  "| PSNR-Y |", "|---|---|---|---|---|---|"]  # fmt: skip
        for task, f in few:
            lines.append(
                f"| {task} | {f['reference_psnr_y']:.2f} | {nfe_label(f['nfe'])} | {f['sampler']} "
                f"| {f['spacing']} | {f['psnr_y']:.2f} |"
            )
        lines += ["", PSNR_NOTE]
    dq = [(t, r["default_quality"]) for t, r in result["tasks"].items() if r.get("default_quality")]
    if dq:
        lines += [
            "",
            "| task | default setting | NFE in all | PSNR-Y | SSIM-Y |",
            "|---|---|---|---|---|",
        ]
        for task, d in dq:
            lines.append(
                f"| {task} | {default_label(d)} | {d['nfe']} | {d['psnr_y']:.2f} "
                f"| {d['ssim_y']:.4f} |"
            )
    return "\n".join(lines)


#: what one network evaluation returns: an estimate of the mean, not a posterior sample
POSTERIOR_MEAN = "posterior-mean estimate"
#: printed under every PSNR-against-NFE table
PSNR_NOTE = (
    f"PSNR rewards the posterior mean, and 1 NFE returns a {POSTERIOR_MEAN}: fewer NFE at equal "
    "PSNR is no speedup at sampling. Samplers are compared at equal distance to the posterior "
    "in benchmarks/exact_posterior.py (`irsde bench --posterior`; docs/exact-posterior.md)."
)


def format_posterior(result: dict[str, Any]) -> str:
    """The exact-posterior section: W2 per sampler, spacing and NFE for noise and blur, the
    floor and the fewest NFE at or below the reference; "" without the section."""
    post = result.get("posterior")
    if not post:
        return ""
    from .posterior import markdown

    head = (
        f"**exact posterior** (samplers against a Gaussian problem's true posterior, "
        f"{post['seconds']:.0f} s; docs/exact-posterior.md)"
    )
    return head + "\n\n" + markdown(post).rstrip("\n")


def nfe_label(nfe: int) -> str:
    """``"1 (posterior-mean estimate)"`` for one evaluation, else the number."""
    return f"{nfe} ({POSTERIOR_MEAN})" if nfe == 1 else str(nfe)


def default_label(d: dict[str, Any]) -> str:
    """``posterior 1 (posterior-mean estimate)`` or ``posterior 5 x8`` (steps, then
    self-ensemble size)."""
    ens = int(d.get("ensemble") or 1)
    return f"{d['sampler']} {nfe_label(d['steps'])}" + (f" x{ens}" if ens > 1 else "")


def format_curves(result: dict[str, Any]) -> str:
    """Markdown table of PSNR-Y per NFE, one row per (task, sampler, spacing)."""
    out = []
    for task, r in result["tasks"].items():
        rows = (r.get("nfe_curves") or {}).get("rows") or []
        if not rows:
            continue
        nfes = sorted({x["nfe"] for x in rows})
        out += [f"**{task}** (PSNR-Y, dB)", ""]
        out.append("| sampler | spacing | " + " | ".join(map(nfe_label, nfes)) + " |")
        out.append("|---|---|" + "---|" * len(nfes))
        keys = dict.fromkeys((x["sampler"], x["spacing"]) for x in rows)
        for smp, sp in keys:
            vals = {
                x["nfe"]: x["psnr_y"] for x in rows if (x["sampler"], x["spacing"]) == (smp, sp)
            }
            cells = [f"{vals[n]:.2f}" if n in vals else "" for n in nfes]
            out.append(f"| {smp} | {sp} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join([*out, PSNR_NOTE] if out else out)


def write_plots(result: dict[str, Any], folder: str | os.PathLike) -> list[Path]:
    """``timing.png`` and one ``nfe_<task>.png`` per task (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("plots need matplotlib: pip install 'irsde[plot]'") from None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_plot_timing(plt, result, folder / "timing.png")]
    for task, r in result["tasks"].items():
        rows = (r.get("nfe_curves") or {}).get("rows")
        if rows:
            paths.append(_plot_curve(plt, task, rows, folder / f"nfe_{task}.png"))
    return paths


def _plot_timing(plt, result: dict[str, Any], path: Path) -> Path:
    tasks = list(result["tasks"])
    sizes = sorted({t["size"] for r in result["tasks"].values() for t in r["timing"]})
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(tasks) + 2), 3.5))
    width = 0.8 / max(1, 2 * len(sizes))
    for j, size in enumerate(sizes):
        for k, key in enumerate(("default", "reference")):
            vals = [
                next((t[key]["seconds"] for t in r["timing"] if t["size"] == size), math.nan)
                for r in result["tasks"].values()
            ]
            xs = [i + (2 * j + k) * width for i in range(len(tasks))]
            label = f"{size}px, {'default sampler' if key == 'default' else 'T-step reference'}"
            ax.bar(xs, vals, width, label=label)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))], tasks)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per image")
    env = result["environment"]
    ax.set_title(f"{env['device_name']} ({env['torch_threads']} threads)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_curve(plt, task: str, rows: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    styles = dict(zip(SPACINGS, itertools.cycle(("-", "--", ":", "-.")), strict=False))
    for smp, sp in dict.fromkeys((x["sampler"], x["spacing"]) for x in rows):
        pts = sorted(
            (x["nfe"], x["psnr_y"]) for x in rows if (x["sampler"], x["spacing"]) == (smp, sp)
        )
        ax.plot(*zip(*pts, strict=True), styles.get(sp, "-"), marker="o", ms=3, label=f"{smp}/{sp}")
    ax.set_xscale("log")
    ax.set_xlabel("NFE (network evaluations)")
    ax.set_ylabel("PSNR-Y (dB, crop 4)")
    ax.set_title(f"{task}: quality vs NFE on the held-out photos", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
