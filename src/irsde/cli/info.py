"""``irsde info``: what a model file holds (architecture, size, SDE settings, ...)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="describe a model file or an embedded model",
        description="Show the architecture, hyper-parameters, parameter count, SDE settings, "
        "task, recommended sampler, training and measured quality of a .safetensors or "
        "reference .pth model file, or of an embedded model named by its task (irsde info "
        "denoise). --json prints everything the file records.",
    )
    p.add_argument(
        "model", metavar="MODEL", help=".safetensors or .pth file, or an embedded model's name"
    )
    p.add_argument(
        "--json", action="store_true", help="print everything, provenance included, as JSON"
    )
    p.set_defaults(func=run)


def describe(model: str | Path) -> dict:
    """A plain-dict description of the model file (or embedded model) ``model``."""
    from ..models import load_model
    from ..nets import count_parameters
    from ..weights import resolve_model

    path = resolve_model(model)
    net = load_model(path)
    cfg = net.irsde_config
    card = path.with_suffix(".md")
    return {
        "file": str(path),
        "file_size": path.stat().st_size,
        "card": str(card) if card.is_file() else None,
        "source": cfg["source"],
        "arch": cfg["arch"],
        "arch_params": cfg["arch_params"],
        "conditional": cfg.conditional,
        "parameters": count_parameters(net),
        "dtype": cfg.get("dtype"),
        "task": cfg["task"],
        "task_params": cfg.get("task_params") or {},
        "sde": cfg["sde"],
        "sampler": cfg["sampler"],
        "provenance": cfg["provenance"],
    }


def run(args: argparse.Namespace) -> int:
    info = describe(args.model)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        print(format_info(info))
    return 0


def _task(task: str | list[str] | None) -> str:
    if isinstance(task, list):
        return f"{', '.join(task)} (a universal model: pass --task when restoring)"
    return task or "unknown (pass --task when restoring)"


def format_info(info: dict) -> str:
    """Human-readable lines for :func:`describe`'s result: a summary, each line short."""
    rows = [
        ("file", f"{info['file']} ({_size(info['file_size'])})"),
        ("card", info.get("card")),
        ("format", info["source"]),
        (
            "architecture",
            info["arch"] + ("" if info.get("conditional", True) else " (unconditional: mu unused)"),
        ),
        ("hyper-parameters", _kv({k: v for k, v in info["arch_params"].items() if k != "sde"})),
        ("parameters", f"{info['parameters']:,}"),
        ("weights dtype", info["dtype"] or "?"),
        ("task", _task(info["task"])),
        ("task parameters", _kv(info.get("task_params") or {}) or None),
        ("SDE", _kv(info["sde"]) if info["sde"] else "not stored"),
        ("sampler", _sampler(info["sampler"], info["sde"])),
        *_provenance_rows(info["provenance"]),
    ]
    rows = [(name, _short(value)) for name, value in rows if value]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    if info["provenance"]:
        lines.append(f"{'':<{width}}  (irsde info --json: everything the file records)")
    return "\n".join(lines)


def _provenance_rows(prov: dict) -> list[tuple[str, str | None]]:
    """The facts of a model's provenance worth a line: origin, training, measured quality."""
    training = prov.get("training") or {}
    trained = None
    if prov.get("trained_steps") or training:
        steps = prov.get("trained_steps") or training.get("steps")
        trained = f"{steps} steps" if steps else "yes"
        name = (prov.get("config") or {}).get("name") or training.get("run")
        trained += f", run {name}" if name else ""
        trained += f", last phase on {training['device']}" if training.get("device") else ""
    created = str(prov.get("created") or prov.get("exported_at") or "")[:10] or None
    metrics = prov.get("metrics") or {}
    quality = None
    if isinstance(metrics.get("psnr_y"), int | float):
        quality = f"PSNR-Y {metrics['psnr_y']:.2f} dB (held-out photos)"
        told, blind = metrics.get("baseline_psnr_y"), metrics.get("blind_baseline_psnr_y")
        if isinstance(told, int | float):
            quality += f"; best classical told the degradation {told:.2f}"
        if isinstance(blind, int | float):
            quality += f", best blind classical {blind:.2f}"
    return [
        ("converted from", prov.get("converted_from")),
        ("created", created),
        ("trained", trained),
        ("quality", quality),
    ]


def _short(value: object, limit: int = 160) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kv(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())


def _sampler(s: dict | None, sde: dict | None) -> str:
    from ..samplers import DEFAULT_SAMPLER
    from ..sde import DEFAULT_SPACING

    if not s:
        return f"not stored (default: {DEFAULT_SAMPLER})"
    steps = s.get("steps") or (f"T={sde['T']}" if sde else "T")
    text = f"{s['name']}, {steps} steps, {s.get('spacing', DEFAULT_SPACING)} spacing"
    return text + (f", x{s['ensemble']} self-ensemble" if (s.get("ensemble") or 1) > 1 else "")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"
