"""Loupe: the "after" picture with a round magnifier under the mouse, split before | after."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

from ..viewport import MAX_ZOOM, Viewport
from .canvas import BACKGROUND, ImageCanvas, Layer, SingleCanvasView, paint_layer

__all__ = ["LoupeCanvas", "LoupeView"]


class LoupeCanvas(ImageCanvas):
    """Shows ``after``; under the mouse, a circle of radius ``radius`` pixels
    shows the spot magnified ``factor`` times more than the pane, its left half
    from ``before`` and its right half from ``after``. Shift+wheel changes the
    magnification (x2 to x16)."""

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(viewport, parent)
        self.before: Layer | None = None
        self.after: Layer | None = None
        self.factor = 4.0
        self.radius = 110.0
        self.loupe_pos: QPointF | None = None
        self.hovered.connect(self._on_hover)
        self.left.connect(self._on_leave)

    def _on_hover(self, pos: QPointF) -> None:
        self.loupe_pos = QPointF(pos)
        self.update()

    def _on_leave(self) -> None:
        self.loupe_pos = None
        self.update()

    def loupe_zoom(self) -> float:
        """Screen pixels per image pixel inside the loupe."""
        return min(self.viewport.zoom * self.factor, MAX_ZOOM)

    def paint_content(self, painter: QPainter) -> None:
        """The after picture, then the loupe at the mouse position."""
        self.layer = self.after
        super().paint_content(painter)
        if self.loupe_pos is None or self.after is None or not self.viewport.has_image():
            return
        pane = self.pane_size()
        spot = self.viewport.to_image(self.loupe_pos, pane)  # image point under the mouse
        r = self.radius
        disk = QRectF(self.loupe_pos.x() - r, self.loupe_pos.y() - r, 2 * r, 2 * r)
        circle = QPainterPath()
        circle.addEllipse(disk)
        zoom = self.loupe_zoom()
        for layer, half in ((self.before, QRectF(disk.x(), disk.y(), r, 2 * r)), (self.after, QRectF(disk.x() + r, disk.y(), r, 2 * r))):
            if layer is None:
                continue
            painter.save()
            clip = QPainterPath()
            clip.addRect(half)
            painter.setClipPath(circle.intersected(clip))
            painter.fillRect(disk, BACKGROUND)
            paint_layer(painter, layer, self.viewport, pane, zoom=zoom, center=spot, target=disk)
            painter.restore()
        painter.save()
        painter.setPen(QPen(QColor(255, 255, 255, 230), 2))
        painter.drawEllipse(disk)
        painter.drawLine(QPointF(disk.center().x(), disk.top()), QPointF(disk.center().x(), disk.bottom()))
        painter.restore()
        self.draw_caption(painter, f"loupe ×{self.factor:g}: before | after", Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            dy = event.angleDelta().y() or event.angleDelta().x()
            self.factor = min(max(self.factor * (2.0 if dy > 0 else 0.5), 2.0), 16.0)
            self.update()
            event.accept()
            return
        super().wheelEvent(event)


class LoupeView(SingleCanvasView):
    """The loupe view: one :class:`LoupeCanvas`."""

    canvas_class = LoupeCanvas

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(viewport, parent)
        self.canvas.setCursor(Qt.CursorShape.CrossCursor)
