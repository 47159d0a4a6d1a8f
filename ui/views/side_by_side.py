"""Side by side: before on the left, after on the right, one shared viewport."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QWidget

from ..viewport import Viewport
from .canvas import ImageCanvas, Layer

__all__ = ["SideBySideView"]


class SideBySideView(QWidget):
    """Two :class:`ImageCanvas` panes showing the same region of "before" and "after".

    Attributes:
        before_pane, after_pane: the panes; ``panes`` lists both and
            ``primary`` (the after pane) is the one whose visible region the
            live readouts score.
    """

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.before_pane = ImageCanvas(viewport, self)
        self.after_pane = ImageCanvas(viewport, self)
        self.before_pane.placeholder = "Open an image (File ▸ Open…, or drop files here)"
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.before_pane)
        layout.addWidget(self.after_pane)

    @property
    def panes(self) -> list[ImageCanvas]:
        """Both panes, before first."""
        return [self.before_pane, self.after_pane]

    @property
    def primary(self) -> ImageCanvas:
        """The after pane."""
        return self.after_pane

    def set_content(self, layers: list[Layer], before: Layer | None, after: Layer | None) -> None:
        """Show ``before`` and ``after`` (``layers``, all of them, is unused here)."""
        self.before_pane.set_layer(before)
        self.after_pane.set_layer(after)
