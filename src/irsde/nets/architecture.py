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
        pattern: a regular expression that some key must also match, where fixed keys
            cannot tell two networks apart (a gain-only norm's keys ending ``norm1.g``).
        infer: hyper-parameters of a state dict of this network, from its keys and
            shapes (``ValueError``, ``KeyError`` or ``IndexError`` when they are odd).
        tiny: hyper-parameters of a small instance (contract tests, smoke runs).
        conditional: whether the network reads ``mu`` (every network is called
            ``net(x_t, mu, t)``; an unconditional one ignores ``mu``); an architecture
            with both kinds takes a ``conditional`` constructor argument instead
            (:meth:`is_conditional`).
        description: one line for listings.
    """

    name: str
    cls: type[nn.Module]
    keys: tuple[str, ...]
    infer: Callable[[StateDict], dict[str, Any]]
    tiny: Mapping[str, Any] = field(default_factory=dict)
    conditional: bool = True
    description: str = ""
    pattern: str = ""

    def build(self, **params: Any) -> nn.Module:
        """The network with these hyper-parameters."""
        return self.cls(**params)

    def missing(self, state: StateDict) -> list[str]:
        """The keys of :attr:`keys` that ``state`` lacks (and the :attr:`pattern`, unmatched)."""
        missing = [k for k in self.keys if k not in state]
        if self.pattern and not any(re.search(self.pattern, k) for k in state):
            missing.append(f"key matching {self.pattern!r}")
        return missing

    def is_conditional(self, params: Mapping[str, Any]) -> bool:
        """Whether a network of these constructor arguments reads ``mu``."""
        return bool(params.get("conditional", self.conditional))

    def detect(self, state: StateDict) -> bool:
        """Whether ``state`` is a state dict of this network."""
        return not self.missing(state)


def key_indices(state: StateDict, prefix: str) -> set[int]:
    """Distinct integers ``i`` of keys ``prefix.i.*``."""
    pat = re.compile(re.escape(prefix) + r"\.(\d+)\.")
    return {int(m.group(1)) for k in state if (m := pat.match(k))}


def block_count(state: StateDict, prefix: str) -> int:
    """Number of blocks ``prefix.0 .. prefix.n-1`` in ``state``; ``ValueError`` naming
    the first missing one when the numbering has a gap."""
    found = key_indices(state, prefix)
    gap = next((i for i in range(len(found)) if i not in found), None)
    if gap is not None:
        raise ValueError(
            f"no {prefix}.{gap}.* keys but {prefix}.{max(found)}.* exist: block {gap} is missing"
        )
    return len(found)
