"""One image pane drawn through the shared :class:`~ui.viewport.Viewport`.

:class:`Layer` is one picture of the comparison (bicubic, a model's output, the
reference ...) as an :class:`~ui.pyramid.ImagePyramid`, plus live tiles laid
over it while a run is in progress and an optional heat-map overlay.
:class:`ImageCanvas` paints a layer for the viewport's zoom and centre, pans on
drag and zooms on the wheel (around the cursor); every view in ``ui.views``
is made of canvases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from ..pyramid import ImagePyramid
from ..viewport import ZOOM_STEP, Viewport

__all__ = ["Layer", "Overlay", "ImageCanvas", "SingleCanvasView", "paint_layer", "BACKGROUND"]

#: Pane background behind the image.
BACKGROUND = QColor(40, 40, 40)


@dataclass
class Overlay:
    """A semi-transparent picture over a layer (the LPIPS heat map).

    Attributes:
        pyramid: the colourised map; its size may differ from the layer's
            (it is stretched over the whole image).
        opacity: 0 (invisible) to 1 (opaque).
        visible: drawn at all.
    """

    pyramid: ImagePyramid
    opacity: float = 0.6
    visible: bool = True


@dataclass
class Layer:
    """One picture of the comparison.

    Attributes:
        key: identifier (``"before"``, ``"reference"``, a model label ...).
        title: caption shown on the pane.
        pyramid: the picture.
        scale: image (viewport) pixels per picture pixel, e.g. 4 for the
            low-resolution input shown at the x4 output's size.
        tiles: live pieces laid over the picture, ``(rect in image pixels, QImage)``.
        overlay: optional heat map drawn over it.
        smooth: always sample smoothly (an enlarged preview of the input),
            never nearest-neighbour.
    """

    key: str
    title: str
    pyramid: ImagePyramid
    scale: float = 1.0
    tiles: list[tuple[QRectF, QImage]] = field(default_factory=list)
    overlay: Overlay | None = None
    smooth: bool = False


def paint_layer(painter: QPainter, layer: Layer, viewport: Viewport, pane: QSizeF, zoom: float | None = None,
                center: QPointF | None = None, target: QRectF | None = None) -> None:
    """Paint ``layer`` (its picture, tiles and overlay) as the viewport shows it.

    Args:
        painter: active painter on the pane (clip it to draw only a part).
        layer: what to draw.
        viewport: the shared viewport (image size, zoom, centre).
        pane: the pane's size in pixels.
        zoom, center: override the viewport's (the loupe magnifies this way).
        target: the painter rectangle the pane maps to (default: (0, 0, pane)).
    """
    zoom = viewport.zoom if zoom is None else zoom
    center = viewport.center if center is None else center
    target = QRectF(QPointF(0, 0), pane) if target is None else target
    visible = QRectF(center.x() - target.width() / 2 / zoom, center.y() - target.height() / 2 / zoom,
                     target.width() / zoom, target.height() / zoom)
    s = layer.scale
    layer.pyramid.draw(painter, target, QRectF(visible.x() / s, visible.y() / s, visible.width() / s, visible.height() / s), zoom * s,
                        smooth=layer.smooth)

    def to_target(r: QRectF) -> QRectF:
        return QRectF(target.x() + (r.x() - visible.x()) * zoom, target.y() + (r.y() - visible.y()) * zoom,
                      r.width() * zoom, r.height() * zoom)

    if layer.tiles:
        painter.save()
        for rect, image in layer.tiles:
            if rect.intersects(visible):
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, zoom * rect.width() / image.width() < 0.999)
                painter.drawImage(to_target(rect), image)
        painter.restore()
    ov = layer.overlay
    if ov is not None and ov.visible and ov.opacity > 0 and viewport.has_image():
        size = viewport.image_size
        k = ov.pyramid.width / size.width()
        painter.save()
        painter.setOpacity(ov.opacity)
        ov.pyramid.draw(painter, target, QRectF(visible.x() * k, visible.y() * k, visible.width() * k, visible.height() * k), zoom / k,
                        smooth=True)
        painter.restore()


class ImageCanvas(QWidget):
    """A pane that paints one :class:`Layer` through the shared viewport.

    Dragging with the left button pans every pane; the wheel zooms every pane
    around the cursor. Past 100 % the pixels are drawn nearest-neighbour.

    Signals:
        resized(): the pane changed size (the workbench refits in fit mode).
        hovered(QPointF): the mouse moved to this pane point (pixels).
        left(): the mouse left the pane.
    """

    resized = Signal()
    hovered = Signal(QPointF)
    left = Signal()

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewport = viewport
        self.layer: Layer | None = None
        self.placeholder = ""
        self._drag: QPointF | None = None
        self.setMouseTracking(True)
        self.setMinimumSize(80, 60)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.OpenHandCursor)
        viewport.changed.connect(self.update)

    def pane_size(self) -> QSizeF:
        """The pane size in pixels (as a QSizeF)."""
        return QSizeF(self.width(), self.height())

    def set_layer(self, layer: Layer | None) -> None:
        """Show ``layer`` (None: an empty pane with the placeholder text)."""
        self.layer = layer
        self.update()

    # ---------------------------------------------------------------- painting
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), BACKGROUND)
        self.paint_content(painter)
        painter.end()

    def paint_content(self, painter: QPainter) -> None:
        """Draw the layer and its title (views override to draw more)."""
        if self.layer is None or not self.viewport.has_image():
            self.draw_caption(painter, self.placeholder, Qt.AlignmentFlag.AlignCenter)
            return
        paint_layer(painter, self.layer, self.viewport, self.pane_size())
        self.draw_caption(painter, self.layer.title)

    def draw_caption(self, painter: QPainter, text: str, align=Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignHCenter,
                     rect: QRectF | None = None) -> None:
        """A caption on a translucent dark box (readable on any picture)."""
        if not text:
            return
        rect = QRectF(self.rect()) if rect is None else rect
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 12, metrics.height() + 6
        x = rect.x() + (rect.width() - w) / 2
        if align & Qt.AlignmentFlag.AlignLeft:
            x = rect.x() + 6
        elif align & Qt.AlignmentFlag.AlignRight:
            x = rect.right() - w - 6
        y = rect.y() + 6 if align & Qt.AlignmentFlag.AlignTop else rect.y() + (rect.height() - h) / 2
        box = QRectF(x, y, w, h)
        painter.save()
        painter.setOpacity(1.0)
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(QColor(240, 240, 240))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    # ------------------------------------------------------------------- input
    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
        else:
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        pos = event.position()
        if self._drag is not None:
            delta = pos - self._drag
            self._drag = pos
            self.viewport.pan_by(delta.x(), delta.y())
        self.hovered.emit(pos)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton and self._drag is not None:
            self._drag = None
            self.setCursor(Qt.CursorShape.OpenHandCursor)
        super().mouseReleaseEvent(event)

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.left.emit()
        super().leaveEvent(event)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        dy = event.angleDelta().y()
        if dy == 0:
            event.ignore()
            return
        self.viewport.zoom_by(ZOOM_STEP ** (dy / 120.0), event.position(), self.pane_size())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.resized.emit()


class SingleCanvasView(QWidget):
    """A view made of one before/after canvas filling the widget (slider, toggle, loupe).

    Subclasses set :attr:`canvas_class`, an :class:`ImageCanvas` subclass with
    ``before`` and ``after`` attributes; :meth:`set_content` hands them the two
    layers and repaints.
    """

    #: The canvas type this view shows.
    canvas_class: type[ImageCanvas] = ImageCanvas

    def __init__(self, viewport: Viewport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.canvas = self.canvas_class(viewport, self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

    @property
    def panes(self) -> list[ImageCanvas]:
        """The one pane."""
        return [self.canvas]

    @property
    def primary(self) -> ImageCanvas:
        """The one pane."""
        return self.canvas

    def set_content(self, layers: list[Layer], before: Layer | None, after: Layer | None) -> None:
        """Show ``before`` and ``after`` (``layers``, every picture, is not used by single-canvas views)."""
        self.canvas.before, self.canvas.after = before, after
        self.canvas.update()
