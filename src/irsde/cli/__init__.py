"""The ``irsde`` command line.

Each sub-command lives in its own module of this package exposing
``register(subparsers)``, which adds a parser whose default ``func(args) -> int``
runs the command. Errors derived from :class:`irsde.errors.IrsdeError` are printed
as one line; ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import IrsdeError

#: sub-command modules, in the order ``--help`` lists them
COMMAND_MODULES: tuple[str, ...] = (
    "restore",
    "eval",
    "train",
    "configs",
    "degrade",
    "convert",
    "convert-config",
    "info",
    "models",
    "serve",
    "bench",
    "demo",
)

log = logging.getLogger("irsde")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irsde",
        description="Image restoration with mean-reverting SDEs (IR-SDE).",
    )
    parser.add_argument("--version", action="version", version=f"irsde {__version__}")
    _add_global_flags(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name.replace('-', '_')}").register(sub)
    for command in sub.choices.values():  # the same flags after the sub-command too
        _add_global_flags(command, argparse.SUPPRESS)
    return parser


def _add_global_flags(parser: argparse.ArgumentParser, default: object) -> None:
    """``--debug`` and ``-q``; under a sub-command their default is SUPPRESS, so that
    an absent flag keeps the value given (or not) before the sub-command."""
    parser.add_argument(
        "--debug", action="store_true", default=default, help="show full tracebacks on errors"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default,
        help="only print warnings, errors and requested output (no progress or summaries)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except IrsdeError as err:
        if args.debug:
            raise
        print(f"irsde {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("irsde: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `irsde models | head`: the reader left, nothing to say
        sys.stderr.close()
        return 141
    except OSError as err:  # a full disk, a vanished folder, ... outside the checked paths
        if args.debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"irsde {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
