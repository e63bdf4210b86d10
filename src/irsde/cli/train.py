"""``irsde train CONFIG.yml --out RUNDIR [--resume] [--max-steps N] [--time-budget S]``.

Also runs under torchrun (one process per GPU or CPU share).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger("irsde")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML config",
        description="Train an IR-SDE model. Under 'torchrun --nproc_per_node K -m irsde train ...' "
        "the same command uses DistributedDataParallel (NCCL on GPUs, gloo on CPU).",
    )
    p.add_argument("config", type=Path, help="YAML training config (see configs/)")
    p.add_argument(
        "--out", type=Path, required=True, help="run folder: checkpoints, logs, exported models"
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
    from ..errors import UsageError
    from ..train import load_config
    from ..train.distributed import env_dist_info
    from ..train.trainer import Trainer

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
    if main_rank and not args.no_progress:
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
    if main_rank:
        print(
            json.dumps(
                {k: summary[k] for k in ("steps", "steps_per_s", "best_val_psnr", "final_model")},
                indent=None,
            )
        )
        print(f"run folder: {args.out}  (tensorboard --logdir {args.out / 'tb'})")
    return 0
