"""Toggle: one pane showing "after"; hold Space to flip to "before" (release to flip back)."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QWidget

from ..viewport import Viewport
from .canvas import ImageCanvas, Layer, SingleCanvasView

__all__ = ["ToggleCanvas", "ToggleView", "TOGGLE_KEY"]

#: The key to hold for "before".
TOGGLE_KEY = Qt.Key.Key_Space


class ToggleCanvas(ImageCanvas):
    """Shows ``after``; while ``TOGGLE_KEY`` is held (or the right button is
    pressed) shows ``before`` in the same place.

    Signals:
        flipped_changed(bool): True while "before" is shown.
    """

    flipped_changed = Signal(bool)

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(viewport, parent)
        self.before: Layer | None = None
        self.after: Layer | None = None
        self.flipped = False

    def set_flipped(self, flipped: bool) -> None:
        """Show "before" (True) or "after" (False)."""
        if flipped != self.flipped:
            self.flipped = flipped
            self.flipped_changed.emit(flipped)
        self.set_layer(self.before if flipped else self.after)

    def paint_content(self, painter: QPainter) -> None:
        """The current side, captioned with a hint."""
        super().paint_content(painter)
        if self.layer is not None and self.viewport.has_image():
            self.draw_caption(painter, "hold Space: before" if not self.flipped else "release Space: after",
                              Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() == TOGGLE_KEY:
            if not event.isAutoRepeat():
                self.set_flipped(True)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() == TOGGLE_KEY:
            if not event.isAutoRepeat():
                self.set_flipped(False)
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.RightButton:
            self.set_flipped(True)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.RightButton:
            self.set_flipped(False)
            event.accept()
            return
        super().mouseReleaseEvent(event)


class ToggleView(SingleCanvasView):
    """The toggle view: one :class:`ToggleCanvas`."""

    canvas_class = ToggleCanvas

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(viewport, parent)
        self.setFocusProxy(self.canvas)

    def set_content(self, layers: list[Layer], before: Layer | None, after: Layer | None) -> None:
        """Flip between ``before`` and ``after``."""
        self.canvas.before, self.canvas.after = before, after
        self.canvas.set_flipped(self.canvas.flipped)
