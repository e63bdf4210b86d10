"""The embedded default models: one small safetensors file per task, with a model card.

Files are named ``<task>.safetensors`` (card: ``<task>.md``) and describe themselves:
their metadata holds the architecture, SDE settings, task, recommended sampler and the
measured metrics. Nothing is ever downloaded.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError, UsageError

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class ModelEntry:
    name: str
    task: str
    path: Path
    size_bytes: int
    arch: str
    params: int | None
    sampler: dict[str, Any] | None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def card(self) -> Path:
        return self.path.with_suffix(".md")


def _read_entry(path: Path) -> ModelEntry:
    """The listing of a model file; its metadata checked (:class:`ModelLoadError`)."""
    from safetensors import safe_open

    from ..modelconfig import ModelConfig

    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("irsde")
            params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error type and OSError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ModelLoadError(
            f"cannot read {path}: not a valid safetensors file ({reason})"
        ) from None
    cfg = None if raw is None else ModelConfig.from_metadata(raw, path)
    return ModelEntry(
        name=path.stem,
        task=(cfg and cfg.task) or path.stem,
        path=path,
        size_bytes=path.stat().st_size,
        arch=cfg.arch if cfg else "?",
        params=params,
        sampler=cfg.sampler if cfg else None,
        metrics=(cfg.provenance.get("metrics") if cfg else None) or {},
    )


def available_models(folder: Path | None = None) -> list[ModelEntry]:
    """The embedded models (or those in ``folder``), sorted by name."""
    return [_read_entry(p) for p in sorted((folder or WEIGHTS_DIR).glob("*.safetensors"))]


def default_model_path(task: str, folder: Path | None = None) -> Path:
    """The embedded model file for ``task``; a :class:`UsageError` when there is none."""
    from ..tasks import get_task

    get_task(task)  # validates the name
    folder = folder or WEIGHTS_DIR
    path = folder / f"{task}.safetensors"
    if not path.is_file():
        have = ", ".join(e.task for e in available_models(folder)) or "none"
        raise UsageError(
            f"no embedded model for task '{task}' (embedded: {have}); pass --model PATH"
        )
    return path


def embedded_names(folder: Path | None = None) -> list[str]:
    """The names of the embedded models (each is also the task it restores)."""
    return sorted(p.stem for p in (folder or WEIGHTS_DIR).glob("*.safetensors"))


def resolve_model(model: str | os.PathLike, folder: Path | None = None) -> Path:
    """The model file that ``model`` names: an existing file as given, else the embedded
    model of that name (a task name: ``"denoise"``). Which one is used is logged.

    Raises:
        ModelLoadError: neither a file nor an embedded model's name.
    """
    path = Path(model)
    if path.is_file():
        return path
    folder = folder or WEIGHTS_DIR
    names = embedded_names(folder)
    if str(model) in names:
        found = folder / f"{model}.safetensors"
        log.info("model %s: the embedded model %s", model, found)
        return found
    if path.exists():
        raise ModelLoadError(f"not a model file: {path}")
    raise ModelLoadError(
        f"model file not found: {path} (nor an embedded model: {', '.join(names) or 'none'})"
    )
