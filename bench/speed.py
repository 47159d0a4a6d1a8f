"""CPU speed benchmark: our generator against SRVGGNetCompact at realesr-general-x4v3 size.

Both run in the same process, same threads, same input (default 128x128, fp32,
``torch.inference_mode``); we report the best of ``--repeats`` runs as output
megapixels per second, and the MACs per LR pixel of each architecture, to
``bench/results/speed.{json,md}``. SRVGGNetCompact is built from spandrel's copy
of the architecture (64 features, 32 convolutions, x4, PReLU; DESIGN.md
section 5); its trained weights are not needed to time it.

With the memory run (default; ``--no-memory`` skips it), the same command also
measures the peak RSS of x4 on a 4000x3000 photo through the CLI
(:mod:`bench.memory`, ``bench/results/memory.{json,md}``), so one run gives both the
throughput comparison and the memory figure.

Usage: ``python main.py bench speed [--model NAME|PATH] [--size 128] [--threads 2] [--no-memory]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from bench import RESULTS
from restorer.facts import DEFAULT_MODEL
from restorer.models import load_model


def _best_seconds(fns: list, x: torch.Tensor, repeats: int) -> list[float]:
    """Best wall time of each function over ``repeats`` rounds, timed in alternation
    (so a change of machine load hits every function alike), after one warm-up."""
    best = [float("inf")] * len(fns)
    with torch.inference_mode():
        for fn in fns:
            fn(x)
        for _ in range(repeats):
            for i, fn in enumerate(fns):
                t0 = time.perf_counter()
                fn(x)
                best[i] = min(best[i], time.perf_counter() - t0)
    return best


def run(model_name: str = DEFAULT_MODEL, size: int = 128, threads: int = 2, repeats: int = 15,
        out_dir: Path = RESULTS) -> dict:
    """Time our generator against SRVGGNetCompact (realesr-general-x4v3 size).

    Both run on the CPU in fp32 under ``torch.inference_mode`` on the same
    random (1, 3, size, size) input in [0, 1]; each is warmed up once, then the
    best of ``repeats`` runs is kept. Reference architecture: spandrel 0.4's copy
    of SRVGGNetCompact (Wang et al., Real-ESRGAN, 2021; 64 features, 32 convs,
    x4, PReLU; DESIGN.md section 5), random weights.

    Args:
        model_name: our model, a name or path for :func:`restorer.models.load_model`;
            must be one of ours at x4, ``RestorerCompact`` or ``RestorerCascade`` (``macs_per_pixel`` is read, and
            output megapixels assume x4).
        size: LR input side in pixels.
        threads: ``torch.set_num_threads`` value (left set for the process).
        repeats: timed runs per model (best kept).
        out_dir: folder for ``speed.json`` and ``speed.md`` (created).

    Returns:
        The dict written to ``speed.json``: input size, threads, CPU, torch
        version; per model ``seconds`` (best wall time of one forward pass),
        ``output_mp_per_s`` (output megapixels per second),
        ``mmac_per_lr_pixel`` (millions of multiply-accumulates per LR pixel,
        convolutions only) and ``params``; ``speedup`` (reference seconds /
        ours); ``load_avg_1min`` (the machine's load average, None where the OS
        has none) and ``cpu_count``.

    Raises:
        restorer.models.ModelLoadError: ``model_name`` cannot be loaded.
        AttributeError: the model is not one of ours (no ``macs_per_pixel``).
        ImportError: spandrel's internal SRVGG module moved (spandrel != 0.4).
    """
    from spandrel.architectures.Compact.__arch.SRVGG import SRVGGNetCompact

    torch.set_num_threads(threads)
    desc = load_model(model_name)
    ours = desc.model.eval()
    ref = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=32, upscale=4, act_type="prelu").eval()
    x = torch.rand(1, 3, size, size)
    out_mp = (size * 4) ** 2 / 1e6
    t_ours, t_ref = _best_seconds([ours, ref], x, repeats)
    # SRVGGNetCompact: first conv 3->64, 32 body convs 64->64, last conv 64->3*4**2 (3x3 kernels).
    ref_macs = 9 * 3 * 64 + 32 * 9 * 64 * 64 + 9 * 64 * 48
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {
        "input": f"{size}x{size}", "threads": threads, "cpu": platform.processor() or platform.machine(),
        "load_avg_1min": load, "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "ours": {"model": model_name, "architecture": desc.architecture.id, "seconds": t_ours,
                 "output_mp_per_s": out_mp / t_ours,
                 "mmac_per_lr_pixel": ours.macs_per_pixel() / 1e6,
                 "params": sum(p.numel() for p in ours.parameters())},
        "srvgg_compact_x4v3": {"seconds": t_ref, "output_mp_per_s": out_mp / t_ref,
                               "mmac_per_lr_pixel": ref_macs / 1e6,
                               "params": sum(p.numel() for p in ref.parameters())},
        "speedup": t_ref / t_ours,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "speed.json").write_text(json.dumps(result, indent=1))
    o, r = result["ours"], result["srvgg_compact_x4v3"]
    (out_dir / "speed.md").write_text(
        f"# CPU speed, x4, {size}x{size} input, {threads} threads, fp32 (torch {torch.__version__})\n\n"
        "| generator | params | MMAC / LR pixel | output MP/s |\n|---|---|---|---|\n"
        f"| {o['architecture']} ({model_name}) | {o['params']:,} | {o['mmac_per_lr_pixel']:.3f} | {o['output_mp_per_s']:.2f} |\n"
        f"| SRVGGNetCompact (x4v3 size) | {r['params']:,} | {r['mmac_per_lr_pixel']:.3f} | {r['output_mp_per_s']:.2f} |\n"
        f"\nSpeed-up: {result['speedup']:.2f}x\n"
        + (f"\nMachine load during the run: {load:.1f} (1-minute average, {os.cpu_count()} CPUs); absolute MP/s "
           "fall with load, the speed-up (same run, alternating) much less.\n" if load is not None else ""))
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI for ``python main.py bench speed``: run :func:`run` and print ``speed.md``; then
    :func:`bench.memory.run` and print ``memory.md`` (unless ``--no-memory``).

    Args:
        argv: options without the program name; None = ``sys.argv[1:]``.

    Returns:
        0. Failures propagate as exceptions (see :func:`run`).

    Raises:
        SystemExit: argparse usage error (2) or ``--help`` (0).
    """
    p = argparse.ArgumentParser(prog="restorer bench speed")
    p.add_argument("--model", default=DEFAULT_MODEL)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--no-memory", action="store_true", help="skip the 4000x3000 x4 peak-memory run")
    args = p.parse_args(argv)
    run(args.model, args.size, args.threads, args.repeats, args.out)
    print((args.out / "speed.md").read_text())
    if not args.no_memory:
        from bench import memory

        memory.run(threads=args.threads, out_dir=args.out)
        print((args.out / "memory.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
