"""Split slider: one pane, before on one side of a draggable divider, after on the other."""
from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ..viewport import Viewport
from .canvas import ImageCanvas, Layer, SingleCanvasView, paint_layer

__all__ = ["SliderCanvas", "SliderView"]

#: How close (pixels) to the divider a press grabs it instead of panning.
GRAB_DISTANCE = 8


class SliderCanvas(ImageCanvas):
    """A pane split by a divider: ``before`` left of (or above) it, ``after`` right of (or below) it.

    Drag the divider to move it (anywhere else drags the picture). The
    divider's position is a fraction of the pane's width (or height, when
    ``orientation`` is vertical), so it stays put on the screen while zooming.

    Signals:
        position_changed(float): the divider's new position in [0, 1].
    """

    position_changed = Signal(float)

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(viewport, parent)
        self.before: Layer | None = None
        self.after: Layer | None = None
        self.position = 0.5
        self.orientation = Qt.Orientation.Horizontal  # divider moves along x
        self._dragging_divider = False

    def set_position(self, position: float) -> None:
        """Move the divider to ``position`` (clamped to [0, 1])."""
        self.position = min(max(float(position), 0.0), 1.0)
        self.position_changed.emit(self.position)
        self.update()

    def set_orientation(self, orientation: Qt.Orientation) -> None:
        """``Horizontal``: a vertical line moving left/right; ``Vertical``: a
        horizontal line moving up/down."""
        self.orientation = orientation
        self.update()

    def divider_pixel(self) -> float:
        """The divider's coordinate in pane pixels (x, or y when vertical)."""
        extent = self.width() if self.orientation == Qt.Orientation.Horizontal else self.height()
        return self.position * extent

    def split_rects(self) -> tuple[QRectF, QRectF]:
        """(before part, after part) of the pane, in pane pixels."""
        d = self.divider_pixel()
        w, h = float(self.width()), float(self.height())
        if self.orientation == Qt.Orientation.Horizontal:
            return QRectF(0, 0, d, h), QRectF(d, 0, w - d, h)
        return QRectF(0, 0, w, d), QRectF(0, d, w, h - d)

    def paint_content(self, painter: QPainter) -> None:
        """Before clipped to its side, after to the other, then the divider and captions."""
        if self.after is None or not self.viewport.has_image():
            self.draw_caption(painter, self.placeholder, Qt.AlignmentFlag.AlignCenter)
            return
        first, second = self.split_rects()
        for layer, rect in ((self.before, first), (self.after, second)):
            if layer is None or rect.isEmpty():
                continue
            painter.save()
            painter.setClipRect(rect)
            paint_layer(painter, layer, self.viewport, self.pane_size())
            painter.restore()
        d = self.divider_pixel()
        horizontal = self.orientation == Qt.Orientation.Horizontal
        line = QLineF(d, 0, d, self.height()) if horizontal else QLineF(0, d, self.width(), d)
        painter.setPen(QPen(QColor(255, 255, 255, 220), 2))
        painter.drawLine(line)
        handle = QPointF(d, self.height() / 2) if horizontal else QPointF(self.width() / 2, d)
        painter.setBrush(QColor(255, 255, 255, 220))
        painter.drawEllipse(handle, 7, 7)
        align = Qt.AlignmentFlag.AlignTop
        if self.before is not None:
            self.draw_caption(painter, "◂ " + self.before.title, align | Qt.AlignmentFlag.AlignLeft)
        self.draw_caption(painter, self.after.title + " ▸", align | Qt.AlignmentFlag.AlignRight)

    def _near_divider(self, pos: QPointF) -> bool:
        coord = pos.x() if self.orientation == Qt.Orientation.Horizontal else pos.y()
        return abs(coord - self.divider_pixel()) <= GRAB_DISTANCE

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self._near_divider(event.position()):
            self._dragging_divider = True
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        if self._dragging_divider:
            horizontal = self.orientation == Qt.Orientation.Horizontal
            extent = max(1, self.width() if horizontal else self.height())
            self.set_position((pos.x() if horizontal else pos.y()) / extent)
            return
        if self._drag is None:
            split = Qt.CursorShape.SplitHCursor if self.orientation == Qt.Orientation.Horizontal else Qt.CursorShape.SplitVCursor
            self.setCursor(split if self._near_divider(pos) else Qt.CursorShape.OpenHandCursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self._dragging_divider and event.button() == Qt.MouseButton.LeftButton:
            self._dragging_divider = False
            return
        super().mouseReleaseEvent(event)


class SliderView(SingleCanvasView):
    """The split-slider view: one :class:`SliderCanvas`."""

    canvas_class = SliderCanvas
