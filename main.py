"""Restorer entry point.

``python main.py [IMAGE ...]`` opens the desktop app (with the images, if given);
``python main.py restore|compare|train ...`` runs the command-line interface
(see ``python main.py --help``).
"""
from __future__ import annotations

import sys

SUBCOMMANDS = {"restore", "compare", "train", "bench"}


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the CLI or the desktop app; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        from bench import main as bench_main

        return bench_main(argv[1:])
    if argv and (argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--debug")):
        from restorer.cli import main as cli_main

        return cli_main(argv)
    from ui.app import run_app

    return run_app(argv)


def entry() -> None:
    """Console-script entry point (``restorer ...``)."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
