"""Where a generator runs and in what precision (DESIGN.md section 1).

``auto`` picks CUDA, then MPS, then the CPU. Generators may run in fp16/bf16 on a GPU;
a precision the device or the model does not support falls back to fp32 with a warning.
Metrics always run in fp32 (:mod:`restorer.metrics`).
"""
from __future__ import annotations

import gc
import warnings

import torch

from .facts import PRECISIONS

__all__ = ["pick_device", "available_devices", "pick_dtype", "model_dtype", "release_cache"]


def pick_device(name: str = "auto") -> torch.device:
    """Return a torch device for ``"auto"`` (CUDA, then MPS, then CPU), ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Args:
        name: device name; anything ``torch.device`` parses is accepted.

    Returns:
        The ``torch.device`` (``"auto"`` gives an index-less ``cuda``/``mps``/``cpu``).

    Raises:
        ValueError: CUDA or MPS requested but not available here, a torch
            device type other than cpu/cuda/mps (e.g. ``"meta"``), or a name
            torch cannot parse (e.g. ``"gpu"``).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available")
    if dev.type == "mps" and not _mps_available():
        raise ValueError("device 'mps' requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return dev


def available_devices() -> list[str]:
    """The device names :func:`pick_device` accepts here, for a device list: ``auto``, ``cpu``,
    then ``cuda`` (and ``cuda:N`` for each GPU when there are several) and ``mps`` where available."""
    names = ["auto", "cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        names += ["cuda"] + ([f"cuda:{i}" for i in range(n)] if n > 1 else [])
    if _mps_available():
        names.append("mps")
    return names


def _mps_available() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_dtype(precision: str, device: torch.device, supports_half: bool = True, supports_bf16: bool = True) -> torch.dtype:
    """Choose the generator's dtype.

    ``auto``: fp16 on CUDA when the model supports it, else fp32 (also on MPS).
    ``fp16``/``bf16`` on a CPU fall back to fp32 with a warning (CPU
    half-precision convolutions are slow or unsupported); unsupported by the
    model also falls back to fp32 with a warning.

    Args:
        precision: one of :data:`restorer.facts.PRECISIONS` (``"auto"``, ``"fp32"``, ``"fp16"``, ``"bf16"``).
        device: where the model will run.
        supports_half, supports_bf16: the model's capabilities (spandrel's
            ``supports_half`` / ``supports_bfloat16``).

    Returns:
        ``torch.float32``, ``torch.float16`` or ``torch.bfloat16``.

    Raises:
        ValueError: unknown precision name.

    Warns:
        UserWarning: a requested half precision falls back to fp32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}")
    if precision == "fp32":
        return torch.float32
    if precision == "auto":
        return torch.float16 if device.type == "cuda" and supports_half else torch.float32
    if device.type == "cpu":
        warnings.warn(f"{precision} requested on the CPU: running in fp32", stacklevel=2)
        return torch.float32
    if precision == "fp16":
        if supports_half:
            return torch.float16
    elif supports_bf16:
        return torch.bfloat16
    warnings.warn(f"model does not support {precision}: running in fp32", stacklevel=2)
    return torch.float32


def model_dtype(model, precision: str, device: torch.device) -> torch.dtype:
    """:func:`pick_dtype` for a spandrel descriptor, from its ``supports_half`` and
    ``supports_bfloat16`` (False when it does not say)."""
    return pick_dtype(precision, device, getattr(model, "supports_half", False),
                      getattr(model, "supports_bfloat16", False))


def release_cache(device: torch.device) -> None:
    """Free what can be freed after an out-of-memory error: collect garbage, and on CUDA
    hand the caching allocator's unused blocks back to the driver."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
