"""Training throughput: what the precomputed pool buys over degrading patches per step.

Runs the same short L1 stage (default 80 steps of 16 x 128² HR patches, the
degradation mix, 2 torch threads) three ways, each in a fresh run folder, and
reads the step times from ``log.csv``:

* ``per-step, 0 workers``: every patch degraded in the training process;
* ``per-step, 1 worker``: one data-loader process degrades (issue 5's setting);
* ``pool``: pairs read from a :mod:`restorer.train.pool` built beforehand (its
  build time is reported separately: it is paid once, then a quarter of it per
  epoch of ``pool_size / batch`` steps).

The first 10 steps of each run are warm-up and not counted. Results go to
``bench/results/train_speed.{json,md}``. Absolute figures depend on the load of
the machine: compare within one run.

Usage::

    python -m bench.train_speed [--steps 80] [--data runs/data/train]
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from pathlib import Path

from bench import RESULTS
from restorer.train.config import TrainConfig
from restorer.train.loop import train


def _steps_per_second(log: Path, warmup: int = 10) -> float:
    rows = [(int(r["step"]), float(r["elapsed_s"])) for r in csv.DictReader(open(log))]
    (s0, t0), (s1, t1) = next(r for r in rows if r[0] >= warmup), rows[-1]
    return (s1 - s0) / (t1 - t0)


def main(argv: list[str] | None = None) -> int:
    """CLI: run the three arms and write the result files; return 0."""
    p = argparse.ArgumentParser(prog="python -m bench.train_speed")
    p.add_argument("--data", default="runs/data/train")
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--pool-size", type=int, default=2000)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    base = dict(data=args.data, stage="psnr", steps=args.steps, batch=16, hr_size=128, degradation="mix",
                threads=2, log_every=1, ckpt_every=10**9, seed=5)
    arms = {"per-step, 0 workers": dict(workers=0), "per-step, 1 worker": dict(workers=1)}
    work = Path(tempfile.mkdtemp(prefix="train_speed_"))
    result: dict = {"steps": args.steps, "batch": 16, "hr_size": 128, "threads": 2, "arms": {}}
    try:
        for name, kw in arms.items():
            train(TrainConfig(out=str(work / name.replace(" ", "_")), **base, **kw), progress=False)
            result["arms"][name] = _steps_per_second(work / name.replace(" ", "_") / "log.csv")
        pool = dict(workers=2, pool=str(work / "pool"), pool_size=args.pool_size, pool_refresh=0.0)
        t = time.perf_counter()
        # a 1-step run builds the pool; its time is the pool's cost
        train(TrainConfig(out=str(work / "build"), **{**base, "steps": 1}, **pool), progress=False)
        result["pool_build_s"] = time.perf_counter() - t
        result["pool_size"] = args.pool_size
        train(TrainConfig(out=str(work / "pool_run"), **base, **pool), progress=False)
        result["arms"]["pool"] = _steps_per_second(work / "pool_run" / "log.csv")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_speed.json").write_text(json.dumps(result, indent=1))
    ref = result["arms"]["per-step, 1 worker"]
    lines = ["# Training throughput (L1 stage, 16 x 128² HR patches, degradation mix, 2 torch threads)", "",
             "| data | steps/s | vs per-step, 1 worker |", "|---|---|---|"]
    lines += [f"| {k} | {v:.2f} | {v / ref:.2f}x |" for k, v in result["arms"].items()]
    lines += ["", f"Pool of {args.pool_size} pairs built in {result['pool_build_s']:.1f} s (2 processes), "
              f"{args.pool_size / result['pool_build_s']:.0f} pairs/s, paid once per pool."]
    (args.out / "train_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
