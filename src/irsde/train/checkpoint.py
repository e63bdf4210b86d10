"""Atomic training checkpoints (weights, EMA, optimizer, scheduler, RNG states, config)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError
from ..io import temp_file_beside

CHECKPOINT_FORMAT = "irsde-train-checkpoint"
CHECKPOINT_VERSION = 1
#: the fields of a checkpoint (:meth:`irsde.train.trainer.Trainer._save` writes them all)
CHECKPOINT_KEYS = frozenset(
    {
        "format",
        "version",
        "state",
        "model",
        "ema",
        "optimizer",
        "scheduler",
        "scaler",
        "rng",
        "config",
    }
)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``.

    A failure (full disk, unwritable folder, kill) leaves any previous ``path`` intact;
    the file gets the permissions a plain ``open()`` gives (:func:`irsde.io.temp_file_beside`).
    """
    tmp = temp_file_beside(path)
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temp files of ``path`` (``.NAME.*.tmp``) that a killed write left behind."""
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write a training checkpoint atomically."""
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    try:
        atomic_torch_save(payload, path)
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot write checkpoint ({err.strerror or err}); "
            "the previous checkpoint is kept"
        ) from None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint (``weights_only``: no code is executed)."""
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise ConfigError(
            f"{path}: unreadable checkpoint ({type(err).__name__}: {err})".split("\n")[0]
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path}: not an irsde training checkpoint")
    missing = sorted(CHECKPOINT_KEYS - {"scaler"} - state.keys())
    unknown = sorted(str(k) for k in state.keys() - CHECKPOINT_KEYS)
    if missing or unknown:
        what = f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(unknown)}"
        raise ConfigError(f"{path}: damaged training checkpoint ({what}); cannot resume")
    return state
