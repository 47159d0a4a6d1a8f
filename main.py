"""Restorer entry point.

``python main.py [IMAGE ...]`` opens the desktop app (with the images, if given);
``python main.py restore|models|compare|train ...`` runs the command-line interface
(see ``python main.py --help``).
"""
from __future__ import annotations

import os
import sys

SUBCOMMANDS = {"restore", "models", "compare", "train"}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the benchmarks, the CLI or the desktop app; return the exit status.

    Args:
        argv: arguments without the program name; None = ``sys.argv[1:]``.
            ``bench ...`` goes to :func:`bench.main`; a subcommand in
            ``SUBCOMMANDS`` or a leading ``-h``/``--help``/``--debug`` goes to
            :func:`restorer.cli.main`; anything else (image paths, Qt options, or
            nothing) opens the desktop app (:func:`ui.app.run_app`).

    Returns:
        The exit status: 0 on success, 1 on failure, 2 on a usage error
        (DESIGN.md section 6).

    Raises:
        SystemExit: from argparse, on a CLI usage error (2) or ``--help`` (0).
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from bench import main as bench_main

        return bench_main(argv[1:])
    if argv and (argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--debug")):
        from restorer.cli import main as cli_main

        return cli_main(argv)
    stray = [a for a in argv if not a.startswith("-") and not os.path.exists(a)]
    if stray:
        # Neither a subcommand nor an existing file: a usage error, not an empty window.
        print(f"usage: restorer [IMAGE ...] | {{{','.join(sorted(SUBCOMMANDS | {'bench'}))}}} ...\n"
              f"restorer: error: {stray[0]!r} is neither a command nor an existing file", file=sys.stderr)
        return 2
    from ui.app import run_app

    return run_app(argv)


def entry() -> None:
    """Console-script entry point (``restorer ...``, ``[project.scripts]`` in
    pyproject.toml): run :func:`main` on ``sys.argv[1:]`` and exit with its status.

    Raises:
        SystemExit: always, carrying :func:`main`'s exit status.
    """
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
