"""Restorer entry point in a checkout.

``python main.py [IMAGE ...]`` opens the desktop app (with the images, if given);
``python main.py restore|models|compare|train ...`` runs the command-line interface
(see ``python main.py --help``); ``python main.py bench ...`` runs a benchmark.
The dispatch is :func:`ui.app.main`, which an installed wheel's ``restorer``
console script runs too (as ``restorer.ui.app``): the wheel has one top-level
name, ``restorer``, and no ``main`` module.
"""
from __future__ import annotations

import sys

from ui.app import SUBCOMMANDS, entry, main

__all__ = ["SUBCOMMANDS", "entry", "main"]

if __name__ == "__main__":
    sys.exit(main())
