"""``irsde info``: what a model file holds (architecture, size, SDE settings, ...)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="describe a model file",
        description="Show the architecture, hyper-parameters, parameter count, SDE settings, "
        "task and recommended sampler of a .safetensors or reference .pth model file.",
    )
    p.add_argument("model", type=Path, metavar="MODEL", help=".safetensors or .pth file")
    p.add_argument("--json", action="store_true", help="print the description as JSON")
    p.set_defaults(func=run)


def describe(path: Path) -> dict:
    """A plain-dict description of the model file at ``path``."""
    from ..models import load_model
    from ..nets import count_parameters

    net = load_model(path)
    cfg = net.irsde_config
    return {
        "file": str(path),
        "file_size": path.stat().st_size,
        "source": cfg["source"],
        "arch": cfg["arch"],
        "arch_params": cfg["arch_params"],
        "parameters": count_parameters(net),
        "dtype": cfg.get("dtype"),
        "task": cfg["task"],
        "sde": cfg["sde"],
        "sampler": cfg["sampler"],
        "provenance": cfg["provenance"],
    }


def run(args: argparse.Namespace) -> int:
    info = describe(Path(args.model))
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
    """Human-readable lines for :func:`describe`'s result."""
    rows = [
        ("file", f"{info['file']} ({_size(info['file_size'])})"),
        ("format", info["source"]),
        ("architecture", info["arch"]),
        ("hyper-parameters", _kv(info["arch_params"])),
        ("parameters", f"{info['parameters']:,}"),
        ("weights dtype", info["dtype"] or "?"),
        ("task", _task(info["task"])),
        ("SDE", _kv(info["sde"]) if info["sde"] else "not stored"),
        ("sampler", _sampler(info["sampler"], info["sde"])),
    ]
    rows += [(f"provenance.{k}", str(v)) for k, v in sorted(info["provenance"].items())]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _kv(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in d.items())


def _sampler(s: dict | None, sde: dict | None) -> str:
    from ..samplers import DEFAULT_SAMPLER
    from ..sde import DEFAULT_SPACING

    if not s:
        return f"not stored (default: {DEFAULT_SAMPLER})"
    steps = s.get("steps") or (f"T={sde['T']}" if sde else "T")
    return f"{s['name']}, {steps} steps, {s.get('spacing', DEFAULT_SPACING)} spacing"


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.2f} GiB"
