"""The configuration a model carries as ``net.irsde_config``, checked in one place.

:class:`ModelConfig` is a ``dict`` of fixed fields (architecture, its parameters, SDE,
task, recommended sampler, task parameters, provenance, file source and dtype), each
checked and normalised whenever it is set, with typed attributes of the same names.
Model files store :meth:`ModelConfig.to_metadata` under the safetensors metadata key
``"irsde"``; :meth:`ModelConfig.from_metadata` reads it back.

Field forms:

- ``arch``: a name of :data:`irsde.nets.ARCHITECTURES`; ``arch_params``: what
  :func:`irsde.nets.build_network` takes besides it, so a network predicting ``x0``
  has ``"prediction": "x0"`` and its ``"sde"`` there (:attr:`ModelConfig.parametrization`).
- ``sde``: settings that :func:`irsde.sde.build_sde` takes, ``"type"`` left out for
  IR-SDE (files record it: ``{"type": "irsde", ...}``; old files without it are IR-SDE).
- ``task``: a task name, a list of them (a universal model) or None.
- ``sampler``: ``{"name", "steps", "spacing", "ensemble"}`` or None, optionally with
  ``"realistic": {"name", "steps", "spacing"}`` (``Restorer(mode="realistic")``; missing
  keys from :data:`irsde.samplers.REALISTIC_DEFAULT`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from .errors import ModelLoadError
from .nets import NOISE, Architecture, get_architecture
from .samplers import DEFAULT_SAMPLER, REALISTIC_DEFAULT, SAMPLERS, SPACINGS
from .sde import DEFAULT_SDE_TYPE, DEFAULT_SPACING, SDE, build_sde, sde_spec

#: version of the metadata layout written by :meth:`ModelConfig.to_metadata`
FORMAT_VERSION = 1
#: where a loaded model came from
SOURCES = ("safetensors", "reference-pth")
#: a recommended sampler's settings and their defaults
SAMPLER_DEFAULTS: dict[str, Any] = {
    "name": DEFAULT_SAMPLER,
    "steps": None,
    "spacing": DEFAULT_SPACING,
    "ensemble": 1,
}

T = TypeVar("T")


class _Field(Generic[T]):
    """A typed attribute view of the item of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: ModelConfig | None, objtype: type | None = None) -> T:
        if obj is None:  # looked up on the class
            return self  # type: ignore[return-value]
        return obj[self.name]

    def __set__(self, obj: ModelConfig, value: T) -> None:
        obj[self.name] = value


class ModelConfig(dict):
    """A model's configuration: a ``dict`` of :attr:`FIELDS`, each checked when set.

    Raises ``ValueError`` (one line, naming the field) for a bad value and ``KeyError``
    for a key that is not a field.
    """

    FIELDS: ClassVar[tuple[str, ...]] = (
        "arch",
        "arch_params",
        "sde",
        "task",
        "sampler",
        "task_params",
        "provenance",
        "source",
        "dtype",
    )

    arch: _Field[str] = _Field()
    arch_params: _Field[dict[str, Any]] = _Field()
    sde: _Field[dict[str, Any] | None] = _Field()
    task: _Field[str | list[str] | None] = _Field()
    sampler: _Field[dict[str, Any] | None] = _Field()
    task_params: _Field[dict[str, Any]] = _Field()
    provenance: _Field[dict[str, Any]] = _Field()
    source: _Field[str] = _Field()
    dtype: _Field[str] = _Field()

    def __init__(
        self,
        *,
        arch: str,
        arch_params: Mapping[str, Any],
        sde: Mapping[str, Any] | SDE | None = None,
        task: str | Iterable[str] | None = None,
        sampler: str | Mapping[str, Any] | None = None,
        task_params: Mapping[str, Any] | None = None,
        provenance: Mapping[str, Any] | None = None,
        source: str = "safetensors",
        dtype: str = "float32",
    ) -> None:
        super().__init__()
        values = (arch, arch_params, sde, task, sampler, task_params, provenance, source, dtype)
        for key, value in zip(self.FIELDS, values, strict=True):
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        check = _CHECKS.get(key)
        if check is None:
            raise KeyError(f"{key!r} is not a model config field ({', '.join(self.FIELDS)})")
        try:
            value = check(value)
        except (TypeError, ValueError, OverflowError) as err:
            raise ValueError(f"{key}: {_first_line(err)}") from None
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    # --------------------------------------------------------------------- views
    @property
    def architecture(self) -> Architecture:
        """The registered architecture."""
        return get_architecture(self["arch"])

    @property
    def conditional(self) -> bool:
        """Whether the network reads ``mu`` (an unconditional one ignores it)."""
        return self.architecture.is_conditional(self["arch_params"])

    @property
    def parametrization(self) -> str:
        """What the network predicts (a name of :data:`irsde.nets.PARAMETRIZATIONS`)."""
        return self["arch_params"].get("prediction", NOISE)

    def build_sde(self) -> SDE | None:
        """The model's own SDE, or None when the file has no settings."""
        return None if self["sde"] is None else build_sde(self["sde"])

    # ------------------------------------------------------------------ metadata
    def to_metadata(self) -> str:
        """The JSON that a model file stores (the SDE with its ``"type"``; ``"conditional"``
        recorded for readers, derived from the architecture when read back)."""
        meta = {"format": FORMAT_VERSION, **self, "conditional": self.conditional}
        meta.pop("source")
        meta["sde"] = None if self["sde"] is None else sde_spec(self["sde"])
        return json.dumps(meta)

    @classmethod
    def from_metadata(cls, raw: str, path: str | Path) -> ModelConfig:
        """The config a model file stores; a one-line :class:`ModelLoadError` naming
        ``path`` when it is not valid."""
        try:
            meta = json.loads(raw, parse_constant=_no_constant)
            _check_depth(meta)
        except json.JSONDecodeError as err:
            raise ModelLoadError(f"{path}: invalid irsde metadata ({err})") from None
        except (ValueError, RecursionError) as err:
            why = "nested too deeply" if isinstance(err, RecursionError) else str(err)
            raise ModelLoadError(f"{path}: invalid irsde metadata ({why})") from None
        if not isinstance(meta, dict):
            raise ModelLoadError(f"{path}: invalid irsde metadata (not a JSON object)")
        fields = {k: meta.get(k) for k in cls.FIELDS if k != "source"}
        fields["dtype"] = meta.get("dtype", "float32")
        try:
            return cls(**fields, source="safetensors")
        except ValueError as err:
            raise ModelLoadError(f"{path}: invalid irsde metadata: {err}") from None


# -------------------------------------------------------------------------- checks
#: deepest nesting of objects and lists a model file's metadata may have
MAX_DEPTH = 16


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_depth(value: Any) -> None:
    """Refuse metadata nested deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _arch(value: Any) -> str:
    return get_architecture(value).name


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"expected an object, got {type(value).__name__}")
    return dict(value)


def _object_or_empty(value: Any) -> dict[str, Any]:
    return {} if value is None else _object(value)


def _sde(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    spec = sde_spec(value if isinstance(value, SDE) else _object(value))
    if spec["type"] == DEFAULT_SDE_TYPE:
        del spec["type"]
    return spec


def _task(value: Any) -> str | list[str] | None:
    from .tasks import TASKS

    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple) or not names:
        raise ValueError(f"expected a task name or a list of them, got {value!r}")
    for name in names:
        if not isinstance(name, str) or name not in TASKS:
            raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return value if isinstance(value, str) else list(names)


def _sampler(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    cfg = dict(SAMPLER_DEFAULTS)
    cfg.update({"name": value} if isinstance(value, str) else _object(value))
    realistic = cfg.pop("realistic", None)
    unknown = sorted(set(cfg) - set(SAMPLER_DEFAULTS))
    if unknown:
        raise ValueError(f"unknown sampler settings: {', '.join(unknown)}")
    if realistic is not None:
        cfg["realistic"] = _realistic(realistic)
    if cfg["name"] not in SAMPLERS:
        raise ValueError(f"unknown sampler {cfg['name']!r}; choose one of {', '.join(SAMPLERS)}")
    if cfg["spacing"] not in SPACINGS:
        raise ValueError(f"unknown spacing {cfg['spacing']!r}; choose one of {', '.join(SPACINGS)}")
    for key in ("steps", "ensemble"):
        n = cfg[key]
        if not (n is None and key == "steps") and (type(n) is not int or n < 1):
            raise ValueError(f"{key} must be a positive integer, got {n!r}")
    return cfg


def _realistic(value: Any) -> dict[str, Any]:
    """The ``"realistic"`` entry of a sampler config: checked like the config itself."""
    own = _object(value)
    unknown = sorted(set(own) - set(REALISTIC_DEFAULT))
    if unknown:
        raise ValueError(f"unknown realistic sampler settings: {', '.join(unknown)}")
    full = _sampler({**REALISTIC_DEFAULT, **own})
    if not full or full["steps"] is None:
        raise ValueError("realistic steps must be a positive integer, got None")
    return own


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "arch": _arch,
    "arch_params": _object,
    "sde": _sde,
    "task": _task,
    "sampler": _sampler,
    "task_params": _object_or_empty,
    "provenance": _object_or_empty,
    "source": _one_of(SOURCES),
    "dtype": _text,
}


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
