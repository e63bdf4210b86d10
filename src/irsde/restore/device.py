"""Device policy: which device runs the network, and which autocast dtype it may use."""

from __future__ import annotations

import logging
import os

import torch

from ..errors import UsageError

log = logging.getLogger(__name__)

#: autocast modes by name (``None``: full precision)
AMP_DTYPES: dict[str | None, torch.dtype | None] = {
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    None: None,
}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA (``cuda:$LOCAL_RANK`` under torchrun) > MPS > CPU."""
    if isinstance(device, torch.device):
        return device
    local = os.environ.get("LOCAL_RANK")
    if device in ("auto", "cuda"):
        if torch.cuda.is_available():
            return torch.device(f"cuda:{int(local or 0) % torch.cuda.device_count()}")
        if device == "cuda":
            raise UsageError("--device cuda was asked for but CUDA is not available")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; use cpu, cuda, cuda:N, mps or auto") from None
    check_servable(dev, device)
    return dev


def check_servable(dev: torch.device, asked: str) -> None:
    """Raise :class:`UsageError` (one line) for a device this machine cannot run on."""
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {asked} was asked for but CUDA is not available")
        if dev.index is not None and dev.index >= count:
            raise UsageError(f"--device {asked}: this machine has {count} CUDA device(s)")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise UsageError(f"--device {asked} was asked for but MPS is not available")
    elif dev.type != "cpu":
        raise UsageError(
            f"--device {asked}: cannot run on {dev.type}; use cpu, cuda, cuda:N, mps or auto"
        )


def native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (else autocast emulates it, slowly)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(amp: str | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of mode ``amp`` (``"bf16"``, ``"fp16"`` or None) on ``device``.

    Raises :class:`UsageError` for a mode the device cannot run; warns when a CPU
    emulates bf16.
    """
    dtype = AMP_DTYPES.get(amp)
    if amp is not None and dtype is None:
        raise UsageError(f"unknown amp mode {amp!r}; use bf16 or fp16")
    if amp == "fp16" and device.type == "cpu":
        raise UsageError("fp16 autocast is for CUDA; on a CPU use bf16")
    if amp == "bf16" and device.type == "cpu" and not native_bf16():
        log.warning("this CPU has no native bf16 (AVX512-BF16/AMX): --amp bf16 may be slower")
    if amp is not None and device.type not in ("cpu", "cuda"):
        raise UsageError(f"autocast is supported on CPU and CUDA, not {device.type}")
    return dtype
