"""irsde: image restoration with mean-reverting stochastic differential equations.

The core import is light: ``IRSDE`` and the samplers need only PyTorch. Heavier parts
(training, the web demo, plotting) are imported by the modules that use them.
"""

from .sde import IRSDE

__version__ = "0.1.0"

__all__ = ["IRSDE", "__version__"]
