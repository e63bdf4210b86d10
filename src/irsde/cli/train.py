"""``irsde train``: not built yet (placeholder so that the command is listed)."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="(not available yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("'irsde train' is not available in this version yet")
