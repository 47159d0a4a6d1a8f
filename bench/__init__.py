"""Benchmarks: each writes its figures to ``bench/results/``; none runs in the test suite.

``python main.py bench quality [...]``: x4 quality on the benchmark photos.
``python main.py bench speed [...]``: CPU speed against SRVGGNetCompact-x4v3, then (unless
``--no-memory``) the peak memory of x4 on a 4000x3000 photo (``bench.memory``).
``python main.py bench memory [...]``: the peak memory figure alone.
``python main.py bench metrics [...]``: LPIPS speed vs the reference package, region updates, 24 MP memory.
``python main.py bench startup [...]``: time from launch to the window (before torch loads).
``python main.py bench pan [...]``: repaint times while panning a 50-megapixel image.
``python main.py bench gpu [...]``: the CUDA/MPS paths against the CPU, pass/fail per check (one line without a GPU).
"""
from __future__ import annotations

import sys
from pathlib import Path

#: The checkout's root (benchmarks run from a checkout, not from the wheel).
ROOT = Path(__file__).resolve().parents[1]
#: Where every benchmark writes its figures unless told otherwise.
RESULTS = ROOT / "bench" / "results"
#: Benchmark name -> module with a ``main(argv) -> int``.
BENCHMARKS = {"quality": "bench.quality", "speed": "bench.speed", "memory": "bench.memory", "metrics": "bench.metrics",
              "startup": "bench.startup", "pan": "bench.pan", "gpu": "bench.gpu"}


def main(argv: list[str]) -> int:
    """Dispatch ``python main.py bench NAME [ARGS]`` to ``BENCHMARKS[NAME].main(ARGS)``.

    Args:
        argv: the arguments after ``bench``: a benchmark name (a key of
            ``BENCHMARKS``) and that benchmark's own options.

    Returns:
        The benchmark's exit status; 2 (after a usage line on stderr) when the
        name is missing or unknown.

    Raises:
        SystemExit: from the benchmark's argparse on a usage error (2) or ``--help`` (0).
    """
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: restorer bench {{{','.join(BENCHMARKS)}}} [options]", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:])
