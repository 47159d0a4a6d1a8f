"""Shared input checks for the metrics (internal)."""
from __future__ import annotations

import torch

from ..facts import MIN_SIDE


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


def as_rgb(t, name: str) -> "torch.Tensor":
    """Apply the metrics' channel rule to one image tensor.

    Rule: metrics compare RGB. A 1-channel (grayscale) image is repeated on three
    channels (so grayscale vs RGB is allowed); a 4-channel (RGBA) image's alpha is
    dropped (colours compared as stored, not composited); 3 channels pass as they are.

    Args:
        t: (1, C, H, W) tensor with C in {1, 3, 4}, values in [0, 1], any dtype/device.
        name: how the message names the tensor (``"image"``, ``"reference"``...).

    Returns:
        (1, 3, H, W) tensor (a view when possible), same dtype and device.

    Raises:
        ValueError: not a tensor, not 4-D, batch size not 1, or C not in {1, 3, 4}
            (one line giving the shape).
    """
    if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3, 4):
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a (1, 3, H, W) RGB tensor (1-channel grayscale and 4-channel RGBA "
                         f"are accepted), got {shape}")
    if t.shape[1] == 1:
        return t.expand(1, 3, -1, -1)
    return t[:, :3]


def prepare_pair(image, reference, *, min_side: int = MIN_SIDE,
                 names: tuple[str, str] = ("image", "reference")) -> tuple["torch.Tensor", "torch.Tensor"]:
    """Check a full-reference pair against the metrics' input policy.

    Policy: channels as :func:`as_rgb`; the two sizes must be equal (no automatic
    resizing: a metric of a resampled image would not be the metric of the image
    asked about), else a one-line ``ValueError`` naming both sizes; both sides
    at least ``min_side`` pixels.

    Args:
        image, reference: (1, C, H, W) tensors, C in {1, 3, 4}, values in [0, 1].
        min_side: smallest accepted height/width in pixels.
        names: how messages name the two tensors.

    Returns:
        (image, reference) as (1, 3, H, W) tensors (unchanged dtype/device).

    Raises:
        ValueError: bad shape, sizes differ, or smaller than ``min_side``.
    """
    x = as_rgb(image, names[0])
    y = as_rgb(reference, names[1])
    (ih, iw), (rh, rw) = x.shape[-2:], y.shape[-2:]
    if (ih, iw) != (rh, rw):
        hint = ""
        if iw % rw == 0 and ih % rh == 0 and iw // rw == ih // rh > 1:
            hint = f" ({names[0]} is {iw // rw}x larger: for a low-resolution input use the consistency readout, CLI --lr)"
        raise ValueError(f"{names[0]} is {iw}x{ih} but {names[1]} is {rw}x{rh}; sizes must match{hint}")
    if min(ih, iw) < min_side:
        raise ValueError(f"{names[0]} is {iw}x{ih}; the metrics need at least {min_side}x{min_side} pixels")
    return x, y
