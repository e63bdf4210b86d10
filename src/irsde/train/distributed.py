"""Process-group helpers for ``torchrun``: NCCL on GPUs, gloo on CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_dist_info() -> DistInfo:
    """Rank information from the environment variables that ``torchrun`` sets."""
    info = DistInfo(
        rank=_env_int("RANK", 0, 0),
        world_size=_env_int("WORLD_SIZE", 1, 1),
        local_rank=_env_int("LOCAL_RANK", 0, 0),
    )
    if info.rank >= info.world_size:
        raise ConfigError(f"RANK={info.rank} must be below WORLD_SIZE={info.world_size}")
    return info


def _env_int(name: str, default: int, least: int) -> int:
    """A whole-number environment variable, or a one-line :class:`ConfigError`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.lstrip("-").isdigit() or len(raw) > 9 or int(raw) < least:
        raise ConfigError(f"{name}={raw[:20]!r}: expected a whole number >= {least}")
    return int(raw)


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (no-op for a single process)."""
    info = env_dist_info()
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return info


def pick_device(local_rank: int = 0) -> torch.device:
    """``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def all_true(flag: bool, device: torch.device) -> bool:
    """True when ``flag`` holds on every rank."""
    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def gather_objects(obj: object) -> list[object]:
    """Every rank's ``obj`` (a one-element list without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
