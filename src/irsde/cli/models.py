"""``irsde models``: list the embedded default models."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the embedded default models (one per task)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _metric(entry, key: str) -> str:
    v = entry.metrics.get(key)
    return f"{v:.2f}" if isinstance(v, int | float) else "-"


def run(args: argparse.Namespace) -> int:
    from ..weights import available_models

    entries = available_models()
    if args.json:
        rows = [
            {
                "name": e.name,
                "task": e.task,
                "path": str(e.path),
                "size_bytes": e.size_bytes,
                "arch": e.arch,
                "params": e.params,
                "sampler": e.sampler,
                "metrics": e.metrics,
            }
            for e in entries
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not entries:
        print("no embedded models in this installation")
        return 0
    header = f"{'name':<10} {'task':<9} {'size':>8} {'params':>9}  {'sampler':<16} {'PSNR-Y':>7} {'baseline':>8} {'blind':>8}"
    print(header)
    print("-" * len(header))
    for e in entries:
        s = e.sampler or {}
        sampler = f"{s.get('name', '?')}/{s.get('steps') or 'T'}"
        sampler += f" x{s['ensemble']}" if (s.get("ensemble") or 1) > 1 else ""
        print(
            f"{e.name:<10} {e.task:<9} {e.size_bytes / 1e6:>6.1f}MB {e.params or 0:>9,}  {sampler:<16} "
            f"{_metric(e, 'psnr_y'):>7} {_metric(e, 'baseline_psnr_y'):>8} {_metric(e, 'blind_baseline_psnr_y'):>8}"
        )
    return 0
