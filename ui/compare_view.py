"""Before/after side by side: two image views with synchronised zoom and pan.

Both panes hold scenes of the same size and always share one zoom factor (a
``QTransform`` scale) and the same scroll-bar values, so they show the same
region. Wheel zooms around the cursor, dragging pans, and past 100 % the pixels
are drawn with nearest-neighbour sampling (smooth sampling when zoomed out).
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QTransform
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QLabel,
    QWidget,
)

__all__ = ["ImageView", "BeforeAfterView"]

#: Zoom limits (screen pixels per scene pixel) and the factor per wheel notch / zoom action.
MIN_ZOOM = 1 / 64
MAX_ZOOM = 64.0
ZOOM_STEP = 1.25


class ImageView(QGraphicsView):
    """One pane: a QGraphicsView that reports wheel turns and resizes to its pair.

    Signals:
        wheel_zoom(view, notches, pos): a vertical wheel turn, ``notches``
            = angle / 120 (positive = zoom in), ``pos`` in viewport pixels;
            the view does not zoom itself.
        resized(): the view was resized.
    """

    wheel_zoom = Signal(object, float, QPointF)  # view, notches (+ = in), position in the viewport
    resized = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        # The pair handles anchoring itself (zoom around the cursor, keep region on resize).
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setBackgroundBrush(QColor(40, 40, 40))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        # Let file drops reach the main window.
        self.setAcceptDrops(False)
        self.viewport().setAcceptDrops(False)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        dy = event.angleDelta().y()
        if dy == 0:
            super().wheelEvent(event)
            return
        self.wheel_zoom.emit(self, dy / 120.0, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.resized.emit()


class BeforeAfterView(QWidget):
    """Two synchronised :class:`ImageView` panes, "before" on the left, "after" on the right.

    Signals:
        zoom_changed(float): the shared zoom factor (1.0 = one image pixel per screen pixel).
    """

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.before_view = ImageView(self)
        self.after_view = ImageView(self)
        self.before_label = QLabel("Before", self)
        self.after_label = QLabel("After", self)
        for label in (self.before_label, self.after_label):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(4)
        grid.setVerticalSpacing(2)
        grid.addWidget(self.before_label, 0, 0)
        grid.addWidget(self.after_label, 0, 1)
        grid.addWidget(self.before_view, 1, 0)
        grid.addWidget(self.after_view, 1, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)

        self._zoom = 1.0
        self._fit_mode = True
        self._rect = QRectF()
        self._items: list[tuple[QGraphicsPixmapItem, bool]] = []  # (item, always smooth)
        for src, dst in ((self.before_view, self.after_view), (self.after_view, self.before_view)):
            src.horizontalScrollBar().valueChanged.connect(dst.horizontalScrollBar().setValue)
            src.verticalScrollBar().valueChanged.connect(dst.verticalScrollBar().setValue)
            src.wheel_zoom.connect(self._on_wheel)
            src.resized.connect(self._on_resized)

    # ----------------------------------------------------------------- content
    @property
    def views(self) -> tuple[ImageView, ImageView]:
        """The (before, after) panes."""
        return self.before_view, self.after_view

    @property
    def zoom(self) -> float:
        """The shared zoom factor, screen pixels per scene pixel, in [MIN_ZOOM, MAX_ZOOM]."""
        return self._zoom

    @property
    def fit_mode(self) -> bool:
        """True while the image is kept fitted to the panes (after :meth:`fit`)."""
        return self._fit_mode

    def has_image(self) -> bool:
        """True when an image is shown (the scene rectangle is not empty)."""
        return not self._rect.isEmpty()

    def clear(self) -> None:
        """Remove every image and tile from both panes (zoom and fit mode are kept)."""
        for view in self.views:
            view.scene().clear()
            view.scene().setSceneRect(QRectF())
        self._items, self._rect = [], QRectF()

    def set_images(
        self,
        before: QImage,
        after: QImage | None = None,
        *,
        before_title: str = "Before",
        after_title: str = "After",
        item_scale: float = 1.0,
        smooth: bool = False,
    ) -> None:
        """Show ``before`` on the left and ``after`` (or ``before`` again) on the right.

        Both images must have the same size (not checked; the scene takes
        ``before``'s). ``item_scale`` draws them enlarged (used for the preview
        while restoring: the input at the output's size). ``smooth`` keeps
        smooth sampling at every zoom (no nearest-neighbour pixels). The visible
        region is kept when the size changes (the zoom is adjusted), unless the
        view is in fit mode, where the new image is fitted.
        """
        old_rect, old_center = QRectF(self._rect), None
        if not old_rect.isEmpty():
            old_center = self.after_view.mapToScene(self.after_view.viewport().rect().center())
        self.clear()
        self.before_label.setText(before_title)
        self.after_label.setText(after_title)
        for view, image in ((self.before_view, before), (self.after_view, after if after is not None else before)):
            item = QGraphicsPixmapItem(QPixmap.fromImage(image))
            item.setScale(item_scale)
            view.scene().addItem(item)
            self._items.append((item, smooth))
        self._rect = QRectF(0, 0, before.width() * item_scale, before.height() * item_scale)
        for view in self.views:
            view.scene().setSceneRect(self._rect)
        if self._fit_mode or old_center is None:
            self.fit()
            return
        k = self._rect.width() / old_rect.width() if old_rect.width() > 0 else 1.0
        self._apply_zoom(self._zoom / k)
        self.after_view.centerOn(QPointF(old_center.x() * k, old_center.y() * k))
        self._sync_scroll(self.after_view)

    def add_tile(self, pos: QPointF, image: QImage, scale: float = 1.0) -> None:
        """Draw a live-preview piece of the restored image on the right pane
        at ``pos`` (scene coordinates), enlarged by ``scale``."""
        if not self.has_image():
            return
        item = QGraphicsPixmapItem(QPixmap.fromImage(image))
        item.setPos(pos)
        item.setScale(scale)
        item.setZValue(1)
        self.after_view.scene().addItem(item)
        self._items.append((item, False))
        self._update_sampling()

    # ------------------------------------------------------------------- zoom
    def set_zoom(self, zoom: float, view: ImageView | None = None, pos: QPointF | None = None) -> None:
        """Zoom both panes to ``zoom`` (clamped to [MIN_ZOOM, MAX_ZOOM]), keeping
        the scene point under ``pos`` (viewport pixels of ``view``, default the
        after pane; default position: its centre) in place. Leaves fit mode.
        Does nothing without an image."""
        if not self.has_image():
            return
        self._fit_mode = False
        view = view or self.after_view
        if pos is None:
            pos = QPointF(view.viewport().rect().center())
        anchor = view.mapToScene(pos.toPoint())
        self._apply_zoom(zoom)
        moved = view.mapFromScene(anchor) - pos.toPoint()
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + moved.x())
        view.verticalScrollBar().setValue(view.verticalScrollBar().value() + moved.y())
        self._sync_scroll(view)

    def zoom_in(self) -> None:
        """Zoom in by ``ZOOM_STEP`` around the centre."""
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        """Zoom out by ``ZOOM_STEP`` around the centre."""
        self.set_zoom(self._zoom / ZOOM_STEP)

    def actual_size(self) -> None:
        """1:1 -- one image pixel per screen pixel, around the centre."""
        self.set_zoom(1.0)

    def fit(self) -> None:
        """Fit the whole image in the panes; stays fitted when the window is resized."""
        self._fit_mode = True
        if not self.has_image():
            return
        avail = self.after_view.maximumViewportSize()
        zoom = min(avail.width() / self._rect.width(), avail.height() / self._rect.height())
        self._apply_zoom(zoom)
        for view in self.views:
            view.centerOn(self._rect.center())
        self._sync_scroll(self.after_view)

    # ---------------------------------------------------------------- internal
    def _apply_zoom(self, zoom: float) -> None:
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        self._zoom = zoom
        transform = QTransform.fromScale(zoom, zoom)
        for view in self.views:
            view.setTransform(transform)
        self._update_sampling()
        self.zoom_changed.emit(zoom)

    def _update_sampling(self) -> None:
        """Nearest-neighbour when an image pixel covers a screen pixel or more."""
        for item, smooth in self._items:
            zoomed_out = self._zoom * item.scale() < 0.999
            mode = Qt.TransformationMode.SmoothTransformation if (smooth or zoomed_out) else Qt.TransformationMode.FastTransformation
            item.setTransformationMode(mode)

    def _sync_scroll(self, src: ImageView) -> None:
        for dst in self.views:
            if dst is not src:
                dst.horizontalScrollBar().setValue(src.horizontalScrollBar().value())
                dst.verticalScrollBar().setValue(src.verticalScrollBar().value())

    def _on_wheel(self, view: ImageView, notches: float, pos: QPointF) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP**notches, view, pos)

    def _on_resized(self) -> None:
        if self._fit_mode:
            self.fit()
