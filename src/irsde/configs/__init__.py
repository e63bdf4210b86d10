"""The training configs that ship with irsde: ``smoke`` and the reference recipes.

Each is a YAML file of this package, named by its path here without ``.yml``
(``"smoke"``, ``"reference/denoise"``). A config file's relative data paths are read
from its own folder; those of a shipped config, from the current folder (so a config
written out with ``irsde train --print-config NAME > NAME.yml`` means the same).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..train.config import TrainConfig

CONFIG_DIR = Path(__file__).parent


def names() -> list[str]:
    """The names of the shipped configs, sorted."""
    return sorted(p.relative_to(CONFIG_DIR).with_suffix("").as_posix() for p in _files())


def _files() -> list[Path]:
    return sorted(CONFIG_DIR.rglob("*.yml"))


def config_path(name: str) -> Path:
    """The file of the shipped config ``name`` (a :class:`ConfigError` listing them if none)."""
    path = CONFIG_DIR / f"{name.removesuffix('.yml')}.yml"
    if ".." in Path(name).parts or not path.is_file():
        raise ConfigError(
            f"no such config file or shipped config: {name} (shipped: {', '.join(names())})"
        )
    return path


def summary(name: str) -> str:
    """The first sentence of the shipped config's leading comment."""
    words = []
    for line in config_path(name).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#") or line.startswith("#  "):
            break
        words.append(line.lstrip("#").strip())
    text = " ".join(words)
    return text.split(". ")[0].removesuffix(".")


def is_shipped(path: Path) -> bool:
    """Whether ``path`` is one of the shipped config files."""
    try:
        return path.resolve().is_relative_to(CONFIG_DIR.resolve())
    except OSError:
        return False


def load(config: str | os.PathLike) -> TrainConfig:
    """Read and validate a training config: a YAML file (an existing file wins) or the
    name of a shipped config (its relative paths read from the current folder)."""
    import yaml

    from ..train.config import load_config, parse_config

    path = Path(config)
    if path.is_file() and not is_shipped(path):
        return load_config(path)
    if not path.is_file():
        path = config_path(str(config))
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return parse_config(raw or {}, path.relative_to(CONFIG_DIR).as_posix(), Path.cwd())
