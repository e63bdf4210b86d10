"""The descriptor each network module registers: how to build it, recognise its weights
and read its hyper-parameters back from them (spandrel's layout)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

StateDict = Mapping[str, Tensor]


@dataclass(frozen=True)
class Architecture:
    """One registered network.

    Attributes:
        name: registry name, stored in model files as ``"arch"``.
        cls: the network class, built as ``cls(**params)``; instances keep their
            constructor arguments as ``net.arch_params``.
        keys: keys every state dict of this network has and no other network's has
            all of (its detection).
        infer: hyper-parameters of a state dict of this network, from its keys and
            shapes (``ValueError``, ``KeyError`` or ``IndexError`` when they are odd).
        tiny: hyper-parameters of a small instance (contract tests, smoke runs).
        conditional: called as ``net(x_t, mu, t)`` (else ``net(x, t)``).
        description: one line for listings.
    """

    name: str
    cls: type[nn.Module]
    keys: tuple[str, ...]
    infer: Callable[[StateDict], dict[str, Any]]
    tiny: Mapping[str, Any] = field(default_factory=dict)
    conditional: bool = True
    description: str = ""

    def build(self, **params: Any) -> nn.Module:
        """The network with these hyper-parameters."""
        return self.cls(**params)

    def missing(self, state: StateDict) -> list[str]:
        """The keys of :attr:`keys` that ``state`` lacks."""
        return [k for k in self.keys if k not in state]

    def detect(self, state: StateDict) -> bool:
        """Whether ``state`` is a state dict of this network."""
        return not self.missing(state)


def key_indices(state: StateDict, prefix: str) -> set[int]:
    """Distinct integers ``i`` of keys ``prefix.i.*``."""
    pat = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return {int(m.group(1)) for k in state if (m := pat.match(k))}
