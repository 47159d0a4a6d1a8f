"""Desktop app entry point: ``python main.py [IMAGE ...]``."""
from __future__ import annotations

import sys

__all__ = ["run_app"]


def run_app(argv: list[str]) -> int:
    """Create the QApplication (organisation and name "Restorer", which locate
    its QSettings; Fusion style with a light or dark palette following the
    system), open one "Restorer" window with the images named in ``argv`` (the
    first shown, all listed under Images; an empty window when there are
    none) and run the event loop. The window is shown before anything imports
    torch.

    Args:
        argv: command-line arguments without the program name; Qt's own options
            (``-platform offscreen``, ``-style ...``) are accepted and removed.

    Returns:
        The event loop's exit status.
    """
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .theme import follow_system_theme

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "restorer", *argv])
        paths = app.arguments()[1:]  # Qt has removed its own options
    else:
        paths = list(argv)
    app.setApplicationName("Restorer")
    app.setOrganizationName("Restorer")
    follow_system_theme(app)
    window = MainWindow()
    window.show()
    if paths:
        _when_exposed(window, lambda: window.open_paths(paths, block=False))
    code = app.exec()
    del window
    return int(code)


def _when_exposed(window, fn, tries: int = 200) -> None:
    """Call ``fn`` once ``window`` is on screen (polled every 10 ms, at most
    ``tries`` times, then called anyway): decoding the first image imports
    torch, which takes seconds, and the window must be visible first."""
    from PySide6.QtCore import QTimer

    handle = window.windowHandle()
    if tries <= 0 or (handle is not None and handle.isExposed()):
        QTimer.singleShot(0, fn)
    else:
        QTimer.singleShot(10, lambda: _when_exposed(window, fn, tries - 1))
