"""Tensor <-> QImage conversion, through numpy (no torch maths here)."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

__all__ = ["tensor_to_qimage", "qimage_to_tensor"]


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.nan_to_num(a, nan=0.0) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def tensor_to_qimage(rgb, alpha=None) -> QImage:
    """Convert an engine image to a QImage that owns its pixels.

    Args:
        rgb: float tensor (1, 3, H, W) or (1, 1, H, W) (grey, repeated to RGB),
            any float dtype and device; values in [0, 1] (clamped; NaN -> 0),
            rounded to 8 bits. Only the first image of the batch is used.
        alpha: optional float tensor (1, 1, H, W) in [0, 1], same treatment.

    Returns:
        ``Format_RGB888`` (no alpha) or ``Format_RGBA8888`` QImage of W x H
        pixels (straight, not premultiplied, alpha), a deep copy, so the numpy
        buffer may be freed. Safe to call off the GUI thread.

    Raises:
        ValueError: ``alpha``'s size differs from ``rgb``'s (numpy concatenate).
    """
    chw = rgb.detach().cpu().numpy()[0]
    if chw.shape[0] == 1:
        chw = np.repeat(chw, 3, axis=0)
    hwc = _to_uint8(chw[:3].transpose(1, 2, 0))
    fmt = QImage.Format.Format_RGB888
    if alpha is not None:
        a = _to_uint8(alpha.detach().cpu().numpy()[0, 0])
        hwc = np.concatenate([hwc, a[..., None]], axis=-1)
        fmt = QImage.Format.Format_RGBA8888
    hwc = np.ascontiguousarray(hwc)
    h, w, c = hwc.shape
    return QImage(hwc.data, w, h, w * c, fmt).copy()


def qimage_to_tensor(image: QImage):
    """Convert a QImage to an engine image, e.g. to write it with ``restorer.io``.

    Args:
        image: any format; alpha is dropped (the comparison composites are opaque).

    Returns:
        float32 tensor (1, 3, H, W) holding the 8-bit values ``k / 255`` exactly, so
        ``restorer.io`` writes back the same bytes. Safe to call off the GUI thread.
    """
    import torch

    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = rgb.width(), rgb.height()
    rows = np.frombuffer(rgb.constBits(), np.uint8, count=rgb.sizeInBytes()).reshape(h, rgb.bytesPerLine())
    hwc = rows[:, : w * 3].reshape(h, w, 3)
    return torch.from_numpy(hwc.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
