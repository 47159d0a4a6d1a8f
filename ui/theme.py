"""Light and dark themes that follow the system's colour scheme.

Qt (6.5+) reports the system's scheme through ``QStyleHints.colorScheme``; we
use the Fusion style with a light or dark palette to match and re-apply it
when the system switches (``colorSchemeChanged``).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

__all__ = ["apply_theme", "dark_palette", "follow_system_theme", "current_scheme"]


def dark_palette() -> QPalette:
    """A dark palette (greys with a blue highlight) for the Fusion style."""
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 32), QColor(220, 220, 220)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        p.setColor(group, QPalette.ColorRole.Window, window)
        p.setColor(group, QPalette.ColorRole.WindowText, text)
        p.setColor(group, QPalette.ColorRole.Base, base)
        p.setColor(group, QPalette.ColorRole.AlternateBase, window)
        p.setColor(group, QPalette.ColorRole.Text, text)
        p.setColor(group, QPalette.ColorRole.Button, window)
        p.setColor(group, QPalette.ColorRole.ButtonText, text)
        p.setColor(group, QPalette.ColorRole.ToolTipBase, base)
        p.setColor(group, QPalette.ColorRole.ToolTipText, text)
        p.setColor(group, QPalette.ColorRole.Highlight, QColor(42, 130, 218))
        p.setColor(group, QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))
        p.setColor(group, QPalette.ColorRole.PlaceholderText, QColor(140, 140, 140))
        p.setColor(group, QPalette.ColorRole.Link, QColor(90, 160, 240))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, window)
    return p


def current_scheme(app: QApplication) -> Qt.ColorScheme:
    """The system's colour scheme (``Unknown`` reads as light)."""
    return app.styleHints().colorScheme()


def apply_theme(app: QApplication, scheme: Qt.ColorScheme | None = None) -> Qt.ColorScheme:
    """Style ``app`` with Fusion and a palette for ``scheme`` (default: the
    system's). Returns the scheme applied (``Dark`` or ``Light``)."""
    scheme = current_scheme(app) if scheme is None else scheme
    if "Fusion" in QStyleFactory.keys():
        app.setStyle("Fusion")
    if scheme == Qt.ColorScheme.Dark:
        app.setPalette(dark_palette())
        return Qt.ColorScheme.Dark
    app.setPalette(app.style().standardPalette())
    return Qt.ColorScheme.Light


def follow_system_theme(app: QApplication) -> None:
    """Apply the system's theme now and again whenever the system switches."""
    apply_theme(app)
    app.styleHints().colorSchemeChanged.connect(lambda scheme: apply_theme(app, scheme))
