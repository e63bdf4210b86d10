"""Model files: this toolkit's ``.safetensors`` and the reference implementation's ``.pth``.

A ``.safetensors`` file written by :func:`save_model` holds the weights and, under the
metadata key ``"irsde"``, a JSON :class:`~irsde.modelconfig.ModelConfig`: architecture
and its constructor arguments, SDE settings with their type, task, recommended sampler
and provenance. Reference ``.pth`` checkpoints (a plain ``state_dict``, maybe
``module.``-prefixed or wrapped in a dict) carry only weights; the architecture is
detected and its hyper-parameters inferred by the registry of :mod:`irsde.nets`.

Pickled files are only ever opened with ``torch.load(..., weights_only=True)``; files
that would need arbitrary code to unpickle are refused. Every failure is reported as a
one-line :class:`~irsde.errors.ModelLoadError` naming the file.
"""

from __future__ import annotations

import datetime as _dt
import errno
import logging
import os
import pickle
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import ConfigError, ModelLoadError
from .modelconfig import SAMPLER_DEFAULTS, ModelConfig
from .nets import architecture_of, build_network, infer_architecture
from .nets.common import state_dict_mismatch

log = logging.getLogger(__name__)

#: safetensors metadata key holding the JSON config
METADATA_KEY = "irsde"
#: keys under which training scripts commonly nest a state_dict, in order of preference
WRAPPER_KEYS = (
    "state_dict",
    "params",
    "params_ema",
    "model",
    "model_state_dict",
    "net",
    "network",
    "ema",
)
#: prefixes added by DataParallel / DistributedDataParallel / torch.compile
STRIP_PREFIXES = ("module.", "_orig_mod.")
_MAX_LISTED = 3

PathLike = str | os.PathLike


# ---------------------------------------------------------------------------- saving
def save_model(
    net: nn.Module,
    path: PathLike,
    *,
    sde: Any = None,
    task: str | Sequence[str] | None = None,
    sampler: str | Mapping | None = None,
    provenance: Mapping | None = None,
    half: bool = False,
    task_params: Mapping | None = None,
) -> Path:
    """Write ``net`` and its config to a ``.safetensors`` file, atomically.

    Args:
        net: a network of :data:`irsde.nets.ARCHITECTURES`, maybe wrapped for its
            parametrization (it carries ``arch_params``).
        path: destination; an existing file is replaced.
        sde: an :class:`~irsde.sde.SDE` or its settings (``build_sde`` takes them);
            defaults to the task's reference settings when ``task`` is given.
        task: task name (see :mod:`irsde.tasks`), a list of them (a universal model,
            restored with an explicit task), or None.
        sampler: recommended sampler, a name or ``{"name", "steps", "spacing", "ensemble"}``.
        provenance: free-form JSON-serialisable facts (source, training run, ...).
        half: store float16 weights (they are loaded back as float32).
        task_params: how the network's ``mu`` is built from a user's input, where the
            model departs from the reference, e.g. ``{"fill": "smooth"}`` for inpainting.

    Returns:
        The path written.
    """
    path = Path(path)
    config = make_config(
        net, sde=sde, task=task, sampler=sampler, provenance=provenance, task_params=task_params
    )
    config["dtype"] = "float16" if half else "float32"
    tensors = _tensors_for_saving(net, torch.float16 if half else torch.float32)
    metadata = {METADATA_KEY: config.to_metadata()}
    _atomic_save(tensors, metadata, path)
    log.debug("wrote %s (%s, %d tensors)", path, config["arch"], len(tensors))
    return path


def make_config(
    net: nn.Module,
    *,
    sde: Any = None,
    task: str | Sequence[str] | None = None,
    sampler: str | Mapping | None = None,
    provenance: Mapping | None = None,
    task_params: Mapping | None = None,
) -> ModelConfig:
    """The config stored with ``net`` (validated, plain JSON types only).

    Raises:
        ConfigError: a network of no registered architecture, or invalid settings.
    """
    from . import __version__
    from .tasks import get_task

    try:
        arch = architecture_of(net).name
    except ValueError as err:
        raise ConfigError(f"cannot save: {err}") from None
    if isinstance(task, (list, tuple)):  # a universal model: its SDE is its own
        task = [get_task(t).name for t in task]
        if sde is None:
            raise ConfigError("a model for several tasks needs its SDE settings")
    elif task is not None:
        task = get_task(task).name
        if sde is None:
            sde = get_task(task).sde
    prov = {
        "irsde_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    prov.update(provenance or {})
    try:
        config = ModelConfig(
            arch=arch,
            arch_params=net.arch_params,
            sde=sde,
            task=task,
            sampler=sampler,
            task_params=task_params,
            provenance=prov,
        )
        config.to_metadata()
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid model config: {_first_line(err, 200)}") from None
    return config


def _tensors_for_saving(net: nn.Module, dtype: torch.dtype) -> dict[str, Tensor]:
    tensors = {}
    for name, value in net.state_dict().items():
        t = value.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous()
    bad = _non_finite(tensors)
    if bad:
        kind = "float16" if dtype == torch.float16 else "float32"
        raise ConfigError(f"cannot save: non-finite {kind} weights in {_listing(bad)}")
    return tensors


def _atomic_save(tensors: dict[str, Tensor], metadata: dict[str, str], path: Path) -> None:
    from safetensors.torch import save_file

    from .io import temp_file_beside

    tmp = temp_file_beside(path)  # with the permissions of a plain open()
    mode = os.stat(tmp).st_mode
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, mode)  # save_file recreates the file as 0600
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if type(err).__name__ == "SafetensorError":  # its I/O errors (a full disk) are not OSErrors
            raise OSError(errno.EIO, _message(err), str(path)) from None
        raise


# ---------------------------------------------------------------------------- loading
def load_model(
    path: PathLike, device: str | torch.device = "cpu", task: str | None = None
) -> nn.Module:
    """Load a model file as a network in eval mode, with ``net.irsde_config``.

    Args:
        path: a ``.safetensors`` file written by :func:`save_model` (or any safetensors
            file with reference key names), a reference ``.pth`` checkpoint, or the name
            of an embedded model (``"denoise"``; an existing file of that name wins).
        device: where to put the network.
        task: fills in the task and its reference SDE settings when the file has none
            (reference checkpoints never do).

    Raises:
        ModelLoadError: missing, unreadable, unsafe or mismatching file.
    """
    from .weights import resolve_model

    path = resolve_model(path)
    state, config = read_model_file(path)
    if config["sde"] is None and task is not None:
        from .tasks import get_task

        t = get_task(task)
        config.update(task=t.name, sde=t.sde, sampler=config["sampler"] or SAMPLER_DEFAULTS)
    net = _instantiate(config, state, path)
    net.irsde_config = config
    net = net.to(device).eval()
    if next(net.parameters()).device.type == "cpu":
        net = net.to(memory_format=torch.channels_last)  # measurably faster on CPU
    return net


def read_model_file(path: PathLike) -> tuple[dict[str, Tensor], ModelConfig]:
    """The (state_dict, config) of a model file, without building the network."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelLoadError(f"not a model file: {path}")
    if _is_safetensors(path):
        return _read_safetensors(path)
    return _read_pth(path)


def _is_safetensors(path: Path) -> bool:
    """Sniff the safetensors layout: 8-byte little-endian header length, then ``{``."""
    with open(path, "rb") as f:
        head = f.read(9)
    if path.suffix.lower() == ".safetensors":
        return True
    return len(head) == 9 and head[8:9] == b"{"


def _read_safetensors(path: Path) -> tuple[dict[str, Tensor], ModelConfig]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as err:  # safetensors raises its own error type and OSError
        raise ModelLoadError(
            f"cannot read {path}: corrupt or truncated safetensors file ({_first_line(err)})"
        ) from None
    raw = metadata.get(METADATA_KEY)
    if raw is None:
        return state, _inferred_config(state, path, source="safetensors")
    return state, ModelConfig.from_metadata(raw, path)


def load_pickled_weights(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, torch's warnings silenced (a
    refused file is one line, not torch's chatter first); :class:`ModelLoadError` when
    the file is unsafe (needs code to unpickle), corrupt or not a PyTorch file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower():
            raise ModelLoadError(
                f"refusing to load {path}: unpickling it needs arbitrary code "
                f"({_unsafe_reason(err)}); only plain weight files are accepted"
            ) from None
        raise ModelLoadError(
            f"cannot read {path}: corrupt or truncated checkpoint ({_first_line(err)})"
        ) from None
    except Exception as err:  # zip, EOF and format errors from torch.load
        raise ModelLoadError(
            f"cannot read {path}: corrupt, truncated or not a PyTorch checkpoint ({_first_line(err)})"
        ) from None


def _read_pth(path: Path) -> tuple[dict[str, Tensor], ModelConfig]:
    obj = load_pickled_weights(path)
    state = _strip_prefixes(_find_state_dict(obj, path))
    return state, _inferred_config(state, path, source="reference-pth")


def _unsafe_reason(err: Exception) -> str:
    """The offending global named in torch's weights-only error, if any."""
    m = re.search(r"(?:unsupported|Unsupported global:) GLOBAL ([\w.]+)", str(err))
    if m:
        return f"it calls {m.group(1)}"
    m = re.search(r"Unsupported operand \d+", str(err))
    return m.group(0) if m else "not a plain tensor container"


def _find_state_dict(obj: Any, path: Path, depth: int = 0) -> dict[str, Tensor]:
    if isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        return {str(k): v for k, v in obj.items()}
    if isinstance(obj, Mapping) and depth < 3:
        for key in WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return _find_state_dict(obj[key], path, depth + 1)
        top = ", ".join(map(str, list(obj)[:5])) or "none"
        raise ModelLoadError(f"{path}: no state_dict of tensors found (top-level keys: {top})")
    raise ModelLoadError(f"{path}: expected a state_dict, found {type(obj).__name__}")


def _strip_prefixes(state: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in STRIP_PREFIXES:
                if key.startswith(prefix):
                    key, changed = key[len(prefix) :], True
        out[key] = value
    return out


# ---------------------------------------------------------------- architecture inference
def _inferred_config(state: dict[str, Tensor], path: Path, source: str) -> ModelConfig:
    """The config of weights without metadata: architecture detected, nothing else known."""
    try:
        arch, params = infer_architecture(state)
    except (ValueError, IndexError, KeyError) as err:
        raise ModelLoadError(f"{path}: {_message(err)}") from None
    return ModelConfig(
        arch=arch,
        arch_params=params,
        provenance={"file": path.name},
        source=source,
        dtype=_dtype_name(state),
    )


def _dtype_name(state: Mapping[str, Tensor]) -> str:
    dtypes = {str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()}
    return ",".join(sorted(dtypes)) or "none"


# ------------------------------------------------------------------ building and checks
def _instantiate(config: ModelConfig, state: dict[str, Tensor], path: Path) -> nn.Module:
    """Build the network on the meta device and assign the checked float32 weights."""
    arch, params = config["arch"], config["arch_params"]
    _check_params_match(arch, params, state, path)
    try:
        with torch.device("meta"):
            net = build_network(arch, **params)
    except Exception as err:  # untrusted parameters: any constructor error is a refusal
        msg = _first_line(err)
        raise ModelLoadError(f"{path}: invalid parameters for {arch} {params}: {msg}") from None
    check_state_dict(net, state, f"{path} ({arch} {_brief(params)})")
    not_float = [k for k, v in state.items() if not v.is_floating_point()]
    if not_float:
        raise ModelLoadError(f"{path}: non-floating-point weights in {_listing(not_float)}")
    bad = _non_finite(state)
    if bad:
        raise ModelLoadError(f"{path}: non-finite (NaN/inf) weights in {_listing(bad)}")
    state = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    net.load_state_dict(state, strict=True, assign=True)
    return net


#: largest whole number a network's hyper-parameters may hold (widths, block counts)
MAX_PARAM_INT = 65_536


def check_network_params(arch: str, params: Mapping[str, Any], what: str) -> None:
    """Refuse (:class:`ModelLoadError` naming ``what``) hyper-parameters that
    :func:`load_model` would refuse once saved: the network must build (on the meta
    device: no memory) and its own weights must read back as the same parameters."""
    ints = [v for v in _leaves(params) if isinstance(v, int) and not isinstance(v, bool)]
    if any(not 0 <= v <= MAX_PARAM_INT for v in ints):
        raise ModelLoadError(
            f"{what}: invalid parameters for {arch} {dict(params)}: whole numbers must be "
            f"in 0..{MAX_PARAM_INT}"
        )
    try:
        with torch.device("meta"):
            net = build_network(arch, **params)
    except Exception as err:  # untrusted parameters: any constructor error is a refusal
        msg = _first_line(err)
        raise ModelLoadError(
            f"{what}: invalid parameters for {arch} {dict(params)}: {msg}"
        ) from None
    _check_params_match(arch, params, _bare(net).state_dict(), Path(what))


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _leaves(v)]
    return [value]


def _bare(net: nn.Module) -> nn.Module:
    from .nets import unwrap

    return unwrap(net)


def _check_params_match(
    arch: str, params: Mapping, state: Mapping[str, Tensor], path: Path
) -> None:
    """Refuse metadata whose hyper-parameters disagree with the tensors' keys and shapes.

    Checked before building, so that a small file whose metadata asks for millions of
    blocks is refused at once rather than built.
    """
    try:
        found, inferred = infer_architecture(state)
    except (ValueError, IndexError, KeyError) as err:
        raise ModelLoadError(
            f"{path}: the weights are not a {arch} network ({_message(err)})"
        ) from None
    if found != arch:
        raise ModelLoadError(f"{path}: the metadata says {arch} but the weights are a {found}")
    wrong = [
        f"{k}={params[k]!r} (weights: {v!r})"
        for k, v in inferred.items()
        if k in params and _plain(params[k]) != _plain(v)
    ]
    if wrong:
        raise ModelLoadError(
            f"{path}: metadata arch_params do not match the weights: {_listing(wrong)}"
        )


def _plain(value: Any) -> Any:
    """A value with tuples as lists, for comparing JSON metadata with inferred values."""
    return [_plain(v) for v in value] if isinstance(value, list | tuple) else value


def check_state_dict(net: nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    """Raise a one-line :class:`ModelLoadError` unless ``state`` matches ``net`` exactly."""
    missing, unexpected, wrong_keys = state_dict_mismatch(net, state)
    own = net.state_dict()
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in wrong_keys]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch (file vs network): {_listing(wrong)}")
    if problems:
        raise ModelLoadError(f"{what}: weights do not match the network; " + "; ".join(problems))


def _non_finite(state: Mapping[str, Tensor]) -> list[str]:
    return [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f" (+{more} more)" if more > 0 else "")


def _brief(params: Mapping) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _message(err: BaseException) -> str:
    """An exception's message (a ``KeyError``'s without its quotes)."""
    return str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)


def _first_line(err: BaseException, limit: int = 120) -> str:
    """``Type: first sentence`` of an exception message, kept short."""
    text = str(err).strip().splitlines()
    if not text:
        return type(err).__name__
    first = text[0].split(". ")[0]
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    return f"{type(err).__name__}: {first}"
