"""Noise-prediction networks, all called as ``net(x_t, mu, t) -> predicted noise``.

``ConditionalUNet`` is the reference network (its checkpoints load unchanged);
``ConditionalNAFNet`` is a much cheaper alternative for small CPU models.
"""

from __future__ import annotations

from torch import nn

from .common import count_parameters
from .nafnet import ConditionalNAFNet
from .unet import ConditionalUNet

NETWORKS: dict[str, type[nn.Module]] = {
    "ConditionalUNet": ConditionalUNet,
    "ConditionalNAFNet": ConditionalNAFNet,
}


def build_network(arch: str, **arch_params) -> nn.Module:
    """Build the network called ``arch`` from its constructor arguments.

    Raises:
        ValueError: unknown ``arch``.
        TypeError: arguments the network does not take.
    """
    try:
        cls = NETWORKS[arch]
    except KeyError:
        raise ValueError(
            f"unknown architecture {arch!r}; choose one of {', '.join(NETWORKS)}"
        ) from None
    return cls(**arch_params)


__all__ = ["NETWORKS", "ConditionalNAFNet", "ConditionalUNet", "build_network", "count_parameters"]
