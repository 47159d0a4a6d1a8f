"""Peak memory of x4 on a 4000x3000 photo on the CPU, through the CLI's streaming path.

The job runs in a fresh subprocess (``python main.py restore IN -o OUT --device cpu``
with the bundled model and the automatic tile size); its peak resident set size is
read from ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits. The
target (issue 4): peak RSS <= 1.5 GiB + the output's own size (W x H x 3 bytes for
8-bit RGB). The input is a synthetic photo-like JPEG (smooth colour fields, edges and
noise; content does not change the memory of a convolutional generator). Results go
to ``bench/results/memory.{json,md}``.

Usage: ``python main.py bench memory [--width 4000] [--height 3000] [--threads 2] [--out DIR]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import RESULTS, ROOT


def photo_like(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A (height, width, 3) uint8 image with smooth colour fields, hard edges and grain."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 0.5 + 0.4 * np.sin(7 * x + 3 * y)
    img[..., 1] = 0.5 + 0.3 * np.cos(5 * y) * (x > 0.5)
    img[..., 2] = x * y
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def run(width: int = 4000, height: int = 3000, scale: int = 4, threads: int = 2, out_dir: Path = RESULTS,
        ext: str = ".png") -> dict:
    """Measure peak RSS and wall time of one CLI restore in a subprocess.

    Args:
        width, height: input size in pixels.
        scale: output scale (the bundled model is x4).
        threads: ``OMP_NUM_THREADS``/torch threads of the child.
        out_dir: folder for ``memory.json`` and ``memory.md`` (created).
        ext: output format extension.

    Returns:
        The dict written to ``memory.json``: sizes, ``peak_rss_bytes`` (child),
        ``output_bytes`` (W' x H' x 3), ``limit_bytes`` (1.5 GiB + output bytes),
        ``within_limit`` (bool), ``seconds`` (wall time of the child, including
        decode and encode), ``output_mp_per_s``, ``exit_code``.

    Raises:
        RuntimeError: the child failed (its stderr's last line is in the message).
    """
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="restorer-bench-") as tmp:
        src, dst = Path(tmp) / "photo.jpg", Path(tmp) / f"photo_x{scale}{ext}"
        Image.fromarray(photo_like(width, height)).save(src, quality=92)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "restore", str(src), "-o", str(dst),
                               "--scale", str(scale), "--device", "cpu"], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            raise RuntimeError(f"restore failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
        Image.MAX_IMAGE_PIXELS = None  # our own output: only its header is read
        with Image.open(dst) as im:
            out_size = im.size
    if peak_kib < before:  # pragma: no cover - ru_maxrss of children is a running maximum
        raise RuntimeError("could not read the child's peak RSS")
    out_bytes = out_size[0] * out_size[1] * 3
    limit = int(1.5 * 2**30) + out_bytes
    peak = peak_kib * 1024  # Linux reports KiB
    result = {
        "input": f"{width}x{height}", "output": f"{out_size[0]}x{out_size[1]}", "scale": scale, "format": ext,
        "threads": threads, "cpu": platform.processor() or platform.machine(),
        "peak_rss_bytes": peak, "output_bytes": out_bytes, "limit_bytes": limit, "within_limit": peak <= limit,
        "seconds": seconds, "output_mp_per_s": out_size[0] * out_size[1] / 1e6 / seconds,
        "command": f"python main.py restore photo.jpg -o photo_x{scale}{ext} --scale {scale} --device cpu",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "memory.json").write_text(json.dumps(result, indent=1))
    gib = 2**30
    (out_dir / "memory.md").write_text(
        f"# Peak memory, x{scale} of a {width}x{height} photo on the CPU ({threads} threads)\n\n"
        f"| output | output size | peak RSS | limit (1.5 GiB + output) | within | wall time (decode+model+encode) |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {result['output']} {ext} | {out_bytes / gib:.2f} GiB | {peak / gib:.2f} GiB | {limit / gib:.2f} GiB | "
        f"{'yes' if result['within_limit'] else 'NO'} | {seconds:.0f} s ({result['output_mp_per_s']:.2f} output MP/s) |\n"
        f"\nCommand (run in a subprocess, peak from getrusage): `{result['command']}`\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI for ``python main.py bench memory``: run :func:`run` and print ``memory.md``.

    Returns:
        0 when the peak is within the limit, 1 otherwise.

    Raises:
        SystemExit: argparse usage error (2) or ``--help`` (0).
        RuntimeError: the restore subprocess failed.
    """
    p = argparse.ArgumentParser(prog="restorer bench memory")
    p.add_argument("--width", type=int, default=4000)
    p.add_argument("--height", type=int, default=3000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--format", default=".png", choices=[".png", ".jpg", ".tif"])
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    res = run(args.width, args.height, 4, args.threads, args.out, args.format)
    print((args.out / "memory.md").read_text())
    return 0 if res["within_limit"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
