"""irsde: image restoration with mean-reverting stochastic differential equations.

The core import is light: ``IRSDE`` and the samplers need only PyTorch. Other names
(``load_model``, ``Restorer``, ...) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from .sde import IRSDE, DenoisingSDE

__version__ = "0.1.0"

#: public names imported lazily, with the module that defines them
_LAZY = {
    "load_model": "irsde.models",
    "save_model": "irsde.models",
    "Restorer": "irsde.restore",
    "metrics": "irsde.metrics",
    "degrade": "irsde.degrade",
    "samplers": "irsde.samplers",
}

__all__ = ["DenoisingSDE", "IRSDE", "__version__", *_LAZY]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'irsde' has no attribute {name!r}")
    mod = importlib.import_module(module)
    return mod if module.endswith("." + name) else getattr(mod, name)
