"""Print a training log.csv as a Markdown learning-curve table: mean losses over equal step bins.

Usage: python scripts/summarise_log.py runs/x2_gan/log.csv [BINS]
"""
from __future__ import annotations

import csv
import sys

import numpy as np


def main(path: str, bins: int = 6) -> None:
    """Print the table for ``path`` (a ``log.csv`` of :func:`restorer.train.loop.train`)."""
    rows = list(csv.DictReader(open(path)))
    cols = [c for c in ("l_pix", "l_percep", "l_gan", "l_d_real", "l_d_fake")
            if any(float(r[c]) for r in rows)]
    parts = np.array_split(np.arange(len(rows)), bins)
    head = ["steps"] + [f"{rows[p[0]]['step']}–{rows[p[-1]]['step']}" for p in parts if len(p)]
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for c in cols:
        vals = [np.mean([float(rows[i][c]) for i in p]) for p in parts if len(p)]
        print(f"| {c} | " + " | ".join(f"{v:.4f}" for v in vals) + " |")
    print(f"\n{len(rows)} rows, last step {rows[-1]['step']}, elapsed {float(rows[-1]['elapsed_s']) / 60:.1f} min")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6)
