"""The one shared viewport (zoom and pan) behind every image pane.

All panes of the comparison workbench (side by side, slider, toggle, loupe,
grid) draw the same region because they all read one :class:`Viewport`: a zoom
factor and the image point at the centre of each pane. Coordinates are *image
pixels* of the comparison's output size (the restored image's size); a pane of
size (W, H) maps image point ``p`` to screen point ``(p - centre) * zoom +
(W / 2, H / 2)``.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QPointF, QRectF, QSizeF, Signal

__all__ = ["Viewport", "MIN_ZOOM", "MAX_ZOOM", "ZOOM_STEP"]

#: Zoom limits (screen pixels per image pixel) and the factor per wheel notch / zoom action.
MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
ZOOM_STEP = 1.25


class Viewport(QObject):
    """Shared zoom and centre of all panes.

    Signals:
        changed(): zoom or centre changed (panes repaint, readouts are scheduled).
        zoom_changed(float): the zoom factor (1.0 = one image pixel per screen pixel).
    """

    changed = Signal()
    zoom_changed = Signal(float)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._size = QSizeF()  # image size in image pixels
        self._zoom = 1.0
        self._center = QPointF()
        self._fit_mode = True

    # ------------------------------------------------------------- properties
    @property
    def image_size(self) -> QSizeF:
        """The image size (width, height) in image pixels; empty when no image."""
        return QSizeF(self._size)

    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel, in [MIN_ZOOM, MAX_ZOOM]."""
        return self._zoom

    @property
    def center(self) -> QPointF:
        """The image point shown at the centre of every pane (image pixels)."""
        return QPointF(self._center)

    @property
    def fit_mode(self) -> bool:
        """True while the image is kept fitted to the panes (after :meth:`fit`)."""
        return self._fit_mode

    def has_image(self) -> bool:
        """True when an image size is set."""
        return not self._size.isEmpty()

    # ---------------------------------------------------------------- mapping
    def to_screen(self, p: QPointF, pane: QSizeF) -> QPointF:
        """Image point -> pane point (pixels) for a pane of size ``pane``."""
        return QPointF((p.x() - self._center.x()) * self._zoom + pane.width() / 2,
                       (p.y() - self._center.y()) * self._zoom + pane.height() / 2)

    def to_image(self, q: QPointF, pane: QSizeF) -> QPointF:
        """Pane point (pixels) -> image point for a pane of size ``pane``."""
        return QPointF((q.x() - pane.width() / 2) / self._zoom + self._center.x(),
                       (q.y() - pane.height() / 2) / self._zoom + self._center.y())

    def visible_rect(self, pane: QSizeF, clip: bool = True) -> QRectF:
        """The image rectangle a pane of size ``pane`` shows (image pixels),
        clipped to the image when ``clip``."""
        tl = self.to_image(QPointF(0, 0), pane)
        rect = QRectF(tl, QSizeF(pane.width() / self._zoom, pane.height() / self._zoom))
        return rect.intersected(QRectF(QPointF(0, 0), self._size)) if clip else rect

    # ---------------------------------------------------------------- changes
    def set_image_size(self, width: float, height: float, pane: QSizeF | None = None) -> None:
        """Set the image size. When the size changes outside fit mode, the zoom
        and centre are scaled so the same part of the picture stays in view
        (e.g. input preview -> restored output); in fit mode, or for the first
        image, the image is fitted to ``pane`` (when given)."""
        new = QSizeF(float(width), float(height))
        old = QSizeF(self._size)
        self._size = new
        if old.isEmpty() or self._fit_mode:
            if pane is not None:
                self.fit(pane)
            else:
                self._center = QPointF(new.width() / 2, new.height() / 2)
                self._emit(True)
            return
        k = new.width() / old.width() if old.width() > 0 else 1.0
        self._center = QPointF(self._center.x() * k, self._center.y() * k)
        self._zoom = self._clamp(self._zoom / k)
        self._emit(True)

    def clear(self) -> None:
        """Forget the image (no image size); zoom and fit mode are kept."""
        self._size = QSizeF()
        self._emit(False)

    def set_zoom(self, zoom: float, anchor: QPointF | None = None, pane: QSizeF | None = None) -> None:
        """Zoom to ``zoom`` (clamped), keeping the pane point ``anchor`` (pixels
        in a pane of size ``pane``) over the same image point; default anchor:
        the centre. Leaves fit mode."""
        if not self.has_image():
            return
        self._fit_mode = False
        zoom = self._clamp(zoom)
        if anchor is not None and pane is not None:
            fixed = self.to_image(anchor, pane)
            self._zoom = zoom
            moved = self.to_image(anchor, pane)
            self._center += fixed - moved
        else:
            self._zoom = zoom
        self._emit(True)

    def zoom_by(self, factor: float, anchor: QPointF | None = None, pane: QSizeF | None = None) -> None:
        """Multiply the zoom by ``factor`` around ``anchor`` (see :meth:`set_zoom`)."""
        self.set_zoom(self._zoom * factor, anchor, pane)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the picture by (dx, dy) screen pixels (a drag). Leaves fit mode."""
        if not self.has_image():
            return
        self._fit_mode = False
        self._center -= QPointF(dx / self._zoom, dy / self._zoom)
        self._clamp_center()
        self._emit(False)

    def center_on(self, p: QPointF) -> None:
        """Put image point ``p`` at the centre of the panes. Leaves fit mode."""
        self._fit_mode = False
        self._center = QPointF(p)
        self._clamp_center()
        self._emit(False)

    def actual_size(self) -> None:
        """1:1 -- one image pixel per screen pixel, around the current centre."""
        self.set_zoom(1.0)

    def fit(self, pane: QSizeF) -> None:
        """Fit the whole image in a pane of size ``pane``; stays in fit mode
        (the workbench refits on resize) until the user zooms or pans."""
        self._fit_mode = True
        if not self.has_image() or pane.isEmpty():
            return
        self._zoom = self._clamp(min(pane.width() / self._size.width(), pane.height() / self._size.height()))
        self._center = QPointF(self._size.width() / 2, self._size.height() / 2)
        self._emit(True)

    # --------------------------------------------------------------- internal
    @staticmethod
    def _clamp(zoom: float) -> float:
        return min(max(float(zoom), MIN_ZOOM), MAX_ZOOM)

    def _clamp_center(self) -> None:
        """Keep the centre inside the image (the picture cannot be dragged away)."""
        x = min(max(self._center.x(), 0.0), self._size.width())
        y = min(max(self._center.y(), 0.0), self._size.height())
        self._center = QPointF(x, y)

    def _emit(self, zoom: bool) -> None:
        self.changed.emit()
        if zoom:
            self.zoom_changed.emit(self._zoom)
