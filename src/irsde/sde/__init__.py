"""Diffusion processes: the :class:`SDE` interface, its registry and the processes.

``build_sde({"type": "irsde", "max_sigma": 10, ...})`` makes a registered process from
its settings (files and configs store ``sde.spec()``); a new process is one module
here holding a subclass decorated with :func:`register_sde`, imported below.
"""

from __future__ import annotations

from .base import (
    DEFAULT_SDE_TYPE,
    MAX_T,
    SDE,
    SDES,
    Timestep,
    build_sde,
    register_sde,
    sde_spec,
)
from .denoising import DenoisingSDE
from .goub import GOUB
from .grid import DEFAULT_SPACING, SPACINGS, check_grid, select_timesteps
from .irsde import IRSDE
from .schedules import (
    SCHEDULES,
    Schedule,
    constant_thetas,
    cosine_thetas,
    lam_from_max_sigma,
    linear_thetas,
    make_thetas,
)

__all__ = [
    "DEFAULT_SDE_TYPE",
    "DEFAULT_SPACING",
    "GOUB",
    "IRSDE",
    "MAX_T",
    "SCHEDULES",
    "SDE",
    "SDES",
    "SPACINGS",
    "DenoisingSDE",
    "Schedule",
    "Timestep",
    "build_sde",
    "check_grid",
    "constant_thetas",
    "cosine_thetas",
    "lam_from_max_sigma",
    "linear_thetas",
    "make_thetas",
    "register_sde",
    "sde_spec",
    "select_timesteps",
]
