"""Per-image random generators, stable across runs, machines and the order of inputs."""

from __future__ import annotations

import hashlib

import numpy as np


def image_seed(seed: int, name: str) -> list[int]:
    """Generator seed of the image file ``name`` under the run seed ``seed``."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def image_rng(seed: int, name: str) -> np.random.Generator:
    """The generator ``irsde degrade --seed`` uses for the image file ``name``."""
    return np.random.default_rng(image_seed(seed, name))
