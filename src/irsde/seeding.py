"""Per-image random generators, stable across runs, machines and the order of inputs."""

from __future__ import annotations

import hashlib

import numpy as np

#: largest seed a user may give (numpy's and torch's generators take it, and the
#: derived per-rank and per-image seeds stay within 64 bits)
MAX_SEED = 2**32 - 1


def seed_arg(text: str) -> int:
    """An argparse type: a seed in ``0..MAX_SEED`` (argparse reports a usage error)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:20]!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in 0..{MAX_SEED}, got {text[:24]}")
    return value


def image_seed(seed: int, name: str) -> list[int]:
    """Generator seed of the image file ``name`` under the run seed ``seed``."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def image_rng(seed: int, name: str) -> np.random.Generator:
    """The generator ``irsde degrade --seed`` uses for the image file ``name``."""
    return np.random.default_rng(image_seed(seed, name))
