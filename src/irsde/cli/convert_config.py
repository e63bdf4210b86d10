"""``irsde convert-config``: a reference option file to an irsde training config."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..errors import ConfigError, UsageError

log = logging.getLogger("irsde")


def register(sub: argparse._SubParsersAction) -> None:
    from ..tasks import TASKS

    p = sub.add_parser(
        "convert-config",
        help="convert a reference option file (options/train/*.yml) to an irsde config",
        description="Turn a reference training or test option file (its sde, network_G, "
        "datasets, train and path sections) into an irsde training config for the same "
        "recipe; an option without an irsde equivalent is named in a one-line error.",
    )
    p.add_argument("options", type=Path, metavar="OPTIONS.yml", help="reference option file")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="CONFIG.yml")
    p.add_argument("--task", help=f"the task, when the file does not say it: {', '.join(TASKS)}")
    p.add_argument("--overwrite", action="store_true", help="replace CONFIG.yml if it exists")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..refoptions import convert_options
    from ..tasks import get_task
    from ..train import parse_config

    src, dst = Path(args.options), Path(args.out)
    if not src.is_file():
        raise UsageError(f"{src}: no such option file")
    if dst.exists() and not args.overwrite:
        raise UsageError(f"{dst} exists; pass --overwrite to replace it")
    if dst.exists() and dst.resolve() == src.resolve():
        raise UsageError("the option file and the output are the same file")
    try:
        opts = yaml.safe_load(src.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{src}: not valid YAML ({str(err).splitlines()[0]})") from None
    task = get_task(args.task).name if args.task else None
    try:
        cfg = convert_options(opts, task)
    except ConfigError as err:
        raise ConfigError(f"{src}: {err}") from None
    parse_config(cfg, str(src))  # the result must validate (one-line ConfigError)
    text = f"# converted by `irsde convert-config` from {src.name}\n" + yaml.safe_dump(
        cfg, sort_keys=False
    )
    _atomic_write(dst, text)
    log.info(
        "wrote %s (%s, %s, task %s)", dst, cfg["network"]["arch"], cfg["sde"]["type"], cfg["task"]
    )
    return 0


def _atomic_write(path: Path, text: str) -> None:
    from ..io import temp_file_beside

    tmp = temp_file_beside(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
