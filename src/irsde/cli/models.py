"""``irsde models``: list the embedded default models, where their files and cards are."""

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
    from ..weights import WEIGHTS_DIR, available_models

    entries = available_models()
    if args.json:
        rows = [
            {
                "name": e.name,
                "task": e.task,
                "path": str(e.path),
                "card": str(e.card) if e.card.is_file() else None,
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
    lead = f"{'':<8} {'':>6} {'':>9}  {'':<14} "
    print(f"{lead}{'PSNR-Y, held-out photos (dB)':^29}")
    header = (
        f"{'name':<8} {'size':>6} {'params':>9}  {'sampler':<14} "
        f"{'IR-SDE':>7} {'classical':>10} {'classical':>10}"
    )
    print(header)
    print(f"{lead}{'(blind)':>7} {'(told)':>10} {'(blind)':>10}")
    print("-" * len(header))
    for e in entries:
        s = e.sampler or {}
        sampler = f"{s.get('name', '?')}/{s.get('steps') or 'T'}"
        sampler += f" x{s['ensemble']}" if (s.get("ensemble") or 1) > 1 else ""
        print(
            f"{e.name:<8} {e.size_bytes / 1e6:>4.1f}MB {e.params or 0:>9,}  {sampler:<14} "
            f"{_metric(e, 'psnr_y'):>7} {_metric(e, 'baseline_psnr_y'):>10} "
            f"{_metric(e, 'blind_baseline_psnr_y'):>10}"
        )
    print(
        "\nIR-SDE models are blind (told neither noise level nor blur kernel); 'told' is the "
        "best classical\nmethod given the true degradation, 'blind' the best one that is not. "
        "Sampler: name/steps xviews."
    )
    print(f"files: {WEIGHTS_DIR}/NAME.safetensors, cards: {WEIGHTS_DIR}/NAME.md")
    print("use a model by its name: irsde restore photo.png -o out --model NAME; irsde info NAME")
    return 0
