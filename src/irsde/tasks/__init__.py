"""Restoration tasks, one module each, registered in :data:`TASKS` in import order.

A new task is one module here defining a :class:`Task` subclass registered with
:func:`register_task`, plus its import below; command-line choices, config validation,
the web page, the benchmarks and ``tests/test_contract_tasks.py`` read the registry.
"""

from __future__ import annotations

# the import order is the order of TASKS
# isort: off
from . import denoise, derain, deblur, sr4, inpaint, dehaze  # noqa: F401

# isort: on
from .base import DEFAULT_SDE, NO_TASK, TASKS, Task, get_task, reference_sde, register_task

__all__ = [
    "DEFAULT_SDE",
    "NO_TASK",
    "TASKS",
    "Task",
    "get_task",
    "reference_sde",
    "register_task",
]
