"""Data: dead-leaves images, image folders, paired and synthetic datasets."""

from ..io import list_images
from .augment import augment_fixed, crop_origin, pad_to, random_augment
from .datasets import (
    PairedFolderDataset,
    SyntheticDataset,
    ValidationDataset,
    to_tensor,
    worker_init_fn,
)
from .deadleaves import dead_leaves, palette_from_images, sample_palette

__all__ = [
    "PairedFolderDataset",
    "SyntheticDataset",
    "ValidationDataset",
    "augment_fixed",
    "crop_origin",
    "dead_leaves",
    "list_images",
    "pad_to",
    "palette_from_images",
    "random_augment",
    "sample_palette",
    "to_tensor",
    "worker_init_fn",
]
