"""``irsde configs``: list the training configs that ship with irsde."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "configs",
        help="list the shipped training configs (irsde train NAME)",
        description="List the training configs that ship with irsde. Train one by name "
        "(irsde train smoke --out runs/smoke) or write it out to edit "
        "(irsde train --print-config NAME > my.yml).",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..configs import CONFIG_DIR, config_path, names, summary

    rows = [{"name": n, "path": str(config_path(n)), "summary": summary(n)} for n in names()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['summary']}")
    print(f"\nfiles: {CONFIG_DIR}/NAME.yml")
    print("train one: irsde train NAME --out RUNDIR; edit one: irsde train --print-config NAME")
    return 0
