"""A downscaled image pyramid, so that huge images pan smoothly.

Painting a 50-megapixel image through one full-size QPixmap makes every
repaint scale the whole picture. :class:`ImagePyramid` keeps the image and
halved copies (each level half the previous, smooth 2x2 box filtering by
``QImage.scaled``) and :meth:`ImagePyramid.draw` paints only the visible part
of the coarsest level that still has at least one level pixel per screen pixel.
So a repaint touches about as many pixels as the pane has, at any zoom.

Everything here works on ``QImage`` (not ``QPixmap``), so a pyramid can be
built off the GUI thread.
"""
from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter

__all__ = ["ImagePyramid"]

#: Levels stop once the longest side is at most this many pixels.
MIN_SIDE = 256


class ImagePyramid:
    """An image and its successive halvings.

    Args:
        image: the full-resolution QImage (any format; kept as given).
        smooth: always sample smoothly (e.g. an enlarged preview); otherwise
            nearest-neighbour sampling is used once a level pixel covers one
            screen pixel or more (zoom past 100 %).

    Attributes:
        levels: ``levels[k]`` is the image downscaled by ``2**k`` (rounded up).
        width, height: the full-resolution size in pixels.
        last_draw: ``(level, source rectangle in level pixels, smooth)`` of
            the last :meth:`draw` (for tests and benchmarks).
    """

    def __init__(self, image: QImage, smooth: bool = False) -> None:
        self.width, self.height = image.width(), image.height()
        self.smooth = smooth
        self.levels: list[QImage] = [image]
        while max(self.levels[-1].width(), self.levels[-1].height()) > MIN_SIDE:
            prev = self.levels[-1]
            self.levels.append(prev.scaled(max(1, math.ceil(prev.width() / 2)), max(1, math.ceil(prev.height() / 2)),
                                           Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation))
        self.last_draw: tuple[int, QRectF, bool] | None = None

    @property
    def image(self) -> QImage:
        """The full-resolution image."""
        return self.levels[0]

    def level_for(self, zoom: float) -> int:
        """The coarsest level with at least one level pixel per screen pixel at
        ``zoom`` (screen pixels per full-resolution pixel)."""
        if zoom <= 0:
            return len(self.levels) - 1
        k = int(math.floor(math.log2(1.0 / zoom) + 1e-9)) if zoom < 1 else 0
        return max(0, min(k, len(self.levels) - 1))

    def draw(self, painter: QPainter, target: QRectF, source: QRectF, zoom: float, smooth: bool | None = None) -> None:
        """Paint ``source`` (full-resolution pixels) into ``target`` (painter
        coordinates) from the right level, with smooth sampling when zoomed out
        (or always, when ``smooth``) and nearest-neighbour past 100 %.

        Args:
            painter: an active QPainter.
            target: where the source lands, painter pixels.
            source: the part of the image to draw, full-resolution pixels;
                clipped to the image (the target shrinks in proportion);
                nothing is drawn when that leaves nothing.
            zoom: screen pixels per full-resolution pixel.
            smooth: override the pyramid's ``smooth`` for this call.
        """
        clipped = source.intersected(QRectF(0, 0, self.width, self.height))
        if clipped.isEmpty() or source.isEmpty():
            return
        if clipped != source:  # shrink the target in proportion
            sx, sy = target.width() / source.width(), target.height() / source.height()
            target = QRectF(target.x() + (clipped.x() - source.x()) * sx, target.y() + (clipped.y() - source.y()) * sy,
                            clipped.width() * sx, clipped.height() * sy)
            source = clipped
        k = self.level_for(zoom)
        level = self.levels[k]
        fx, fy = level.width() / self.width, level.height() / self.height
        src = QRectF(source.x() * fx, source.y() * fy, source.width() * fx, source.height() * fy)
        smooth = (self.smooth if smooth is None else smooth) or zoom < 0.999
        self.last_draw = (k, src, smooth)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawImage(target, level, src)
        painter.restore()
