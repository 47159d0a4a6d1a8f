"""The comparison as one picture: side by side or slider composite, with metric
captions (File ▸ Export comparison; :mod:`ui.files` writes it with the engine's
``restorer.io``).

The composition works on QImages (no widgets), so it is testable and can run
off the GUI thread.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

__all__ = ["compose_side_by_side", "compose_slider", "CAPTION_HEIGHT"]

#: Height in pixels of the caption band under each picture (two lines).
CAPTION_HEIGHT = 46
_GAP = 8


def _fit(image: QImage, max_side: int) -> QImage:
    if max(image.width(), image.height()) <= max_side:
        return image
    return image.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)


def _caption(painter: QPainter, rect: QRectF, title: str, caption: str) -> None:
    painter.fillRect(rect, QColor(24, 24, 24))
    font = QFont(painter.font())
    font.setPixelSize(15)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor(245, 245, 245))
    half = rect.height() / 2
    painter.drawText(QRectF(rect.x() + 6, rect.y(), rect.width() - 12, half), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
    font.setBold(False)
    font.setPixelSize(13)
    painter.setFont(font)
    painter.setPen(QColor(200, 200, 200))
    painter.drawText(QRectF(rect.x() + 6, rect.y() + half, rect.width() - 12, half), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, caption)


def compose_side_by_side(panels: list[tuple[QImage, str, str]], max_side: int = 2048) -> QImage:
    """Pictures next to each other, each with a caption band below.

    Args:
        panels: ``(image, title, caption)`` per picture, left to right; all
            images are drawn at the first one's size (so a reference or a x2
            result lines up with a x4 one).
        max_side: the first image is shrunk (smoothly, aspect kept) to at most
            this many pixels on its longest side.

    Returns:
        An RGB32 QImage of ``N * w + (N - 1) * 8`` by ``h + CAPTION_HEIGHT`` pixels.

    Raises:
        ValueError: no panels.
    """
    if not panels:
        raise ValueError("nothing to export")
    first = _fit(panels[0][0], max_side)
    w, h = first.width(), first.height()
    out = QImage(len(panels) * w + (len(panels) - 1) * _GAP, h + CAPTION_HEIGHT, QImage.Format.Format_RGB32)
    out.fill(QColor(24, 24, 24))
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    for i, (image, title, caption) in enumerate(panels):
        x = i * (w + _GAP)
        painter.drawImage(QRectF(x, 0, w, h), image)
        _caption(painter, QRectF(x, h, w, CAPTION_HEIGHT), title, caption)
    painter.end()
    return out


def compose_slider(before: tuple[QImage, str, str], after: tuple[QImage, str, str], position: float = 0.5,
                   vertical: bool = False, max_side: int = 2048) -> QImage:
    """One picture: ``before`` up to the divider, ``after`` beyond it, a white
    divider line, and a caption band with both titles and captions.

    Args:
        before, after: ``(image, title, caption)``; ``after`` is drawn at
            ``before``'s size.
        position: the divider as a fraction of the width (height when ``vertical``), in [0, 1].
        vertical: a horizontal divider (before above, after below).
        max_side: see :func:`compose_side_by_side`.

    Returns:
        An RGB32 QImage of ``w`` by ``h + CAPTION_HEIGHT`` pixels.
    """
    base = _fit(before[0], max_side)
    w, h = base.width(), base.height()
    out = QImage(w, h + CAPTION_HEIGHT, QImage.Format.Format_RGB32)
    out.fill(QColor(24, 24, 24))
    position = min(max(float(position), 0.0), 1.0)
    painter = QPainter(out)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
    painter.drawImage(QRectF(0, 0, w, h), base)
    d = (h if vertical else w) * position
    painter.save()
    painter.setClipRect(QRectF(0, d, w, h - d) if vertical else QRectF(d, 0, w - d, h))
    painter.drawImage(QRectF(0, 0, w, h), after[0])
    painter.restore()
    painter.setPen(QPen(QColor(255, 255, 255), 2))
    if vertical:
        painter.drawLine(0, int(d), w, int(d))
    else:
        painter.drawLine(int(d), 0, int(d), h)
    half = w / 2
    _caption(painter, QRectF(0, h, half, CAPTION_HEIGHT), ("▲ " if vertical else "◀ ") + before[1], before[2])
    _caption(painter, QRectF(half, h, w - half, CAPTION_HEIGHT), after[1] + (" ▼" if vertical else " ▶"), after[2])
    painter.end()
    return out
