"""Restoration tasks and the SDE settings of the reference implementation for each.

A reference ``.pth`` checkpoint carries no SDE settings; ``--task`` picks them from here.
Models trained by this toolkit store their own settings in their metadata instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UsageError


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    #: reference SDE settings: IRSDE(**sde)
    sde: dict = field(default_factory=dict)
    #: output / input size ratio (4 for x4 super-resolution, else 1)
    scale: int = 1


def _sde(max_sigma: float, T: int = 100) -> dict:
    return {"max_sigma": max_sigma, "T": T, "schedule": "cosine", "eps": 0.005}


#: reference defaults used when nothing else says otherwise
DEFAULT_SDE: dict = _sde(10)

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("denoise", "blind additive Gaussian noise", _sde(70, 1000)),
        Task("derain", "rain streaks", _sde(10)),
        Task("deblur", "Gaussian and motion blur", _sde(10)),
        Task("sr4", "x4 super-resolution (input: the low-resolution image)", _sde(30), scale=4),
        Task("inpaint", "holes painted white (or given by a mask)", _sde(30)),
        Task("dehaze", "atmospheric haze", _sde(10)),
    )
}


def get_task(name: str) -> Task:
    """The task called ``name``, or a :class:`UsageError` listing the valid names."""
    try:
        return TASKS[name]
    except KeyError:
        raise UsageError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}") from None
