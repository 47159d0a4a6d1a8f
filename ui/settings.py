"""Settings that persist between sessions (QSettings): window geometry, model,
scale, tile, device, precision, view mode, heat-map opacity, recent files.

``QSettings()`` is created from the application's organisation and name
("Restorer"/"Restorer"); tests point QSettings at a temporary folder
(``QSettings.setPath``) so they never touch the user's settings.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

__all__ = ["Settings", "MAX_RECENT"]

#: Length of the recent-files list.
MAX_RECENT = 10


def _as_list(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class Settings:
    """Typed access to the app's QSettings.

    Args:
        qsettings: the store; default ``QSettings()`` (the application's
            organisation/name, the platform's native location).
    """

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings()

    # ------------------------------------------------------------- read/write
    def value(self, key: str, default, kind=str):
        """``key``'s value converted with ``kind`` (str, int, float, bool), or
        ``default`` when absent or unconvertible."""
        raw = self.q.value(key)
        if raw is None:
            return default
        try:
            if kind is bool:
                return raw in (True, "true", "1", 1)
            return kind(raw)
        except (TypeError, ValueError):
            return default

    def set(self, key: str, value) -> None:
        """Store ``value`` under ``key``."""
        self.q.setValue(key, value)

    def sync(self) -> None:
        """Write to disk now."""
        self.q.sync()

    # --------------------------------------------------------------- geometry
    def geometry(self) -> QByteArray | None:
        """The saved window geometry (``QWidget.saveGeometry``), or None."""
        raw = self.q.value("window/geometry")
        return raw if isinstance(raw, QByteArray) and not raw.isEmpty() else None

    def set_geometry(self, data: QByteArray) -> None:
        """Save the window geometry."""
        self.q.setValue("window/geometry", data)

    # ----------------------------------------------------------------- models
    def model_files(self) -> list[str]:
        """Model files the user opened before (existing files only)."""
        return [p for p in _as_list(self.q.value("model/files")) if Path(p).is_file()]

    def set_model_files(self, paths: list[str]) -> None:
        """Remember these model files."""
        self.q.setValue("model/files", list(paths))

    # ------------------------------------------------------------ recent files
    def recent_files(self) -> list[str]:
        """Recently opened images, newest first (at most ``MAX_RECENT``)."""
        return _as_list(self.q.value("recent/files"))[:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> list[str]:
        """Put ``path`` first in the recent list; returns the new list."""
        path = str(Path(path).resolve())
        files = [path] + [p for p in self.recent_files() if p != path]
        files = files[:MAX_RECENT]
        self.q.setValue("recent/files", files)
        return files

    def clear_recent_files(self) -> None:
        """Empty the recent list."""
        self.q.setValue("recent/files", [])
