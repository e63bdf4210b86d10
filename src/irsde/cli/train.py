"""``irsde train CONFIG --out RUNDIR [--resume] [--max-steps N] [--time-budget S]``.

CONFIG is a YAML file or a shipped config's name (:mod:`irsde.configs`); ``--print-config
NAME`` writes one out. Also runs under torchrun (one process per GPU or CPU share).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("irsde")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train an IR-SDE model. Under 'torchrun --nproc_per_node K -m irsde train ...' "
        "the same command uses DistributedDataParallel (NCCL on GPUs, gloo on CPU).",
    )
    p.add_argument(
        "config",
        nargs="?",
        help="YAML training config, or a shipped config's name (irsde configs lists them)",
    )
    p.add_argument(
        "--out", type=Path, help="run folder: checkpoints, logs, exported models (required)"
    )
    p.add_argument(
        "--print-config",
        metavar="NAME",
        help="print a shipped config's YAML (to edit: > my.yml) and exit",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its last checkpoint"
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="stop at this total step (default: the config's)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="fit the run into this many seconds of training (overrides train.time_budget)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..configs import config_path
    from ..configs import load as load_config
    from ..errors import UsageError
    from ..train.distributed import env_dist_info
    from ..train.trainer import Trainer

    if args.print_config is not None:
        sys.stdout.write(config_path(args.print_config).read_text(encoding="utf-8"))
        return 0
    if args.config is None or args.out is None:
        raise UsageError("give a config and --out RUNDIR: irsde train smoke --out runs/smoke")
    cfg = load_config(args.config)
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError("--max-steps must be at least 1")
    if args.time_budget is not None:
        if args.time_budget <= 0:
            raise UsageError("--time-budget must be positive")
        cfg = cfg.model_copy(
            update={"train": cfg.train.model_copy(update={"time_budget": args.time_budget})}
        )
    main_rank = env_dist_info().is_main
    trainer = Trainer(cfg, args.out, resume=args.resume, max_steps=args.max_steps)
    bar = None
    if main_rank and not args.no_progress and not args.quiet:
        from tqdm import tqdm

        bar = tqdm(
            total=trainer.target_steps,
            initial=trainer.state.step,
            desc=cfg.name,
            unit="step",
            dynamic_ncols=True,
        )

    def on_step(info: dict) -> None:
        if bar is not None:
            bar.total = info["total"]  # a time budget can shorten the run
            bar.update(info["step"] - bar.n)
            bar.set_postfix(loss=f"{info['loss']:.4g}", lr=f"{info['lr']:.2g}", refresh=False)

    try:
        summary = trainer.run(on_step)
    finally:
        if bar is not None:
            bar.close()
        trainer.close()
    if main_rank and not args.quiet:
        keys = ("steps", "steps_per_s", "best_val_psnr", "final_model")
        print(json.dumps({k: summary[k] for k in keys}, indent=None))
        print(f"run folder: {args.out}{_tensorboard_hint(args.out / 'tb')}")
    return 0


def _tensorboard_hint(tb: Path) -> str:
    """How to view the TensorBoard logs, when some were written."""
    if tb.is_dir() and any(tb.iterdir()):
        return f"  (tensorboard --logdir {tb})"
    return "  (no TensorBoard logs: pip install 'irsde[train]' to get them)"
