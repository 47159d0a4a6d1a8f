"""Held-out validation of training runs: the perceptual-loss ablation and learning curves.

Not the product benchmark (that is :mod:`bench.quality`, on the benchmark photos):
this scores generators on crops of training-style photos that a run did not
train on (``runs/data/heldout``: every 9th of the sorted training photos, see
``docs/TRAINING.md``), degraded two ways:

* ``bicubic``: Pillow-equivalent antialiased bicubic downscale
  (:func:`restorer.degradations.bicubic_downscale`);
* ``second``: :func:`restorer.degradations.degrade_second_order` with
  ``p_clean=0`` and its own fixed seeds (``[10_000, crop]``; training draws use
  ``[run seed, sample index]``), i.e. the training distribution, other draws.

Photos are prescaled by 2 as in training; crops of ``crop`` HR pixels are placed
by ``numpy.random.default_rng([seed, photo])``. Metrics: :func:`restorer.metrics.compare`.

Usage::

    python -m bench.heldout --data runs/data/heldout --model NAME=PATH[:gen|:ema] ... --out FILE_STEM
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from restorer.degradations import SecondOrderConfig, bicubic_downscale, degrade_second_order
from restorer.metrics import compare
from restorer.models.generator import RestorerCompact
from restorer.train.data import load_photos

#: Metrics averaged per track.
METRICS = ("lpips_alex", "lpips_vgg", "dists", "psnr", "ssim")


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
        ``lr`` mapping track name (``bicubic``, ``second``) to (1, 3, crop //
        scale, crop // scale) float32 in [0, 1].

    Raises:
        FileNotFoundError: no photo of at least ``crop`` pixels in ``folder``.
    """
    items = []
    cfg = SecondOrderConfig(scale=scale, p_clean=0.0)
    for p, img in enumerate(load_photos(folder, crop, prescale=2.0)):
        rng = np.random.default_rng([seed, p])
        for _ in range(crops_per_photo):
            y = int(rng.integers(0, img.shape[0] - crop + 1))
            x = int(rng.integers(0, img.shape[1] - crop + 1))
            hr = torch.from_numpy(np.ascontiguousarray(img[y:y + crop, x:x + crop])).permute(2, 0, 1).float() / 255
            k = len(items)
            lr = {"bicubic": bicubic_downscale(hr[None], scale),
                  "second": degrade_second_order(hr, np.random.default_rng([10_000, k]), cfg)[None]}
            items.append({"hr": hr[None], "lr": lr})
    return items


def load_generator(spec: str) -> torch.nn.Module:
    """Load a generator from ``PATH`` (``.safetensors``) or ``PATH:gen`` / ``PATH:ema``
    (a training checkpoint's raw generator or its EMA; default EMA). Returns it in eval mode, CPU, fp32."""
    path, _, part = spec.partition(":")
    if path.endswith(".safetensors"):
        from restorer.models import load_model

        return load_model(path).model.eval()
    ck = torch.load(path, map_location="cpu", weights_only=True)
    c = ck["config"]
    g = RestorerCompact(num_feat=c["num_feat"], num_conv=c["num_conv"], scale=c["scale"])
    g.load_state_dict(ck[part or "ema"])
    return g.eval()


def evaluate(model: torch.nn.Module | None, items: list[dict], scale: int = 4) -> dict:
    """Mean metrics of a generator (or bicubic upsampling when ``model`` is None) per track.

    Returns:
        ``{track: {metric: mean}}`` over the crops; SR output clamped to [0, 1].
    """
    out: dict[str, dict[str, float]] = {}
    for track in items[0]["lr"]:
        rows = []
        for it in items:
            lr = it["lr"][track]
            with torch.inference_mode():
                if model is None:
                    sr = torch.nn.functional.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False)
                else:
                    sr = model(lr)
            rows.append(compare(sr.clamp(0, 1), it["hr"]))
        out[track] = {k: float(np.mean([r[k] for r in rows])) for k in METRICS}
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: evaluate ``--model NAME=SPEC`` entries (plus bicubic) and write ``--out``.json/.md."""
    p = argparse.ArgumentParser(prog="python -m bench.heldout")
    p.add_argument("--data", default="runs/data/heldout")
    p.add_argument("--model", action="append", default=[], help="NAME=PATH[:gen|:ema]")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--out", type=Path, required=True, help="output file stem (.json and .md are written)")
    p.add_argument("--title", default="Held-out validation")
    p.add_argument("--crops-per-photo", type=int, default=4)
    args = p.parse_args(argv)
    items = heldout_set(args.data, args.scale, crops_per_photo=args.crops_per_photo)
    results = {"bicubic upsampling": evaluate(None, items, args.scale)}
    for entry in args.model:
        name, _, spec = entry.partition("=")
        results[name] = evaluate(load_generator(spec), items, args.scale)
        print(name, json.dumps(results[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"crops": len(items), "data": args.data,
                                                          "models": args.model, "results": results}, indent=1))
    lines = [f"# {args.title}", "", f"{len(items)} crops of {args.data}, x{args.scale}.", ""]
    for track in ("bicubic", "second"):
        lines += [f"Track `{track}`:", "", "| method | LPIPS-Alex | LPIPS-VGG | DISTS | PSNR dB | SSIM |",
                  "|---|---|---|---|---|---|"]
        for name, r in results.items():
            m = r[track]
            lines.append(f"| {name} | {m['lpips_alex']:.4f} | {m['lpips_vgg']:.4f} | {m['dists']:.4f} | "
                         f"{m['psnr']:.2f} | {m['ssim']:.4f} |")
        lines.append("")
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
