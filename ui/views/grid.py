"""N-way grid: every picture of the comparison (bicubic, model A, model B, reference ...) in one viewport."""
from __future__ import annotations

import math

from PySide6.QtWidgets import QGridLayout, QWidget

from ..viewport import Viewport
from .canvas import ImageCanvas, Layer

__all__ = ["GridView"]


class GridView(QWidget):
    """One :class:`ImageCanvas` per layer, ``ceil(sqrt(N))`` columns, all
    sharing the viewport (pan or zoom one, all follow)."""

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewport = viewport
        self._layout = QGridLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._panes: list[ImageCanvas] = []
        self._after_key: str | None = None
        self.set_content([], None, None)

    @property
    def panes(self) -> list[ImageCanvas]:
        """The panes, in layer order."""
        return list(self._panes)

    @property
    def primary(self) -> ImageCanvas:
        """The pane of the current "after" picture (else the first pane)."""
        for pane in self._panes:
            if pane.layer is not None and pane.layer.key == self._after_key:
                return pane
        return self._panes[0]

    def set_content(self, layers: list[Layer], before: Layer | None, after: Layer | None) -> None:
        """Show every layer of ``layers`` (one empty pane when there are none)."""
        self._after_key = after.key if after is not None else None
        wanted = max(1, len(layers))
        while len(self._panes) > wanted:
            pane = self._panes.pop()
            self._layout.removeWidget(pane)
            pane.deleteLater()
        while len(self._panes) < wanted:
            pane = ImageCanvas(self._viewport, self)
            pane.placeholder = "Nothing to compare yet"
            pane.resized.connect(self._relay_resize)
            self._panes.append(pane)
        cols = max(1, math.ceil(math.sqrt(wanted)))
        for i, pane in enumerate(self._panes):
            self._layout.addWidget(pane, i // cols, i % cols)
            pane.set_layer(layers[i] if i < len(layers) else None)
            pane.show()
        for c in range(cols):
            self._layout.setColumnStretch(c, 1)
        self._layout.activate()  # panes get their sizes now (the workbench fits to them)

    def _relay_resize(self) -> None:
        self.update()
