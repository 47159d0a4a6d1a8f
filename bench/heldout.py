"""Held-out validation of training runs: ablations, checkpoint choice and learning curves.

Not the product benchmark (that is :mod:`bench.quality`, on the benchmark photos):
this scores generators on crops of training-style images that a run did not
train on (``runs/data/heldout``: every 9th of the sorted training images, see
``docs/TRAINING.md``), degraded by every family users bring, each with its own
fixed seeds (``[10_000 + family, crop]``; training draws use ``[run seed,
sample index]``):

* ``bicubic``: antialiased bicubic downscale (:func:`restorer.degradations.bicubic_downscale`);
* ``web_jpeg``, ``phone``, ``second``: :func:`restorer.degradations.degrade_family`
  (web JPEG; blur + sensor noise + JPEG; Real-ESRGAN's second-order model).

Images are prescaled by 2 as in training; crops of ``crop`` HR pixels are placed
by ``numpy.random.default_rng([seed, photo])``. Metrics: :func:`restorer.metrics.compare`
(PSNR from the MSE pooled over a track's crops).

Usage::

    python -m bench.heldout --model NAME=PATH[:gen|:ema] ... --out FILE_STEM   # NAME=realesrgan-x4plus: the teacher
    python -m bench.heldout --curve RUN_DIR [RUN_DIR ...] --out FILE_STEM   # every step_N.pt (EMA, or --curve-weights gen), by wall hours
    python -m bench.heldout --save-set FILE.npz                              # the crops as uint8, for a machine without the photos
    python -m bench.heldout --set FILE.npz --quick --lpips-net alex ...      # ... scored there (the device run; vgg16 with a --no-alex bundle)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from bench.tables import metric_cells, metric_header, metric_keys
from restorer.degradations import FAMILIES, MixConfig, bicubic_downscale, degrade_family
from restorer.facts import METRICS
from restorer.train.data import load_photos

#: Tracks of the held-out set: the clean downscale, then the degraded families.
TRACKS = ("bicubic",) + tuple(f for f in FAMILIES if f != "clean")
#: First seed word of each degraded track; ``second`` keeps issue 5's held-out draws.
_SEEDS = {"second": 10_000, "web_jpeg": 10_001, "phone": 10_002}
#: Metric key (restorer.facts.METRICS) of each LPIPS backbone.
_LPIPS_KEYS = {"alex": "lpips_alex", "vgg16": "lpips_vgg"}


def heldout_set(folder: str | Path, scale: int = 4, crops_per_photo: int = 4, crop: int = 192,
                seed: int = 0) -> list[dict]:
    """Build the held-out crops.

    Args:
        folder: photos not used for training.
        scale: SR factor.
        crops_per_photo: crops per photo.
        crop: HR crop side in pixels (divisible by ``scale``).
        seed: seed of the crop positions.

    Returns:
        One dict per crop: ``hr`` (1, 3, crop, crop) float32 in [0, 1], and
        ``lr`` mapping each of :data:`TRACKS` to (1, 3, crop // scale, crop // scale)
        float32 in [0, 1].

    Raises:
        FileNotFoundError: no photo of at least ``crop`` pixels in ``folder``.
    """
    items = []
    cfg = MixConfig(scale=scale)
    for p, img in enumerate(load_photos(folder, crop, prescale=2.0)):
        rng = np.random.default_rng([seed, p])
        for _ in range(crops_per_photo):
            y = int(rng.integers(0, img.shape[0] - crop + 1))
            x = int(rng.integers(0, img.shape[1] - crop + 1))
            hr = torch.from_numpy(np.ascontiguousarray(img[y:y + crop, x:x + crop])).permute(2, 0, 1).float() / 255
            k = len(items)
            lr = {"bicubic": bicubic_downscale(hr[None], scale)}
            for family in TRACKS[1:]:
                rng_f = np.random.default_rng([_SEEDS[family], k])
                lr[family] = degrade_family(hr, rng_f, family, cfg)[None]
            items.append({"hr": hr[None], "lr": lr})
    return items


def save_set(items: list[dict], path: str | Path) -> None:
    """Write :func:`heldout_set`'s crops to a compressed ``.npz`` as uint8 (``hr``; ``lr_<track>``),
    NCHW. The degraded tracks are 8-bit already; the bicubic track is rounded to 8 bits, as an LR
    image file would be (its scores move in the fourth decimal)."""
    u8 = lambda t: (t * 255).round().clamp(0, 255).to(torch.uint8).numpy()  # noqa: E731
    arrays = {"hr": u8(torch.cat([it["hr"] for it in items]))}
    for track in items[0]["lr"]:
        arrays[f"lr_{track}"] = u8(torch.cat([it["lr"][track] for it in items]))
    np.savez_compressed(path, **arrays)


def load_set(path: str | Path) -> list[dict]:
    """Read a file written by :func:`save_set`; the same structure as :func:`heldout_set` returns."""
    with np.load(path) as z:
        f = lambda k, i: torch.from_numpy(z[k][i:i + 1]).float() / 255  # noqa: E731
        tracks = [k[3:] for k in z.files if k.startswith("lr_")]
        return [{"hr": f("hr", i), "lr": {t: f(f"lr_{t}", i) for t in tracks}} for i in range(len(z["hr"]))]


def load_generator(spec: str) -> torch.nn.Module:
    """Load a generator from ``PATH`` (``.safetensors``) or ``PATH:gen`` / ``PATH:ema``
    (a training checkpoint's raw generator or its EMA; default EMA), or ``realesrgan-x4plus``
    (the training teacher, :mod:`restorer.train.teacher`). Returns it in eval mode, CPU, fp32."""
    if spec == "realesrgan-x4plus":
        from restorer.train.teacher import load_realesrgan_x4plus

        return load_realesrgan_x4plus()
    from restorer.models import load_model

    path, _, part = spec.partition(":")
    return load_model(path, part or "ema").model.eval()


def evaluate(model: torch.nn.Module | None, items: list[dict], scale: int = 4, quick: bool = False,
             lpips_net: str = "alex", device: str = "cpu") -> dict:
    """Mean metrics of a generator (or bicubic upsampling when ``model`` is None) per track.

    All crops of a track go through the generator and the metrics as one batch
    (the same values as :func:`restorer.metrics.compare` per crop, fewer calls; PSNR: see Returns).

    Args:
        quick: one LPIPS, PSNR and SSIM only (for learning curves; about 5x cheaper).
        lpips_net: that LPIPS's backbone, ``"alex"`` or ``"vgg16"`` (where only VGG's weights are).
        device: where the generator and the metrics run (``model`` is moved there). A generator
            of another scale than ``scale`` (e.g. restorer-x2 for the x1 tracks) runs at its own,
            then its output is resized (antialiased bicubic), as ``restore(..., scale=)`` does.

    Returns:
        ``{track: {metric: mean}}`` over the crops; SR output clamped to [0, 1]. PSNR is that of the
        mean squared error over all crops, not a mean of per-crop PSNRs.
    """
    from restorer.metrics import get_dists, get_lpips, psnr, ssim
    from restorer.resample import resize

    hr = torch.cat([it["hr"] for it in items]).to(device)
    if model is not None:
        model = model.to(device)
    out: dict[str, dict[str, float]] = {}
    for track in items[0]["lr"]:
        lr = torch.cat([it["lr"][track] for it in items]).to(device)
        with torch.inference_mode():
            if model is None:
                sr = torch.nn.functional.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
            else:
                sr = model(lr)
                if sr.shape[-2:] != hr.shape[-2:]:  # another scale: as restore() does, native output then resampled
                    sr = resize(sr.clamp(0, 1), tuple(hr.shape[-2:]))
            sr = sr.clamp(0, 1)
            nets = (lpips_net,) if quick else ("alex", "vgg16")
            # PSNR of the pooled MSE (the crops stacked into one image): a mean of per-crop PSNRs is
            # dominated by crops reconstructed exactly (flat renders: 158 dB, or inf at x1).
            pooled = psnr(torch.cat(list(sr), -2)[None], torch.cat(list(hr), -2)[None])
            r = {_LPIPS_KEYS[n]: get_lpips(n, device)(sr, hr) for n in nets} | {"psnr": pooled, "ssim": ssim(sr, hr)}
            if not quick:
                r["dists"] = get_dists(device)(sr, hr)
        out[track] = {k: float(v.mean()) for k, v in r.items()}
    return out


def _table(title: str, note: str, results: dict[str, dict]) -> str:
    lines = [f"# {title}", "", note, ""]
    for track in next(iter(results.values())):
        keys = metric_keys(r[track] for r in results.values())
        lines += [f"Track `{track}`:", "", f"| method | {metric_header(keys)} |", "|---" * (len(keys) + 1) + "|"]
        for name, r in results.items():
            lines.append(f"| {name} | {metric_cells(r[track], keys)} |")
        lines.append("")
    return "\n".join(lines)


def curve_points(runs: list[Path]) -> list[tuple[str, Path, float]]:
    """``(label, checkpoint, wall hours)`` of every ``step_N.pt`` and ``last.pt`` of ``runs``, in
    order; a later run's hours start where the previous run's last checkpoint ended (stages in a row)."""
    points, offset = [], 0.0
    for run in runs:
        cks = sorted(run.glob("step_*.pt"), key=lambda q: int(q.stem.split("_")[1])) + [run / "last.pt"]
        end = 0.0
        for ck in cks:
            if not ck.exists():
                continue
            meta = torch.load(ck, map_location="cpu", weights_only=True)
            end = meta.get("elapsed", 0.0)
            points.append((f"{run.name} step {meta['step']}", ck, offset + end / 3600))
        offset += end / 3600
    return points


def main(argv: list[str] | None = None) -> int:
    """CLI: evaluate ``--model NAME=SPEC`` entries, or every checkpoint of ``--curve`` runs
    (plus bicubic), and write ``--out``.json/.md."""
    p = argparse.ArgumentParser(prog="python -m bench.heldout")
    p.add_argument("--data", default="runs/data/heldout")
    p.add_argument("--model", action="append", default=[], help="NAME=PATH[:gen|:ema] or NAME=realesrgan-x4plus")
    p.add_argument("--curve", type=Path, nargs="+", default=[], metavar="RUN_DIR",
                   help="learning curve: each step_N.pt and last.pt of these runs, in order")
    p.add_argument("--curve-weights", choices=("ema", "gen"), default="ema",
                   help="which generator of each curve checkpoint: its EMA (default) or the raw one")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--out", type=Path, help="output file stem (.json and .md are written)")
    p.add_argument("--set", type=Path, help="score on this file of --save-set instead of crops of --data")
    p.add_argument("--save-set", type=Path, metavar="FILE", help="write the crops to FILE (.npz) and stop")
    p.add_argument("--device", default="cpu", help="torch device of the generators and metrics (cuda on the device tool)")
    p.add_argument("--lpips-net", choices=tuple(_LPIPS_KEYS), default="alex", help="LPIPS backbone of --quick")
    p.add_argument("--title", default="Held-out validation")
    p.add_argument("--crops-per-photo", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="one LPIPS (--lpips-net), PSNR and SSIM only")
    args = p.parse_args(argv)
    if args.save_set is None and args.out is None:
        p.error("--out is required (unless --save-set)")
    if args.set:
        items = load_set(args.set)
        if items[0]["hr"].shape[-1] != items[0]["lr"]["bicubic"].shape[-1] * args.scale:
            p.error(f"{args.set} does not hold x{args.scale} crops")
    else:
        items = heldout_set(args.data, args.scale, crops_per_photo=args.crops_per_photo)
    if args.save_set:
        save_set(items, args.save_set)
        print(f"{len(items)} crops, x{args.scale} -> {args.save_set} ({args.save_set.stat().st_size / 2**20:.2f} MiB)")
        return 0
    key = _LPIPS_KEYS[args.lpips_net] if args.quick else "lpips_alex"  # the curve's column
    score = lambda model: evaluate(model, items, args.scale, args.quick, args.lpips_net, args.device)  # noqa: E731
    results = {"bicubic upsampling" if args.scale > 1 else "input as is": score(None)}
    hours = {}
    for entry in args.model:
        name, _, spec = entry.partition("=")
        results[name] = score(load_generator(spec))
        print(name, json.dumps(results[name]), flush=True)
    for name, ck, h in curve_points(args.curve):
        results[name] = score(load_generator(f"{ck}:{args.curve_weights}"))
        hours[name] = h
        print(f"{name} ({h:.2f} h)", {t: round(r[key], 4) for t, r in results[name].items()}, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"crops": len(items), "data": str(args.set or args.data), "models": args.model, "curve": [str(r) for r in args.curve],
         "curve_weights": args.curve_weights, "wall_hours": hours, "results": results}, indent=1))
    text = _table(args.title, f"{len(items)} crops of {args.set or args.data}, x{args.scale}.", results)
    if hours:
        text += f"\nLearning curve, {METRICS[key].name} (lower is better) against wall hours of training:\n\n"
        text += "| checkpoint | wall h | " + " | ".join(TRACKS) + " |\n|---|---|" + "---|" * len(TRACKS) + "\n"
        for name, h in hours.items():
            text += f"| {name} | {h:.2f} | " + " | ".join(f"{results[name][t][key]:.4f}" for t in TRACKS) + " |\n"
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
