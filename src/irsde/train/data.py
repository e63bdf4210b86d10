"""Datasets for training and validation, built from the config, and resumable batch order."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from .config import DataSourceConfig


class EpochBatches:
    """Deterministic batches of indices: epoch ``e`` is a permutation seeded by ``(seed, e)``.

    Under ``torchrun`` each rank takes every ``world_size``-th index of the permutation,
    so ranks see disjoint samples. Incomplete final batches are dropped.
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1
    ) -> None:
        per_rank = n // world_size
        if per_rank < batch_size:
            raise ValueError(
                f"dataset of {n} items is too small for batch size {batch_size} x {world_size} process(es)"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size

    def batches(self, epoch: int) -> list[list[int]]:
        perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        mine = perm[self.rank :: self.world_size][: self.n // self.world_size]
        usable = len(mine) - len(mine) % self.batch_size
        return [mine[i : i + self.batch_size].tolist() for i in range(0, usable, self.batch_size)]


def build_dataset(
    src: DataSourceConfig,
    task: str | list[str],
    seed: int,
    *,
    train: bool,
    length: int | None = None,
) -> Dataset:
    """The dataset a config section describes (``length`` caps it, e.g. for validation)."""
    from ..data import PairedFolderDataset, SyntheticDataset
    from ..tasks import get_task

    crop = src.crop if train else None
    if src.type == "paired":  # one task (TrainConfig checks)
        return PairedFolderDataset(
            src.gt,
            src.lq,
            crop=crop,
            scale=get_task(task).scale,
            augment=train and src.augment,
            seed=seed,
            limit=length,
            crop_mode="random" if train else "center",
            cache=src.cache,
        )
    return SyntheticDataset(
        src.source,
        task,
        crop=crop if crop else src.crop,
        length=length or src.length,
        seed=seed,
        augment=train and src.augment,
        params=src.params,
        deadleaves_ratio=src.deadleaves_ratio,
        crop_mode="random" if train else "center",
        cache=src.cache,
        deadleaves_bank=src.deadleaves_bank,
        gray_fraction=src.gray_fraction,
    )
