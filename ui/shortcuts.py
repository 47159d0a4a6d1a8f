"""The keyboard-shortcut help overlay (F1 or ?): a translucent sheet listing the
shortcut of every command of the window's action table (:data:`ui.actions.MENUS`,
in menu order) and the mouse gestures, over the image area; any key or click closes it."""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QAction, QColor, QKeySequence, QPainter
from PySide6.QtWidgets import QWidget

__all__ = ["ShortcutOverlay", "shortcut_rows"]

#: Gestures that are not QActions: (keys, what they do).
EXTRA_ROWS = [
    ("Drag / wheel", "pan / zoom every pane around the cursor"),
    ("Space (hold)", "toggle view: show before while held"),
    ("Shift+wheel", "loupe view: change the magnification"),
    ("Drag the divider", "slider view: move the split"),
]


def shortcut_rows(actions: list[QAction]) -> list[tuple[str, str]]:
    """(shortcut text, action text without '&' or '…') for every action with
    shortcuts, in the given order, then ``EXTRA_ROWS``."""
    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts() if not k.isEmpty()]
        if keys:
            rows.append((", ".join(keys), action.text().replace("&", "").replace("…", "")))
    return rows + EXTRA_ROWS


class ShortcutOverlay(QWidget):
    """A child widget covering its parent, drawing the shortcut table.

    Args:
        actions: the actions to list (read each time it is shown).
        parent: the widget to cover (it follows its size).
    """

    def __init__(self, actions: list[QAction], parent: QWidget) -> None:
        super().__init__(parent)
        self._actions = actions
        self.rows: list[tuple[str, str]] = []
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.hide()

    def toggle(self) -> None:
        """Show (on top, covering the parent) or hide."""
        if self.isVisible():
            self.hide()
            return
        self.rows = shortcut_rows(self._actions)
        self.setGeometry(self.parentWidget().rect())
        self.raise_()
        self.show()
        self.setFocus()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(0, 0, 0, 190))
        fm = painter.fontMetrics()
        line = fm.height() + 6
        key_w = max([fm.horizontalAdvance(k) for k, _ in self.rows] + [80]) + 24
        text_w = max([fm.horizontalAdvance(t) for _, t in self.rows] + [200])
        total_h = line * (len(self.rows) + 2)
        x = max(10, (self.width() - key_w - text_w) / 2)
        y = max(10, (self.height() - total_h) / 2)
        painter.setPen(QColor(255, 255, 255))
        title = painter.font()
        title.setBold(True)
        painter.setFont(title)
        painter.drawText(QRectF(x, y, key_w + text_w, line), Qt.AlignmentFlag.AlignLeft, "Keyboard shortcuts (any key or click closes)")
        normal = painter.font()
        normal.setBold(False)
        for i, (keys, text) in enumerate(self.rows):
            top = y + line * (i + 2)
            painter.setFont(title)
            painter.setPen(QColor(255, 220, 120))
            painter.drawText(QRectF(x, top, key_w, line), Qt.AlignmentFlag.AlignLeft, keys)
            painter.setFont(normal)
            painter.setPen(QColor(235, 235, 235))
            painter.drawText(QRectF(x + key_w, top, text_w, line), Qt.AlignmentFlag.AlignLeft, text)
        painter.end()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.hide()
        event.accept()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.hide()
        event.accept()
