#!/usr/bin/env bash
# Split data/train into runs/data/train (training) and runs/data/heldout (every 9th photo in sorted
# order: validation of ablations and learning curves, bench/heldout.py). Symlinks; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs/data/train runs/data/heldout
i=0
for f in $(ls data/train | sort); do
    if [ $((i % 9)) -eq 0 ]; then dest=runs/data/heldout; else dest=runs/data/train; fi
    ln -sfn "$(readlink -f "data/train/$f")" "$dest/$f"
    i=$((i + 1))
done
