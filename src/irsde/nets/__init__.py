"""Noise-prediction networks, all called as ``net(x_t, mu, t) -> predicted noise``.

Each architecture module holds its network, and an :class:`Architecture` descriptor
(how to recognise its state dict and infer its hyper-parameters) registered below;
detection is a loop over :data:`ARCHITECTURES` in this order. ``ConditionalUNet`` is
the reference network (its checkpoints load unchanged), ``UnconditionalUNet`` the
reference's denoising-sde U-Net (``mu`` unused), ``RefusionNAFNet`` the reference's
Refusion NAFNet; ``ConditionalNAFNet`` is this toolkit's much cheaper alternative for
small CPU models. A network that predicts something other than
the noise is wrapped (:mod:`irsde.nets.parametrization`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from . import nafnet, refusion, uncond_unet, unet
from .architecture import Architecture, StateDict
from .common import count_parameters
from .nafnet import ConditionalNAFNet
from .parametrization import (
    NOISE,
    PARAMETRIZATIONS,
    Parametrization,
    X0Parametrization,
    parametrize,
    prediction_of,
    unwrap,
)
from .refusion import RefusionNAFNet
from .uncond_unet import UnconditionalUNet
from .unet import ConditionalUNet

#: every network, by name, in detection order
ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        unet.ARCHITECTURE,
        uncond_unet.ARCHITECTURE,
        nafnet.ARCHITECTURE,
        refusion.ARCHITECTURE,
    )
}
#: name -> network class
NETWORKS: dict[str, type[nn.Module]] = {name: a.cls for name, a in ARCHITECTURES.items()}
_MAX_LISTED = 3


def get_architecture(arch: str) -> Architecture:
    """The registered architecture called ``arch``; ``ValueError`` naming the choices."""
    try:
        return ARCHITECTURES[arch]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}"
        ) from None


def build_network(
    arch: str, *, prediction: str = NOISE, sde: Any = None, **arch_params: Any
) -> nn.Module:
    """The network called ``arch`` with its hyper-parameters, wrapped for ``prediction``.

    Args:
        arch: a name of :data:`ARCHITECTURES`.
        prediction: what the network predicts (:data:`PARAMETRIZATIONS`).
        sde: the SDE (or its settings) that converts a non-noise prediction to noise.
        arch_params: the architecture's constructor arguments.

    Raises:
        ValueError: unknown ``arch`` or ``prediction``, invalid settings.
        TypeError: arguments the network does not take.
    """
    return parametrize(get_architecture(arch).build(**arch_params), prediction, sde)


def architecture_of(net: nn.Module) -> Architecture:
    """The registered architecture of ``net`` (through any parametrization wrapper).

    Raises:
        ValueError: a network of no registered architecture.
    """
    bare = unwrap(net)
    for a in ARCHITECTURES.values():
        if type(bare) is a.cls and isinstance(getattr(bare, "arch_params", None), dict):
            return a
    raise ValueError(f"a {type(bare).__name__} is not one of {', '.join(ARCHITECTURES)}")


def detect_architecture(state: StateDict) -> Architecture:
    """The first registered architecture whose keys ``state`` has.

    Raises:
        ValueError: one line naming the first keys, and the architecture nearest to
            them with the keys it lacks.
    """
    for a in ARCHITECTURES.values():
        if a.detect(state):
            return a
    first = ", ".join(list(state)[:_MAX_LISTED])
    msg = f"unrecognised network (first keys: {first})"
    near = [(len(a.missing(state)), a) for a in ARCHITECTURES.values()]
    near = [(n, a) for n, a in near if n < len(a.keys) + bool(a.pattern)]
    if near:
        _, a = min(near, key=lambda na: na[0])
        msg += f"; not a {a.name}: no {', '.join(a.missing(state))}"
    raise ValueError(msg)


def infer_architecture(state: StateDict) -> tuple[str, dict[str, Any]]:
    """``(arch, arch_params)`` of a state dict, read from its keys and shapes.

    Raises:
        ValueError, KeyError, IndexError: keys or shapes of no known network.
    """
    a = detect_architecture(state)
    return a.name, a.infer(state)


__all__ = [
    "ARCHITECTURES",
    "NETWORKS",
    "NOISE",
    "PARAMETRIZATIONS",
    "Architecture",
    "ConditionalNAFNet",
    "ConditionalUNet",
    "Parametrization",
    "RefusionNAFNet",
    "UnconditionalUNet",
    "X0Parametrization",
    "architecture_of",
    "build_network",
    "count_parameters",
    "detect_architecture",
    "get_architecture",
    "infer_architecture",
    "parametrize",
    "prediction_of",
    "unwrap",
]
