"""Heat-map display: a per-pixel distance map as a QImage, and its colour bar.

The colours are the engine's (``restorer.metrics.heatmap``: viridis, the
same as ``python main.py compare --map``). The top of the scale is the 99th
percentile of the map rounded up to a round number (the engine's
``nice_ceiling``) rather than the maximum the CLI uses: on photos a few
hot pixels would otherwise push the whole overlay into the darkest colours.
Values above the top are drawn in the top colour (its tick reads "x+").
The engine (torch) is imported on first use, never at start-up.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QLinearGradient, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from restorer.facts import METRICS

__all__ = ["colorize", "ColourBar"]


def colorize(values, vmax: float | None = None) -> tuple[QImage, float]:
    """Colour a 2-D map of non-negative distances for display.

    Args:
        values: float tensor (H, W), any device (e.g.
            ``RegionMetrics.lpips_map()``); NaN counts as 0.
        vmax: the value drawn in the top colour; default
            ``restorer.metrics.heatmap.nice_ceiling`` of the map's 99th
            percentile (estimated on at most about 1 M evenly spaced pixels).

    Returns:
        (``Format_RGB888`` QImage of W x H owning its pixels, the ``vmax`` used).
        Values are clipped to [0, vmax] and mapped to viridis
        (``restorer.metrics.heatmap.colorize``).

    Raises:
        ValueError: ``values`` is not 2-D.
    """
    import torch

    from restorer.metrics.heatmap import colorize as engine_colorize
    from restorer.metrics.heatmap import nice_ceiling

    from .qimage import tensor_to_qimage

    if values.dim() != 2:
        raise ValueError(f"expected a 2-D map, got shape {tuple(values.shape)}")
    values = torch.nan_to_num(values.detach().float(), nan=0.0)
    if vmax is None:
        flat = values.flatten()
        flat = flat[:: max(1, flat.numel() // 1_000_000)]
        vmax = nice_ceiling(float(torch.quantile(flat, 0.99)) if flat.numel() else 0.0)
    return tensor_to_qimage(engine_colorize(values, vmax)), float(vmax)


class ColourBar(QWidget):
    """A vertical colour bar: the palette from 0 (bottom) to ``vmax`` (top),
    labelled, with the metric's name, what it is measured against, and its
    direction (the map is LPIPS-Alex's)."""

    #: The mapped metric (its direction is the bar's third line).
    metric = METRICS["lpips_alex"]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vmax = 1.0
        self.label = self.metric.name
        self.against = ""
        self.setMinimumWidth(104)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        """104 pixels wide."""
        return QSize(104, 300)

    def set_range(self, vmax: float, label: str = metric.name, against: str = "") -> None:
        """Label the top of the bar ``vmax`` and the bar ``label`` (first line)
        and ``against`` (second line, e.g. "vs reference")."""
        self.vmax, self.label, self.against = float(vmax), label, against
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        from restorer.metrics.heatmap import VIRIDIS  # shown only once a map exists: the engine is loaded

        painter = QPainter(self)
        fm = painter.fontMetrics()
        top, bottom = fm.height() * 3 + 10, self.height() - fm.height() * 2 - 8
        bar = QRectF(8, top, 18, max(10, bottom - top))
        grad = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for i, (r, g, b) in enumerate(VIRIDIS):
            grad.setColorAt(i / (len(VIRIDIS) - 1), QColor(int(r), int(g), int(b)))
        painter.fillRect(bar, grad)
        painter.setPen(self.palette().text().color())
        painter.drawRect(bar)
        painter.drawText(QRectF(0, 2, self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.label)
        painter.drawText(QRectF(0, 2 + fm.height(), self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.against)
        painter.drawText(QRectF(0, 2 + 2 * fm.height(), self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.metric.direction)
        for k in range(5):
            y = bar.bottom() - bar.height() * k / 4
            painter.drawLine(int(bar.right()), int(y), int(bar.right()) + 4, int(y))
            text = f"{self.vmax * k / 4:.3g}" + ("+" if k == 4 else "")
            painter.drawText(QRectF(bar.right() + 7, y - fm.height() / 2, 70, fm.height()), Qt.AlignmentFlag.AlignLeft, text)
        painter.drawText(QRectF(0, bar.bottom() + 6, self.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, "per pixel")
        painter.end()
