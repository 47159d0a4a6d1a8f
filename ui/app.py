"""The program's entry point: the desktop app, or the CLI for a subcommand.

``python main.py ...`` in a checkout and the ``restorer`` console script of an
installed wheel (where this package is ``restorer.ui``) both run :func:`main`.
Nothing here imports Qt or torch until the chosen path needs it.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["run_app", "main", "entry", "SUBCOMMANDS"]

#: Subcommands handled by :func:`restorer.cli.main`; ``bench`` goes to the checkout's benchmarks.
SUBCOMMANDS = {"restore", "models", "compare", "train"}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the benchmarks, the CLI or the desktop app; return the exit status.

    Args:
        argv: arguments without the program name; None = ``sys.argv[1:]``.
            ``bench ...`` goes to the checkout's :func:`bench.main` (:func:`_bench`);
            a subcommand in ``SUBCOMMANDS`` or a leading ``-h``/``--help``/``--debug``
            goes to :func:`restorer.cli.main`; anything else (image paths, Qt
            options, or nothing) opens the desktop app (:func:`run_app`).

    Returns:
        The exit status: 0 on success, 1 on failure, 2 on a usage error
        (DESIGN.md section 6).

    Raises:
        SystemExit: from argparse, on a CLI usage error (2) or ``--help`` (0).
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        return _bench(argv[1:])
    if argv and (argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--debug")):
        from restorer.cli import main as cli_main

        return cli_main(argv)
    stray = [a for a in argv if not a.startswith("-") and not os.path.exists(a)]
    if stray:
        # Neither a subcommand nor an existing file: a usage error, not an empty window.
        print(f"usage: restorer [IMAGE ...] | {{{','.join(sorted(SUBCOMMANDS | {'bench'}))}}} ...\n"
              f"restorer: error: {stray[0]!r} is neither a command nor an existing file", file=sys.stderr)
        return 2
    return run_app(argv)


def entry() -> None:
    """Console-script entry point (``restorer ...``, ``[project.scripts]`` in
    pyproject.toml): run :func:`main` on ``sys.argv[1:]`` and exit with its status.

    Raises:
        SystemExit: always, carrying :func:`main`'s exit status.
    """
    sys.exit(main())


def _bench(argv: list[str]) -> int:
    """Run ``bench ARGS`` with the checkout's ``bench/`` package (the folder beside
    ``ui/``). The benchmarks write into the checkout (``bench/results/``) and are
    not part of the wheel: from an installed wheel this prints one line and
    returns 1.
    """
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "__init__.py").is_file():
        print("restorer: error: the benchmarks run from a source checkout: python main.py bench ...", file=sys.stderr)
        return 1
    if str(root) not in sys.path:  # e.g. the console script of an editable install
        sys.path.insert(0, str(root))
    from bench import main as bench_main

    return bench_main(argv)


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
        _when_exposed(window, lambda: window.open_paths(paths))
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
