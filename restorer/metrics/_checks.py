"""Shared input checks for the metrics (internal)."""
from __future__ import annotations

import torch


def check_pair(x: torch.Tensor, y: torch.Tensor, *, channels: int | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` and ``y`` are equal-shaped (N, C, H, W) tensors.

    Args:
        x, y: the image under test and the reference (any dtype; values unchecked).
        channels: when given, the required C.

    Raises:
        ValueError: not a ``torch.Tensor``, not 4-D, wrong channel count, or
            shapes differ; one line giving the shape(s).
    """
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 4:
            raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(t.shape)}")
        if channels is not None and t.shape[1] != channels:
            raise ValueError(f"{name} must have {channels} channels, got shape {tuple(t.shape)}")
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}; they must match")
