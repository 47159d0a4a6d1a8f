"""Heat-map display: a per-pixel distance map turned into colours, and its colour bar.

The map itself (LPIPS per pixel) comes from the engine; this module only maps
values to colours. The palette is matplotlib's "inferno" (perceptually uniform,
readable in grey; van der Walt & Smith, 2015) sampled at nine stops and
interpolated linearly: black-purple = small distance, yellow = large distance.
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

__all__ = ["INFERNO_STOPS", "colorize", "ColourBar"]

#: matplotlib's inferno at 0, 1/8, ..., 1 (8-bit sRGB).
INFERNO_STOPS = np.array([
    [0, 0, 4], [31, 12, 72], [85, 15, 109], [136, 34, 106], [186, 54, 85],
    [227, 89, 51], [249, 140, 10], [249, 201, 50], [252, 255, 164],
], dtype=np.float32)


def _lut() -> np.ndarray:
    """256 x 3 uint8 lookup table interpolating ``INFERNO_STOPS``."""
    pos = np.linspace(0.0, 1.0, len(INFERNO_STOPS))
    t = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(t, pos, INFERNO_STOPS[:, c]) for c in range(3)], -1).round().astype(np.uint8)


_LUT = _lut()


def colorize(values: np.ndarray, vmax: float | None = None) -> tuple[QImage, float]:
    """Map a 2-D array of non-negative distances to an inferno-coloured QImage.

    Args:
        values: float array (H, W); NaN counts as 0.
        vmax: the value drawn in the top colour; default the 99th percentile
            of ``values`` (so a few outliers do not wash the map out), at
            least 1e-6.

    Returns:
        (``Format_RGB888`` QImage of W x H owning its pixels, the ``vmax`` used).
        Values are clipped to [0, vmax] and linearly mapped to the palette.

    Raises:
        ValueError: ``values`` is not 2-D.
    """
    values = np.asarray(values, dtype=np.float32)
    if values.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {values.shape}")
    values = np.nan_to_num(values, nan=0.0)
    if vmax is None:
        vmax = float(np.percentile(values, 99)) if values.size else 1.0
    vmax = max(float(vmax), 1e-6)
    idx = np.clip(values / vmax * 255.0 + 0.5, 0, 255).astype(np.uint8)
    rgb = np.ascontiguousarray(_LUT[idx])
    h, w = values.shape
    return QImage(rgb.data, w, h, w * 3, QImage.Format.Format_RGB888).copy(), vmax


class ColourBar(QWidget):
    """A vertical colour bar: the palette from 0 (bottom) to ``vmax`` (top),
    labelled, with the metric's name and direction."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vmax = 1.0
        self.label = "LPIPS"
        self.against = ""
        self.setMinimumWidth(104)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """104 pixels wide."""
        return QSize(104, 300)

    def set_range(self, vmax: float, label: str = "LPIPS", against: str = "") -> None:
        """Label the top of the bar ``vmax`` and the bar ``label`` (first line)
        and ``against`` (second line, e.g. "vs reference")."""
        self.vmax, self.label, self.against = float(vmax), label, against
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        fm = painter.fontMetrics()
        top, bottom = fm.height() * 3 + 10, self.height() - fm.height() * 2 - 8
        bar = QRectF(8, top, 18, max(10, bottom - top))
        grad = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for i, (r, g, b) in enumerate(INFERNO_STOPS):
            grad.setColorAt(i / (len(INFERNO_STOPS) - 1), QColor(int(r), int(g), int(b)))
        painter.fillRect(bar, grad)
        painter.setPen(self.palette().text().color())
        painter.drawRect(bar)
        painter.drawText(QRectF(0, 2, self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.label)
        painter.drawText(QRectF(0, 2 + fm.height(), self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.against)
        painter.drawText(QRectF(0, 2 + 2 * fm.height(), self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, "lower is better")
        painter.drawText(QRectF(bar.right() + 4, bar.top() - fm.height() / 2, 60, fm.height()), Qt.AlignmentFlag.AlignLeft, f"≥{self.vmax:.3g}")
        mid = bar.top() + bar.height() / 2
        painter.drawText(QRectF(bar.right() + 4, mid - fm.height() / 2, 60, fm.height()), Qt.AlignmentFlag.AlignLeft, f"{self.vmax / 2:.3g}")
        painter.drawText(QRectF(bar.right() + 4, bar.bottom() - fm.height() / 2, 60, fm.height()), Qt.AlignmentFlag.AlignLeft, "0")
        painter.drawText(QRectF(0, bar.bottom() + 6, self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, "per pixel")
        painter.end()
