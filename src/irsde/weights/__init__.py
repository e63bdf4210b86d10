"""The embedded default models: one small safetensors file per task, with a model card.

Files are named ``<task>.safetensors`` (card: ``<task>.md``) and describe themselves:
their metadata holds the architecture, SDE settings, task, recommended sampler and the
measured metrics. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

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
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("irsde", "{}"))
        params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118
    prov = meta.get("provenance") or {}
    return ModelEntry(
        name=path.stem,
        task=meta.get("task") or path.stem,
        path=path,
        size_bytes=path.stat().st_size,
        arch=meta.get("arch", "?"),
        params=params,
        sampler=meta.get("sampler"),
        metrics=prov.get("metrics") or {},
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
