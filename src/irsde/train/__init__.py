"""Training: YAML config, the loop (EMA, validation, atomic checkpoints, exact resume), torchrun."""

from .config import TrainConfig, load_config, parse_config
from .trainer import Trainer, TrainingError, train

__all__ = ["TrainConfig", "Trainer", "TrainingError", "load_config", "parse_config", "train"]
