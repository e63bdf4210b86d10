"""``irsde eval``: not built yet (placeholder so that the command is listed)."""

from __future__ import annotations

import argparse

from ..errors import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="(not available yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise UsageError("'irsde eval' is not available in this version yet")
