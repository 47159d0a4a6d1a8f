"""The comparison workbench: every view mode over one shared viewport, plus the heat-map colour bar.

Modes (``MODES``): side by side, split slider, toggle, loupe and the N-way grid.
The workbench owns the :class:`~ui.viewport.Viewport` and the layers (the
pictures being compared); switching modes keeps zoom and position.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QHBoxLayout, QStackedWidget, QWidget

from ..heatmap import ColourBar
from ..pyramid import ImagePyramid
from ..viewport import ZOOM_STEP, Viewport
from .canvas import ImageCanvas, Layer, Overlay
from .grid import GridView
from .loupe import LoupeView
from .side_by_side import SideBySideView
from .slider import SliderView
from .toggle import ToggleView

__all__ = ["ComparisonWorkbench", "MODES"]

#: Mode key -> menu text.
MODES = {"side": "Side by side", "slider": "Slider", "toggle": "Toggle", "loupe": "Loupe", "grid": "Grid"}


class ComparisonWorkbench(QWidget):
    """All view modes in a stack, sharing one viewport and one set of layers.

    Signals:
        mode_changed(str): the mode key (a key of ``MODES``).
    """

    mode_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewport = Viewport(self)
        self.stack = QStackedWidget(self)
        self.views = {
            "side": SideBySideView(self.viewport, self),
            "slider": SliderView(self.viewport, self),
            "toggle": ToggleView(self.viewport, self),
            "loupe": LoupeView(self.viewport, self),
            "grid": GridView(self.viewport, self),
        }
        for view in self.views.values():
            self.stack.addWidget(view)
        self.colour_bar = ColourBar(self)
        self.colour_bar.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.colour_bar)
        self._mode = "side"
        self._layers: list[Layer] = []
        self.before_key: str | None = None
        self.after_key: str | None = None
        self._overlay: tuple[str, Overlay] | None = None
        self._heat_visible = False
        self._heat_opacity = 0.6
        self._connected: set[int] = set()
        self._connect_panes()

    # ------------------------------------------------------------------ state
    @property
    def mode(self) -> str:
        """The current mode key."""
        return self._mode

    @property
    def current_view(self) -> QWidget:
        """The widget of the current mode."""
        return self.views[self._mode]

    @property
    def primary_pane(self) -> ImageCanvas:
        """The pane whose visible region the live readouts score (the "after" pane)."""
        return self.current_view.primary

    @property
    def layers(self) -> list[Layer]:
        """The layers, in display order (the grid's order)."""
        return list(self._layers)

    def layer(self, key: str | None) -> Layer | None:
        """The layer with this key, or None."""
        return next((layer for layer in self._layers if layer.key == key), None)

    def has_image(self) -> bool:
        """True when something is shown."""
        return bool(self._layers) and self.viewport.has_image()

    # ---------------------------------------------------------------- content
    def set_layers(self, layers: list[Layer], before_key: str | None, after_key: str | None,
                   image_size: tuple[int, int]) -> None:
        """Show ``layers`` (grid order); ``before_key``/``after_key`` name the two
        compared in the other modes; ``image_size`` (width, height) is the
        viewport's image size (the output size). The visible region is kept
        across size changes (see :meth:`Viewport.set_image_size`)."""
        self._layers = list(layers)
        self.before_key, self.after_key = before_key, after_key
        if self._overlay is not None and self.layer(self._overlay[0]) is not None:
            self.layer(self._overlay[0]).overlay = self._overlay[1]
        self.viewport.set_image_size(*image_size, pane=self.primary_pane.pane_size())
        self._refresh()

    def set_pair(self, before_key: str | None, after_key: str | None) -> None:
        """Choose which two layers the side-by-side, slider, toggle and loupe modes compare."""
        self.before_key, self.after_key = before_key, after_key
        self._refresh()

    def clear(self) -> None:
        """Remove every layer and the heat map."""
        self._layers, self.before_key, self.after_key = [], None, None
        self.set_overlay(None, None)
        self.viewport.clear()
        self._refresh()

    def add_tile(self, key: str, rect: QRectF, image: QImage) -> None:
        """Lay a live piece (``rect`` in image pixels) over layer ``key`` and repaint."""
        layer = self.layer(key)
        if layer is None:
            return
        layer.tiles.append((QRectF(rect), image))
        for pane in self.current_view.panes:
            pane.update()

    # --------------------------------------------------------------- heat map
    def set_overlay(self, key: str | None, pyramid: ImagePyramid | None, vmax: float = 1.0,
                    label: str = ColourBar.metric.name, against: str = "") -> None:
        """Lay the colourised heat map ``pyramid`` over layer ``key`` (None removes it);
        the colour bar reads 0 .. ``vmax`` and is titled ``label`` / ``against``."""
        for layer in self._layers:
            layer.overlay = None
        self._overlay = None
        if key is not None and pyramid is not None:
            overlay = Overlay(pyramid, self._heat_opacity, self._heat_visible)
            self._overlay = (key, overlay)
            if self.layer(key) is not None:
                self.layer(key).overlay = overlay
            self.colour_bar.set_range(vmax, label, against)
        self._update_colour_bar()
        self._repaint()

    def has_overlay(self) -> bool:
        """True when a heat map is loaded (shown or not)."""
        return self._overlay is not None

    @property
    def heat_visible(self) -> bool:
        """Whether the heat map is drawn."""
        return self._heat_visible

    @property
    def heat_opacity(self) -> float:
        """The heat map's opacity in [0, 1]."""
        return self._heat_opacity

    def set_heat_visible(self, visible: bool) -> None:
        """Show or hide the heat map and its colour bar."""
        self._heat_visible = bool(visible)
        if self._overlay is not None:
            self._overlay[1].visible = self._heat_visible
        self._update_colour_bar()
        self._repaint()

    def set_heat_opacity(self, opacity: float) -> None:
        """Set the heat map's opacity (clamped to [0, 1])."""
        self._heat_opacity = min(max(float(opacity), 0.0), 1.0)
        if self._overlay is not None:
            self._overlay[1].opacity = self._heat_opacity
        self._repaint()

    def _update_colour_bar(self) -> None:
        self.colour_bar.setVisible(self._heat_visible and self._overlay is not None)

    # ------------------------------------------------------------------- mode
    def set_mode(self, mode: str) -> None:
        """Switch to ``mode`` (a key of ``MODES``); zoom and position are kept.

        Raises:
            KeyError: unknown mode.
        """
        if mode not in self.views:
            raise KeyError(f"unknown view mode {mode!r}; use one of {', '.join(MODES)}")
        self._mode = mode
        self.stack.setCurrentWidget(self.views[mode])
        self._refresh()
        if self.viewport.fit_mode:
            self.fit()
        self.current_view.panes[0].setFocus()
        self.mode_changed.emit(mode)

    # ------------------------------------------------------------------- zoom
    def fit(self) -> None:
        """Fit the image to the panes (kept on resize)."""
        self.viewport.fit(self.primary_pane.pane_size())

    def actual_size(self) -> None:
        """1:1."""
        self.viewport.actual_size()

    def zoom_in(self) -> None:
        """Zoom in one step around the centre."""
        self.viewport.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        """Zoom out one step around the centre."""
        self.viewport.zoom_by(1 / ZOOM_STEP)

    def visible_region(self) -> tuple[int, int, int, int] | None:
        """The image box the primary pane shows, ``(x0, y0, x1, y1)`` in integer
        image pixels (x1, y1 exclusive, clipped to the image); None when nothing
        is visible."""
        if not self.viewport.has_image():
            return None
        r = self.viewport.visible_rect(self.primary_pane.pane_size())
        if r.isEmpty():
            return None
        size = self.viewport.image_size
        x0, y0 = max(0, math.floor(r.left())), max(0, math.floor(r.top()))
        x1, y1 = min(int(size.width()), math.ceil(r.right())), min(int(size.height()), math.ceil(r.bottom()))
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    # --------------------------------------------------------------- internal
    def _refresh(self) -> None:
        view = self.current_view
        view.set_content(self._layers, self.layer(self.before_key), self.layer(self.after_key))
        self._connect_panes()
        self._repaint()

    def _repaint(self) -> None:
        for pane in self.current_view.panes:
            pane.update()

    def _connect_panes(self) -> None:
        for view in self.views.values():
            for pane in view.panes:
                if id(pane) not in self._connected:
                    self._connected.add(id(pane))
                    pane.resized.connect(self._on_pane_resized)

    def _on_pane_resized(self) -> None:
        if self.viewport.fit_mode and self.viewport.has_image() and self.sender() is self.primary_pane:
            self.fit()
