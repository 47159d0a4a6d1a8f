"""Metrics benchmark: LPIPS speed against the reference package, region updates, large-image memory.

What it measures (CPU, ``--threads`` torch threads, fp32), written to
``bench/results/metrics.{json,md}``:

1. **LPIPS-Alex, 512x512 pair** (``sk_astronaut`` against its x4 bicubic
   down/up-scaled copy): the reference ``lpips==0.1.4`` package (with the same
   backbone weights), ours cold (both images through the backbone), and ours with
   the reference side's features cached (:meth:`LPIPS.stage_features`). The
   three are timed in interleaved rounds (so load from other processes hits
   each alike), in blocks of 5; we report the best of the block medians
   (best-of-N medians), the overall median, and the median of the per-round
   ratios ours / reference.
2. **Region updates on a 12-megapixel pair** (``libjxl_flower`` resized to
   4242x2828, against its x4 bicubic down/up copy): a 512x512 viewport through
   :class:`restorer.metrics.RegionMetrics`: the first call on a fresh object,
   a steady drag (64 px right, 32 px down per update: uncached cells come in),
   revisits of seen boxes, the time to fill the whole cache (``whole()``), and
   any box afterwards.
3. **Region accuracy**: on the 2268x1512 photo pair, region values of 512x512
   boxes against the metrics of the cropped pair itself (``compare`` on the
   crop), and the whole-image box against ``compare``.
4. **24-megapixel pair** (6000x4000), in a child process so its peak resident
   memory (``ru_maxrss``) is its own: LPIPS-Alex, LPIPS-VGG and DISTS (tiled),
   SSIM (bands) and PSNR via :func:`restorer.metrics.compare`; peak RSS before
   and after the metrics, and wall time.

Usage: ``python main.py bench metrics [--threads 2] [--blocks 6] [--pans 12] [--skip-24mp]``.
Needs the ``bench`` extra (``lpips==0.1.4``) and the benchmark photos (``bench/photos.py``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench import RESULTS, ROOT
from restorer.facts import REGION_KEYS


def _tensor(im: Image.Image) -> torch.Tensor:
    # uint8 -> float32 in one (1, 3, H, W) allocation (keeps the 24 MP inputs' peak low).
    arr = torch.from_numpy(np.asarray(im.convert("RGB"))).permute(2, 0, 1)[None]
    out = torch.empty(arr.shape, dtype=torch.float32)
    out.copy_(arr)
    return out.div_(255.0)


def _rss_mib() -> float:
    """Current resident set size of this process, MiB (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _photo(name: str) -> Image.Image:
    from bench.photos import benchmark_photos

    for p in benchmark_photos():
        if p.name.startswith(name):
            with Image.open(p) as im:
                return im.convert("RGB")
    raise FileNotFoundError(f"benchmark photo {name!r} not found (python -m bench.photos)")


def _pair(im: Image.Image, size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x4 bicubic down/up copy, reference) at ``size`` (width, height), as tensors."""
    if size is not None:
        im = im.resize(size, Image.BICUBIC)
    w, h = im.size
    low = im.resize((max(1, w // 4), max(1, h // 4)), Image.BICUBIC).resize((w, h), Image.BICUBIC)
    return _tensor(low), _tensor(im)


def reference_lpips(net: str = "alex"):
    """The reference ``lpips`` package (0.1.4) with our backbone weights loaded into its slices."""
    import lpips

    from restorer.weights import backbone_state_dict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net={"alex": "alex", "vgg16": "vgg"}[net], version="0.1", pnet_rand=True, verbose=False)
    backbone = backbone_state_dict(net)
    state = ref.state_dict()
    for key in state:
        m = re.fullmatch(r"net\.slice(\d)\.(\d+)\.(weight|bias)", key)
        if m:
            state[key] = backbone[f"features.{m.group(2)}.{m.group(3)}"]
    ref.load_state_dict(state)
    return ref.eval()


def _interleaved(fns: dict, blocks: int, per_block: int = 5) -> dict:
    """Time the functions in alternation (so load from other processes hits each alike).

    ``blocks`` blocks of ``per_block`` rounds, after two warm-up calls each; every
    round calls each function once, in turn.

    Returns:
        Per function: ``best_median_ms`` (the lowest of the block medians: best-of-N
        medians), ``median_ms`` (over all rounds), ``best_ms`` (fastest call);
        and ``rounds`` (all times, ms).
    """
    for fn in fns.values():
        fn()
        fn()
    times = {k: [] for k in fns}
    for _ in range(blocks * per_block):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append((time.perf_counter() - t0) * 1e3)
    out = {}
    for k, v in times.items():
        block_medians = [statistics.median(v[i:i + per_block]) for i in range(0, len(v), per_block)]
        out[k] = {"best_median_ms": min(block_medians), "median_ms": statistics.median(v), "best_ms": min(v),
                  "rounds": v}
    return out


def lpips_speed(blocks: int) -> dict:
    """Section 1 of the module docstring."""
    from restorer.metrics import get_lpips

    x, y = _pair(_photo("sk_astronaut"))
    assert x.shape == (1, 3, 512, 512)
    ref = reference_lpips("alex")
    ours = get_lpips("alex")
    with torch.inference_mode():
        fy = ours.stage_features(y)
        v_ref = float(ref(x, y, normalize=True))
        v_ours = float(ours(x, y))
        v_cached = float(ours(x, y, y_features=fy))

    def run_ref():
        with torch.no_grad():
            ref(x, y, normalize=True)

    def run_ours():
        with torch.inference_mode():
            ours(x, y)

    def run_cached():
        with torch.inference_mode():
            ours(x, y, y_features=fy)

    t = _interleaved({"reference": run_ref, "ours_cold": run_ours, "ours_cached": run_cached}, blocks)
    base = t["reference"]["best_median_ms"]
    paired = {k: statistics.median(a / b for a, b in zip(t[k]["rounds"], t["reference"]["rounds"]))
              for k in ("ours_cold", "ours_cached")}
    return {
        "pair": "sk_astronaut 512x512 vs its x4 bicubic down/up copy",
        "values": {"reference": v_ref, "ours": v_ours, "ours_cached": v_cached},
        "times": t,
        "ratio_cold": t["ours_cold"]["best_median_ms"] / base,
        "ratio_cached": t["ours_cached"]["best_median_ms"] / base,
        "paired_ratio_cold": paired["ours_cold"],
        "paired_ratio_cached": paired["ours_cached"],
    }


def region_speed(pans: int) -> dict:
    """Section 2 of the module docstring."""
    from restorer.metrics import RegionMetrics

    x, y = _pair(_photo("libjxl_flower"), (4242, 2828))
    h, w = x.shape[-2:]
    rm = RegionMetrics(x, y)
    x0, y0 = 1000, 800
    t0 = time.perf_counter()
    rm.region((x0, y0, x0 + 512, y0 + 512))
    first = time.perf_counter() - t0
    pan_times, boxes, misses = [], [], 0
    for i in range(1, pans + 1):  # a steady diagonal drag: 64 px right, 32 px down per update
        box = (x0 + 64 * i, y0 + 32 * i, x0 + 64 * i + 512, y0 + 32 * i + 512)
        boxes.append(box)
        before = rm.cached_fraction
        t0 = time.perf_counter()
        rm.region(box)
        pan_times.append(time.perf_counter() - t0)
        misses += rm.cached_fraction > before
    revisit = []
    for box in boxes:
        t0 = time.perf_counter()
        rm.region(box)
        revisit.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    rm.whole()
    fill = time.perf_counter() - t0
    far = []
    for i in range(8):  # anywhere, now that the cache is full
        bx, by = (i * 467) % (w - 512), (i * 311) % (h - 512)
        t0 = time.perf_counter()
        rm.region((bx, by, bx + 512, by + 512))
        far.append(time.perf_counter() - t0)
    return {
        "pair": f"libjxl_flower resized to {w}x{h} ({w * h / 1e6:.1f} MP) vs its x4 bicubic down/up copy",
        "viewport": "512x512",
        "first_call_ms": first * 1e3,
        "pan_64px_median_ms": statistics.median(pan_times) * 1e3,
        "pan_64px_max_ms": max(pan_times) * 1e3,
        "revisit_median_ms": statistics.median(revisit) * 1e3,
        "fill_whole_cache_s": fill,
        "after_fill_median_ms": statistics.median(far) * 1e3,
        "after_fill_max_ms": max(far) * 1e3,
        "pans": pans,
        "pans_computing_new_cells": int(misses),
    }


def region_accuracy() -> dict:
    """Section 3 of the module docstring."""
    from restorer.metrics import RegionMetrics, compare

    x, y = _pair(_photo("libjxl_flower"))
    h, w = x.shape[-2:]
    rm = RegionMetrics(x, y)
    whole = compare(x, y)
    full = rm.region((0, 0, w, h))
    rng = np.random.default_rng(0)
    dev = {k: [] for k in REGION_KEYS}
    rel, partial_vs_full, map_rel = [], [], []
    done = RegionMetrics(x, y)
    heat = done.lpips_map()  # fills the whole cache
    for _ in range(8):
        bx, by = int(rng.integers(0, w - 512)), int(rng.integers(0, h - 512))
        box = (bx, by, bx + 512, by + 512)
        r = rm.region(box)  # computed from the cells this box needs only
        c = compare(x[..., by:by + 512, bx:bx + 512], y[..., by:by + 512, bx:bx + 512])
        for k in dev:
            dev[k].append(abs(r[k] - c[k]))
        rel.append(abs(r["lpips_alex"] - c["lpips_alex"]) / c["lpips_alex"])
        partial_vs_full.append(max(abs(r[k] - v) for k, v in done.region(box).items()))
        map_rel.append(abs(float(heat[by:by + 512, bx:bx + 512].mean()) - r["lpips_alex"]) / r["lpips_alex"])
    return {
        "partial_cache_vs_whole_image_max_abs": max(partial_vs_full),
        "lpips_region_vs_heatmap_mean_max_rel": max(map_rel),
        "pair": f"libjxl_flower {w}x{h} vs its x4 bicubic down/up copy; 8 random 512x512 boxes",
        "region_vs_crop_mean_abs": {k: float(np.mean(v)) for k, v in dev.items()},
        "region_vs_crop_max_abs": {k: float(np.max(v)) for k, v in dev.items()},
        "lpips_region_vs_crop_max_rel": float(np.max(rel)),
        "whole_box_vs_compare_abs": {k: abs(full[k] - whole[k]) for k in full},
    }


def _child_24mp() -> None:
    """Run in a fresh process: compare() on a 6000x4000 pair, print JSON (times, peak RSS)."""
    from restorer.metrics import compare

    os.nice(10)  # minutes of work on a shared machine: yield to interactive jobs
    torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 2)
    t0 = time.perf_counter()
    x, y = _pair(_photo("libjxl_flower"), (6000, 4000))
    import gc

    gc.collect()
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_before = _rss_mib()
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = compare(x, y)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"size": "6000x4000", "inputs_s": build, "compare_s": seconds, "values": res,
                      "peak_rss_after_inputs_mib": rss_inputs, "rss_before_compare_mib": rss_before,
                      "peak_rss_mib": peak}))


def big_pair_memory(threads: int) -> dict:
    """Section 4 of the module docstring."""
    cmd = [sys.executable, "-m", "bench.metrics", "--child-24mp", "--threads", str(threads)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"24 MP child failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


SECTIONS = ("lpips", "region", "accuracy", "big")


def run(threads: int = 2, blocks: int = 6, pans: int = 12, skip_24mp: bool = False, out_dir: Path = RESULTS,
        only: list[str] | None = None) -> dict:
    """Run all sections and write ``metrics.json`` and ``metrics.md``.

    Args:
        threads: torch CPU threads (also for the 24 MP child).
        blocks: blocks of 5 interleaved timing rounds for the LPIPS comparison.
        pans: 64-pixel viewport pans timed on the 12 MP pair.
        skip_24mp: leave out section 4 (several minutes on 2 cores).
        out_dir: output folder (created).
        only: re-measure only these sections (names in ``SECTIONS``), keeping the
            others from the existing ``metrics.json``; each section carries the
            date it was measured.

    Returns:
        The dict written to ``metrics.json``.

    Raises:
        FileNotFoundError: a benchmark photo is missing.
        ImportError: the reference ``lpips`` package is not installed (``bench`` extra).
        RuntimeError: the 24 MP child process failed.
    """
    torch.set_num_threads(threads)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {}
    if only and (out_dir / "metrics.json").is_file():
        result = json.loads((out_dir / "metrics.json").read_text())
        for key in ("lpips_512", "region_12mp", "region_accuracy", "big_24mp"):
            if key in result:  # kept sections from a run that did not stamp them: its start date
                result[key].setdefault("measured", f"run started {result.get('date', '?')}")
    result.update({"threads": threads, "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
                   "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    wanted = set(only or SECTIONS) - ({"big"} if skip_24mp else set())

    def write() -> None:  # after each section, so a long run leaves what it has measured
        (out_dir / "metrics.json").write_text(json.dumps(result, indent=1))
        (out_dir / "metrics.md").write_text(_markdown(result))

    for name, key, fn in (("lpips", "lpips_512", lambda: lpips_speed(blocks)),
                          ("region", "region_12mp", lambda: region_speed(pans)),
                          ("accuracy", "region_accuracy", region_accuracy),
                          ("big", "big_24mp", lambda: big_pair_memory(threads))):
        if name in wanted:
            result[key] = fn()
            result[key]["measured"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            write()
    return result


def _markdown(r: dict) -> str:
    lines = [f"# Metrics benchmark (CPU, {r['threads']} threads, fp32, torch {r['torch']})", ""]
    if "lpips_512" in r:
        lines += _md_lpips(r["lpips_512"])
    if "region_12mp" in r:
        lines += _md_region(r["region_12mp"])
    if "region_accuracy" in r:
        lines += _md_accuracy(r["region_accuracy"])
    if "big_24mp" in r:
        lines += _md_big(r["big_24mp"])
    return "\n".join(lines)


def _md_lpips(lp: dict) -> list[str]:
    t = lp["times"]
    return [
        f"## LPIPS-Alex, 512x512 pair ({lp['pair']}; measured {lp.get('measured', '?')})",
        "",
        "| implementation | best-of-N medians, ms | median, ms | fastest, ms | x reference (best medians) "
        "| x reference (median of paired rounds) |",
        "|---|---|---|---|---|---|",
        f"| reference `lpips` 0.1.4 | {t['reference']['best_median_ms']:.1f} | {t['reference']['median_ms']:.1f} "
        f"| {t['reference']['best_ms']:.1f} | 1.00 | 1.00 |",
        f"| ours, cold | {t['ours_cold']['best_median_ms']:.1f} | {t['ours_cold']['median_ms']:.1f} "
        f"| {t['ours_cold']['best_ms']:.1f} | {lp['ratio_cold']:.2f} | {lp['paired_ratio_cold']:.2f} |",
        f"| ours, reference side cached | {t['ours_cached']['best_median_ms']:.1f} | {t['ours_cached']['median_ms']:.1f} "
        f"| {t['ours_cached']['best_ms']:.1f} | {lp['ratio_cached']:.2f} | {lp['paired_ratio_cached']:.2f} |",
        "",
        f"{len(t['reference']['rounds'])} interleaved rounds in blocks of 5; the machine was shared with other jobs "
        "(load shown by the spread between the columns).",
        "",
        f"Values: reference {lp['values']['reference']:.6f}, ours {lp['values']['ours']:.6f}, "
        f"cached {lp['values']['ours_cached']:.6f}. Targets: cold <= 1.0x, cached <= 0.5x.",
        "",
    ]


def _md_region(rg: dict) -> list[str]:
    return [
        f"## Region updates, {rg['viewport']} viewport ({rg['pair']}; measured {rg.get('measured', '?')})",
        "",
        f"- first call on a fresh `RegionMetrics`: {rg['first_call_ms']:.0f} ms",
        f"- panning (a steady drag, 64 px right and 32 px down per update; uncached cells computed, two grid "
        f"cells ahead): median {rg['pan_64px_median_ms']:.0f} ms, max {rg['pan_64px_max_ms']:.0f} ms over "
        f"{rg['pans']} updates, {rg.get('pans_computing_new_cells', '?')} of which computed new cells",
        f"- revisiting a seen box: median {rg['revisit_median_ms']:.1f} ms",
        f"- filling the whole LPIPS cache (`whole()`): {rg['fill_whole_cache_s']:.1f} s; afterwards any box: "
        f"median {rg['after_fill_median_ms']:.1f} ms, max {rg['after_fill_max_ms']:.1f} ms",
        "",
        "Target: region updates under 150 ms.",
        "",
    ]


def _md_accuracy(acc: dict) -> list[str]:
    lines = [
        f"## Region accuracy ({acc['pair']}; measured {acc.get('measured', '?')})",
        "",
        "Region values computed from only the cells a box needs, against the same boxes read from the "
        f"whole-image computation: max abs deviation {acc['partial_cache_vs_whole_image_max_abs']:.1e} (all keys). "
        "Region LPIPS against the mean of the heat map (bilinear upsampling) over the box: max "
        f"{100 * acc['lpips_region_vs_heatmap_mean_max_rel']:.2f} % relative.",
        "",
        "Region values (whole-image context) against the metrics of the cropped pair itself (which sees "
        "zero padding at the crop's edges; PSNR is identical by definition):",
        "",
        "| metric | mean abs deviation | max abs deviation |",
        "|---|---|---|",
    ]
    for k in REGION_KEYS:
        lines.append(f"| {k} | {acc['region_vs_crop_mean_abs'][k]:.2e} | {acc['region_vs_crop_max_abs'][k]:.2e} |")
    lines += [
        "",
        f"LPIPS-Alex max relative deviation: {100 * acc['lpips_region_vs_crop_max_rel']:.2f} %. Whole-image box "
        "against `compare`: " + ", ".join(f"{k} {v:.1e}" for k, v in acc["whole_box_vs_compare_abs"].items()) + ".",
        "",
    ]
    return lines


def _md_big(b: dict) -> list[str]:
    return [
        f"## 24-megapixel pair ({b['size']}), `compare()` (LPIPS-Alex, LPIPS-VGG, DISTS tiled; SSIM in bands; PSNR; "
        f"measured {b.get('measured', '?')})",
        "",
        f"- peak RSS of the process: {b['peak_rss_mib']:.0f} MiB; {b.get('rss_before_compare_mib', float('nan')):.0f} "
        f"MiB resident just before `compare` (the two float32 inputs are {2 * 24e6 * 3 * 4 / 2**20:.0f} MiB; "
        f"building them peaked at {b['peak_rss_after_inputs_mib']:.0f} MiB), so `compare` itself needed at most "
        f"{b['peak_rss_mib'] - b.get('rss_before_compare_mib', float('nan')):.0f} MiB more",
        f"- time: {b['compare_s']:.0f} s (child process at nice 10 on the shared machine); values: "
        + ", ".join(f"{k} {v:.4f}" for k, v in b["values"].items()),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    """CLI for ``python main.py bench metrics``: run :func:`run` and print ``metrics.md``.

    Args:
        argv: options without the program name; None = ``sys.argv[1:]``.

    Returns:
        0.

    Raises:
        SystemExit: argparse usage error (2) or ``--help`` (0).
    """
    p = argparse.ArgumentParser(prog="restorer bench metrics")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--blocks", type=int, default=6, help="blocks of 5 interleaved LPIPS timing rounds")
    p.add_argument("--pans", type=int, default=12)
    p.add_argument("--skip-24mp", action="store_true")
    p.add_argument("--only", nargs="+", choices=SECTIONS, default=None,
                   help="re-measure these sections only, keeping the others from the existing metrics.json")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    run(args.threads, args.blocks, args.pans, args.skip_24mp, args.out, args.only)
    print((args.out / "metrics.md").read_text())
    return 0


if __name__ == "__main__":
    if "--child-24mp" in sys.argv:
        _child_24mp()
    else:
        raise SystemExit(main())
