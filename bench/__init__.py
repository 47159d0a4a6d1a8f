"""Benchmarks: each writes its figures to ``bench/results/``; none runs in the test suite.

``python main.py bench quality [...]``: x4 quality on the benchmark photos.
``python main.py bench speed [...]``: CPU speed against SRVGGNetCompact-x4v3.
"""
from __future__ import annotations

import sys

BENCHMARKS = {"quality": "bench.quality", "speed": "bench.speed"}


def main(argv: list[str]) -> int:
    """Dispatch ``python main.py bench NAME [ARGS]``; exit status 2 on an unknown name."""
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: restorer bench {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])
