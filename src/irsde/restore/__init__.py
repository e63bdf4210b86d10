"""Restoring images of any size with a trained noise-prediction network.

- :mod:`.restorer`: :class:`Restorer` (network + SDE + sampler + task processing),
  :func:`resolve_sde`.
- :mod:`.tiling`: :class:`TiledNet`, bounded memory for any image size, no seams.
- :mod:`.ensemble`: geometric self-ensemble views.
- :mod:`.uncertainty`: the mean/std of posterior samples and the std's heat map.
- :mod:`.files`: the batch file loop of ``irsde restore``.
- :mod:`.device`: device and autocast policy.
- :mod:`.kinds`: the image kinds :meth:`Restorer.restore` accepts.
"""

from __future__ import annotations

from .device import resolve_device
from .ensemble import ENSEMBLE_SIZES, dihedral, undo_dihedral
from .files import RestoreResult, load_mask, restore_files
from .restorer import Restorer, StepCallback, resolve_sde
from .tiling import TiledNet, tile_starts
from .uncertainty import colorize

__all__ = [
    "ENSEMBLE_SIZES",
    "RestoreResult",
    "Restorer",
    "StepCallback",
    "TiledNet",
    "colorize",
    "dihedral",
    "load_mask",
    "resolve_device",
    "resolve_sde",
    "restore_files",
    "tile_starts",
    "undo_dihedral",
]
