"""Desktop app entry point: ``python main.py [IMAGE ...]``."""
from __future__ import annotations

import sys

__all__ = ["run_app"]


def run_app(argv: list[str]) -> int:
    """Create the QApplication and a "Restorer" window, open the images named in
    ``argv`` (one window each; an empty window when there are none), show the
    window(s) and run the event loop.

    Args:
        argv: command-line arguments without the program name; Qt's own options
            (``-platform offscreen``, ``-style ...``) are accepted and removed.

    Returns:
        The event loop's exit status.
    """
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "restorer", *argv])
        paths = app.arguments()[1:]  # Qt has removed its own options
    else:
        paths = list(argv)
    app.setApplicationName("Restorer")
    windows = []
    for path in paths or [None]:
        window = MainWindow()
        if windows:
            last = windows[-1].pos()
            window.move(last.x() + 30, last.y() + 30)
        window.show()
        if path is not None:
            # Once the window is on screen (decoding imports torch, which takes a moment).
            QTimer.singleShot(0, lambda w=window, p=path: w.open_image(p))
        windows.append(window)
    code = app.exec()
    del windows
    return int(code)
