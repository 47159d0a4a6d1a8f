"""Quality benchmark: x4 super-resolution of the benchmark photos, against bicubic and Lanczos.

HR = the photo cropped to a multiple of 4. Two tracks:

* ``bicubic``: LR = Pillow's antialiased bicubic downscale by 4 (the standard SR
  benchmark degradation).
* ``realistic``: Gaussian blur (Pillow's ``GaussianBlur(1.2)``, an approximate
  Gaussian of sigma about 1.2 HR pixels), Pillow bicubic downscale by 4, Gaussian
  noise (sigma 5 on the 0..255 scale, seed 0), JPEG quality 75. Made with Pillow,
  independently of ``restorer.degradations``, at mid-range values of the
  training degradations' ranges.

Each method upscales LR back to HR size; we report LPIPS-Alex, LPIPS-VGG, DISTS (lower
is better), PSNR (dB) and SSIM (higher is better) against HR, per photo and
mean over the photos, and write them to ``bench/results/quality_x4_{track}.{json,md}``.

Usage::

    python main.py bench quality [--model NAME|PATH ...] [--track bicubic|realistic|all] [--out bench/results]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.photos import benchmark_photos
from restorer.inference import restore
from restorer.io import from_pil
from restorer.metrics import compare
from restorer.models import load_model

#: Default output folder of the result files.
RESULTS = Path(__file__).resolve().parent / "results"
#: Keys of :func:`restorer.metrics.compare` averaged over the photos.
METRICS = ("lpips_alex", "lpips_vgg", "dists", "psnr", "ssim")


def _tensor(im: Image.Image) -> torch.Tensor:
    return from_pil(im.convert("RGB")).rgb


def degrade_lr(hr_im: Image.Image, track: str, scale: int = 4) -> Image.Image:
    """Make the LR input of a benchmark track from an HR Pillow image.

    Args:
        hr_im: RGB Pillow image, width and height divisible by ``scale``.
        track: ``"bicubic"``: Pillow's antialiased bicubic downscale (a = -0.5),
            the standard SR benchmark degradation. ``"realistic"``: Pillow
            ``GaussianBlur(1.2)`` (sigma in HR pixels), bicubic downscale,
            Gaussian noise sigma 5 on the 0..255 scale (``default_rng(0)``, so
            the same for every run), then JPEG quality 75 (Pillow, 4:2:0).
        scale: integer downscale factor.

    Returns:
        RGB Pillow image (8-bit) of size (W // scale, H // scale).

    Raises:
        ValueError: unknown ``track``.
    """
    w, h = hr_im.size
    if track == "bicubic":
        return hr_im.resize((w // scale, h // scale), Image.BICUBIC)
    if track != "realistic":
        raise ValueError(f"unknown track {track!r}")
    import io

    from PIL import ImageFilter

    lr = hr_im.filter(ImageFilter.GaussianBlur(1.2)).resize((w // scale, h // scale), Image.BICUBIC)
    arr = np.asarray(lr, dtype=np.float32) + np.random.default_rng(0).normal(0, 5, (h // scale, w // scale, 3))
    buf = io.BytesIO()
    Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=75)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def run(models: list[str], out_dir: Path = RESULTS, scale: int = 4, tile: int = 256, track: str = "bicubic") -> dict:
    """Run the benchmark on every photo of :func:`bench.photos.benchmark_photos`.

    Each HR photo is cropped to a multiple of ``scale``, degraded with
    :func:`degrade_lr`, and upscaled back by Pillow bicubic, Pillow Lanczos and
    each model (:func:`restorer.inference.restore` on the CPU, fp32); each
    output is scored against HR with :func:`restorer.metrics.compare`.

    Args:
        models: names or paths understood by :func:`restorer.models.load_model`;
            results are keyed by ``Path(m).stem``.
        out_dir: folder for ``quality_x{scale}_{track}.json`` and ``.md`` (created).
        scale: SR factor (integer).
        tile: tile side in LR pixels for :func:`restorer.inference.restore`.
        track: ``"bicubic"`` or ``"realistic"`` (see :func:`degrade_lr`).

    Returns:
        The dict written to the JSON file: ``track``, ``photos`` (file names),
        ``per_photo`` (photo -> method -> metric -> float), ``mean`` (method ->
        metric -> float, mean over photos), ``model_seconds`` (model -> total
        wall seconds of ``restore`` over all photos), ``torch_threads``.
        Metric units: PSNR in dB (higher is better), SSIM unitless (higher),
        LPIPS unitless (lower).

    Raises:
        ValueError: unknown ``track``.
        restorer.models.ModelLoadError: a model cannot be loaded.
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.
        subprocess.CalledProcessError: the photos could not be fetched.
    """
    photos = benchmark_photos()
    loaded = {Path(m).stem: load_model(m) for m in models}
    per_photo: dict[str, dict[str, dict[str, float]]] = {}
    timings: dict[str, float] = {m: 0.0 for m in loaded}
    for path in photos:
        hr_im = Image.open(path).convert("RGB")
        w, h = (hr_im.width // scale) * scale, (hr_im.height // scale) * scale
        hr_im = hr_im.crop((0, 0, w, h))
        lr_im = degrade_lr(hr_im, track, scale)
        hr = _tensor(hr_im)
        outs = {
            "bicubic": _tensor(lr_im.resize((w, h), Image.BICUBIC)),
            "lanczos": _tensor(lr_im.resize((w, h), Image.LANCZOS)),
        }
        lr = _tensor(lr_im)
        for name, model in loaded.items():
            t0 = time.perf_counter()
            outs[name] = restore(model, lr, scale=scale, tile=tile, device="cpu").rgb
            timings[name] += time.perf_counter() - t0
        per_photo[path.name] = {k: compare(v, hr) for k, v in outs.items()}
        print(path.name, {k: round(v["lpips_alex"], 4) for k, v in per_photo[path.name].items()}, flush=True)
    methods = list(next(iter(per_photo.values())).keys())
    mean = {m: {k: float(np.mean([per_photo[p][m][k] for p in per_photo])) for k in METRICS} for m in methods}
    result = {"track": track, "photos": [p.name for p in photos],
              "per_photo": per_photo, "mean": mean, "model_seconds": timings,
              "torch_threads": torch.get_num_threads()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"quality_x{scale}_{track}.json").write_text(json.dumps(result, indent=1))
    lines = [f"# Quality, x{scale}, {track} track ({len(photos)} benchmark photos, DESIGN.md section 4)", "",
             "| method | LPIPS-Alex (lower) | LPIPS-VGG (lower) | DISTS (lower) | PSNR dB (higher) | SSIM (higher) |",
             "|---|---|---|---|---|---|"]
    for m in methods:
        r = mean[m]
        lines.append(f"| {m} | {r['lpips_alex']:.4f} | {r['lpips_vgg']:.4f} | {r['dists']:.4f} | {r['psnr']:.2f} | {r['ssim']:.4f} |")
    lines += ["", "Per photo, LPIPS-Alex:", "", "| photo | " + " | ".join(methods) + " |",
              "|---" * (len(methods) + 1) + "|"]
    for p, vals in per_photo.items():
        lines.append(f"| {p} | " + " | ".join(f"{vals[m]['lpips_alex']:.4f}" for m in methods) + " |")
    (out_dir / f"quality_x{scale}_{track}.md").write_text("\n".join(lines) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI for ``python main.py bench quality``: run :func:`run` for the chosen
    track(s) (default both; model default ``restorer-x4``) and print the Markdown tables.

    Args:
        argv: options without the program name; None = ``sys.argv[1:]``.

    Returns:
        0. Failures propagate as exceptions (see :func:`run`).

    Raises:
        SystemExit: argparse usage error (2) or ``--help`` (0).
    """
    p = argparse.ArgumentParser(prog="restorer bench quality")
    p.add_argument("--model", action="append", default=None, help="model name or file (repeatable)")
    p.add_argument("--track", choices=["bicubic", "realistic", "all"], default="all")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    for track in (["bicubic", "realistic"] if args.track == "all" else [args.track]):
        run(args.model or ["restorer-x4"], args.out, track=track)
        print((args.out / f"quality_x4_{track}.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
