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
by ``numpy.random.default_rng([seed, photo])``. Metrics: :func:`restorer.metrics.compare`.

Usage::

    python -m bench.heldout --model NAME=PATH[:gen|:ema] ... --out FILE_STEM   # NAME=realesrgan-x4plus: the teacher
    python -m bench.heldout --curve RUN_DIR [RUN_DIR ...] --out FILE_STEM   # every step_N.pt (EMA, or --curve-weights gen), by wall hours
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from bench.tables import metric_cells, metric_header, metric_keys
from restorer.degradations import FAMILIES, MixConfig, bicubic_downscale, degrade_family
from restorer.models.generator import RestorerCompact
from restorer.train.data import load_photos

#: Tracks of the held-out set: the clean downscale, then the degraded families.
TRACKS = ("bicubic",) + tuple(f for f in FAMILIES if f != "clean")
#: First seed word of each degraded track; ``second`` keeps issue 5's held-out draws.
_SEEDS = {"second": 10_000, "web_jpeg": 10_001, "phone": 10_002}


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


def load_generator(spec: str) -> torch.nn.Module:
    """Load a generator from ``PATH`` (``.safetensors``) or ``PATH:gen`` / ``PATH:ema``
    (a training checkpoint's raw generator or its EMA; default EMA), or ``realesrgan-x4plus``
    (the training teacher, :mod:`restorer.train.teacher`). Returns it in eval mode, CPU, fp32."""
    if spec == "realesrgan-x4plus":
        from restorer.train.teacher import load_realesrgan_x4plus

        return load_realesrgan_x4plus()
    path, _, part = spec.partition(":")
    if path.endswith(".safetensors"):
        from restorer.models import load_model

        return load_model(path).model.eval()
    ck = torch.load(path, map_location="cpu", weights_only=True)
    c = ck["config"]
    g = RestorerCompact(num_feat=c["num_feat"], num_conv=c["num_conv"], scale=c["scale"])
    g.load_state_dict(ck[part or "ema"])
    return g.eval()


def evaluate(model: torch.nn.Module | None, items: list[dict], scale: int = 4, quick: bool = False) -> dict:
    """Mean metrics of a generator (or bicubic upsampling when ``model`` is None) per track.

    All crops of a track go through the generator and the metrics as one batch
    (the same values as :func:`restorer.metrics.compare` per crop, fewer calls).

    Args:
        quick: LPIPS-Alex, PSNR and SSIM only (for learning curves; about 5x cheaper).

    Returns:
        ``{track: {metric: mean}}`` over the crops; SR output clamped to [0, 1].
    """
    from restorer.metrics import get_dists, get_lpips, psnr, ssim

    hr = torch.cat([it["hr"] for it in items])
    out: dict[str, dict[str, float]] = {}
    for track in items[0]["lr"]:
        lr = torch.cat([it["lr"][track] for it in items])
        with torch.inference_mode():
            if model is None:
                sr = torch.nn.functional.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
            else:
                sr = model(lr)
            sr = sr.clamp(0, 1)
            r = {"lpips_alex": get_lpips("alex")(sr, hr), "psnr": psnr(sr, hr), "ssim": ssim(sr, hr)}
            if not quick:
                r["lpips_vgg"] = get_lpips("vgg16")(sr, hr)
                r["dists"] = get_dists()(sr, hr)
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
    p.add_argument("--out", type=Path, required=True, help="output file stem (.json and .md are written)")
    p.add_argument("--title", default="Held-out validation")
    p.add_argument("--crops-per-photo", type=int, default=4)
    p.add_argument("--quick", action="store_true", help="LPIPS-Alex, PSNR and SSIM only")
    args = p.parse_args(argv)
    items = heldout_set(args.data, args.scale, crops_per_photo=args.crops_per_photo)
    results = {"bicubic upsampling": evaluate(None, items, args.scale, args.quick)}
    hours = {}
    for entry in args.model:
        name, _, spec = entry.partition("=")
        results[name] = evaluate(load_generator(spec), items, args.scale, args.quick)
        print(name, json.dumps(results[name]), flush=True)
    for name, ck, h in curve_points(args.curve):
        results[name] = evaluate(load_generator(f"{ck}:{args.curve_weights}"), items, args.scale, args.quick)
        hours[name] = h
        print(f"{name} ({h:.2f} h)", {t: round(r["lpips_alex"], 4) for t, r in results[name].items()}, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"crops": len(items), "data": args.data, "models": args.model, "curve": [str(r) for r in args.curve],
         "curve_weights": args.curve_weights, "wall_hours": hours, "results": results}, indent=1))
    text = _table(args.title, f"{len(items)} crops of {args.data}, x{args.scale}.", results)
    if hours:
        text += "\nLearning curve, LPIPS-Alex (lower is better) against wall hours of training:\n\n"
        text += "| checkpoint | wall h | " + " | ".join(TRACKS) + " |\n|---|---|" + "---|" * len(TRACKS) + "\n"
        for name, h in hours.items():
            text += f"| {name} | {h:.2f} | " + " | ".join(f"{results[name][t]['lpips_alex']:.4f}" for t in TRACKS) + " |\n"
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
