"""Command-line interface: ``restore``, ``models``, ``compare``, ``train`` (DESIGN.md section 6).

Exit status: 0 on success, 2 on a usage error (argparse), 1 on failure with a
one-line message on stderr (the traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import warnings
from pathlib import Path

from restorer.facts import (BUNDLED_MODELS, DEFAULT_MODEL, DEFAULT_PRECISION, DEFAULT_TILE, METRICS, MIN_SIDE,
                            PRECISIONS, SAVE_FORMATS, Metric, first_line, format_value)

__all__ = ["main", "build_parser"]


class CliError(Exception):
    """A failure reported as one line on stderr, exit status 1."""


def _positive_float(text: str) -> float:
    """argparse type: a float > 0 (else a usage error, exit status 2)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _tile_arg(text: str) -> int | None:
    """argparse type for ``--tile``: ``auto`` (None) or an int >= 0."""
    if text.lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'auto'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return value


def _size_arg(text: str) -> int:
    """argparse type for sizes: bytes, or a number with K/M/G (binary: 1K = 1024 bytes)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size (e.g. 512M, 2G)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return int(value)


def _colour_arg(text: str) -> tuple[float, float, float]:
    """argparse type for colours: ``#rrggbb`` or ``R,G,B`` (0..255) -> RGB in [0, 1]."""
    t = text.strip()
    try:
        if t.startswith("#") and len(t) == 7:
            vals = [int(t[i:i + 2], 16) for i in (1, 3, 5)]
        else:
            vals = [int(v) for v in t.split(",")]
        if len(vals) != 3 or not all(0 <= v <= 255 for v in vals):
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a colour (#rrggbb or R,G,B)") from None
    return tuple(v / 255.0 for v in vals)


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per :class:`restorer.train.config.TrainConfig` field (``hr_size`` -> ``--hr-size``),
    with the field's default, type, choices and help, so the defaults are written once."""
    from restorer.train.config import TrainConfig

    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true", help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, choices=f.metadata["choices"],
                                help=f.metadata["help"])


def build_parser() -> argparse.ArgumentParser:
    """Return the argparse parser for ``restore``, ``models``, ``compare`` and ``train``
    (DESIGN.md section 6). ``--debug`` is accepted before and after the
    subcommand, but only the one after it takes effect: the subparser's default
    (False) overwrites a ``--debug`` given before the subcommand.

    Returns:
        The parser; ``parse_args`` yields a namespace with ``command`` set to
        the subcommand name.
    """
    p = argparse.ArgumentParser(
        prog="restorer", description="Restore and upscale images, and measure the result.",
        epilog="Also: 'python main.py bench {quality,speed,metrics} ...' runs the benchmarks (bench/); "
               "'python main.py [IMAGE ...]' opens the desktop app.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore/upscale images (files or folders) with a generator")
    r.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders of images")
    r.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (one input file) or folder (several inputs, a folder, or an existing folder)")
    r.add_argument("--scale", type=_positive_float, default=None,
                   help="output scale (default: the model's native scale; others are resampled)")
    r.add_argument("--model", default=None,
                   help=f"bundled model name ({', '.join(BUNDLED_MODELS)}; default {DEFAULT_MODEL}), a model file, "
                        "or a file in the models folder (see 'restorer models')")
    r.add_argument("--tile", type=_tile_arg, default=DEFAULT_TILE,
                   help="tile side in input pixels, 0 = whole image, auto = from free memory (default auto)")
    r.add_argument("--tile-pad", type=int, default=None, help="context around each tile (default: receptive field)")
    r.add_argument("--max-memory", type=_size_arg, default=None, metavar="SIZE",
                   help="memory one tile may use, e.g. 512M or 2G (default: from free memory)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    r.add_argument("--precision", default=DEFAULT_PRECISION, choices=PRECISIONS)
    r.add_argument("--alpha", choices=["filter", "model"], default="filter",
                   help="upscale transparency with a bicubic filter (default) or with the model as a gray image")
    r.add_argument("--background", type=_colour_arg, default=(1.0, 1.0, 1.0), metavar="COLOUR",
                   help="JPEG output of a transparent image is composited over this (#rrggbb or R,G,B; default white)")
    r.add_argument("--recursive", action="store_true", help="also restore images in subfolders of folder inputs")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs (batch: else they are skipped)")
    r.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    m = sub.add_parser("models", help="list the available models, or describe model files")
    m.add_argument("names", nargs="*", metavar="MODEL", help="model names or files (default: every known model)")
    m.add_argument("--json", action="store_true", help="print one JSON object per model")
    m.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    c = sub.add_parser("compare", help="metrics of IMAGE against REFERENCE, and/or against its input (--lr)",
                       description="Full-reference metrics of IMAGE against REFERENCE (same size; grayscale is "
                                   "compared as RGB, alpha is ignored), and/or the consistency of IMAGE with the "
                                   "low-resolution INPUT it was restored from (--lr: IMAGE downscaled to INPUT's "
                                   "size, antialiased bicubic).")
    c.add_argument("image")
    c.add_argument("reference", nargs="?", default=None, help="ground truth of IMAGE's size (optional with --lr)")
    c.add_argument("--lr", metavar="INPUT", default=None,
                   help="the input IMAGE was restored from: adds lr_psnr, lr_ssim, lr_lpips_alex")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--luma", action="store_true", help="also PSNR of BT.601 luma (psnr_y)")
    c.add_argument("--map", metavar="PATH", default=None,
                   help="write the per-pixel LPIPS-Alex map as a colour image with a legend (needs REFERENCE)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --map file")
    c.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    t = sub.add_parser("train", help="train the generator (PSNR stage, then GAN stage)")
    _add_config_arguments(t)
    t.add_argument("--export", default="", help="after training, write the EMA generator here (.safetensors)")
    t.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def cmd_restore(args) -> int:
    """Restore each input (files, or folders of images) and save it; see
    ``restorer restore --help`` and the rules of :mod:`restorer.batch`.

    Prints one line per restored image; warnings (skipped entries, precision fallback,
    failed images of a batch...) go to stderr once each; a batch shows a tqdm bar of
    images and ends with a summary line, a single image a bar of tiles.

    Args:
        args: namespace from :func:`build_parser` for ``restore``.

    Returns:
        0 when every image was restored (or already there); warnings about
        skipped non-image files do not change it.

    Raises:
        CliError: some images of a batch could not be read or restored (after the summary).
        restorer.batch.PlanError: see :func:`restorer.batch.plan_batch`.
        restorer.models.ModelLoadError: the model cannot be loaded.
        restorer.io.ImageError, restorer.tiling.InsufficientMemoryError: the single
            input cannot be read, written or fit in memory.
        ValueError, RuntimeError: unknown or unavailable device, bad precision.
    """
    from tqdm import tqdm

    from restorer.batch import RestoreOptions, plan_batch, run_batch
    from restorer.models import load_model

    said: set[str] = set()

    def warn(msg: str) -> None:
        if msg not in said:
            said.add(msg)
            tqdm.write(f"warning: {msg}", file=sys.stderr)

    def flush(caught: list) -> None:
        for wmsg in caught:
            warn(str(wmsg.message))
        caught.clear()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(args.model)
    flush(caught)
    scale = args.scale if args.scale is not None else model.scale
    plan = plan_batch([Path(p) for p in args.inputs], Path(args.output), scale, recursive=args.recursive,
                      overwrite=args.overwrite)
    options = RestoreOptions(alpha_mode=args.alpha, tile=args.tile, tile_pad=args.tile_pad, device=args.device,
                             precision=args.precision, memory_budget=args.max_memory, background=args.background)
    for msg in plan.skipped:
        warn(f"skipped {msg}")

    if not plan.batch:
        bar = tqdm(total=1, desc=plan.jobs[0].source.name, unit="tile", leave=False, disable=None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outcome = next(run_batch(model, plan, options, progress=progress))
            finally:
                bar.close()
                flush(caught)
        if outcome.error is not None:
            raise outcome.error
        print(outcome.report)
        return 0

    counts = dict.fromkeys(("restored", "exists", "failed"), 0)
    bar = tqdm(total=len(plan.jobs), desc="restore", unit="image", disable=None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            for outcome in run_batch(model, plan, options):
                counts[outcome.status] += 1
                if outcome.report is not None:
                    tqdm.write(str(outcome.report))
                elif outcome.error is not None:
                    warn(f"skipped {outcome.error}")
                flush(caught)
                bar.update()
        finally:
            bar.close()
            flush(caught)
    n = len(plan.jobs)
    print(f"{n} images: {counts['restored']} restored, {counts['exists']} already there (skipped), "
          f"{counts['failed']} failed; {len(plan.skipped)} other entries skipped")
    if counts["failed"]:
        raise CliError(f"{counts['failed']} of {n} images could not be restored")
    return 0


def cmd_models(args) -> int:
    """List the models ``--model`` can name (bundled, then the models folder), or
    describe the given ones: architecture, scale, purpose, channels, parameters,
    fp16/bf16 support (:func:`restorer.models.describe_model`).

    Args:
        args: namespace with ``names`` (model names or files; empty = every known
            model) and ``json`` (one JSON object per line instead of text).

    Returns:
        0 when every model loaded.

    Raises:
        CliError: some models could not be loaded (each is reported on its own
            line first, naming the file and the reason).
    """
    from restorer.models import ModelLoadError, describe_model, list_models, load_model, models_dir

    names = [(n, n) for n in args.names] if args.names else [(n, str(p)) for n, p in list_models()]
    if not args.names and not args.json:
        print(f"models folder: {models_dir()}")
    bad = 0
    for label, ref in names:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                info = describe_model(load_model(ref))
        except ModelLoadError as exc:
            bad += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        if args.json:
            print(json.dumps({"name": label, **info}))
        else:
            flags = "/".join(k for k in ("fp16", "bf16") if info[k]) or "fp32 only"
            print(f"{label}: {info['architecture']} x{info['scale']} {info['purpose']}, "
                  f"{info['input_channels']}->{info['output_channels']} channels, {info['params']:,} parameters, "
                  f"{flags}, tiling {info['tiling']}")
    if bad:
        raise CliError(f"{bad} of {len(names)} models could not be loaded")
    return 0


def _table(res: dict[str, float]) -> list[str]:
    """One line per metric: name, value, unit, direction (:data:`restorer.facts.METRICS`)."""
    rows = []
    for key, val in res.items():
        m = METRICS.get(key, Metric(key, key, "", False, 4))
        rows.append(f"  {m.name:<14} {format_value(val, m.decimals, ascii=True):>9} {m.unit:<3} {m.direction}")
    return rows


def cmd_compare(args) -> int:
    """Print metrics of IMAGE against REFERENCE and/or its input (a table, or one
    JSON object with ``--json``: float values, ``null`` where a value is infinite).

    Keys and units as :func:`restorer.metrics.compare`: ``psnr`` (dB), ``ssim``,
    ``lpips_alex``, ``lpips_vgg``, ``dists`` (unitless), ``psnr_y`` with
    ``--luma``; with ``--lr INPUT``, ``lr_psnr``, ``lr_ssim``, ``lr_lpips_alex``
    from :func:`restorer.metrics.consistency`. Input policy: sizes must match
    (one-line error), grayscale files are compared as three equal channels,
    alpha is ignored; at least 31x31 pixels.

    Args:
        args: namespace from :func:`build_parser` for ``compare``: ``image``,
            ``reference`` (or None), ``lr`` (or None), ``json``, ``luma``,
            ``map`` (or None), ``overwrite``, ``device``.

    Returns:
        0; 2 (usage, one line on stderr) when neither REFERENCE nor ``--lr`` is
        given, or ``--map`` without REFERENCE.

    Raises:
        CliError: the two images differ in size, or an image is too small.
        restorer.io.ImageError: a file cannot be read, or the map cannot be
            written (exists without ``--overwrite``, is an input, bad extension).
        ValueError: the device is unavailable.
        RuntimeError: the device name is not one torch knows.
        restorer.weights.WeightsNotFoundError: LPIPS/DISTS weights unavailable offline.
    """
    from restorer.device import pick_device
    from restorer.io import load_image, save_image
    from restorer.metrics import compare, consistency, lpips_map, prepare_pair

    if args.reference is None and args.lr is None:
        print("error: compare needs REFERENCE, --lr INPUT, or both", file=sys.stderr)
        return 2
    if args.map and args.reference is None:
        print("error: --map needs REFERENCE", file=sys.stderr)
        return 2
    if args.map:
        if Path(args.map).suffix.lower() not in SAVE_FORMATS:
            raise CliError(f"{args.map}: unsupported map format (use {', '.join(sorted(SAVE_FORMATS))})")
        if Path(args.map).exists() and not args.overwrite:
            raise CliError(f"{args.map}: already exists (use --overwrite to replace it)")
    device = str(pick_device(args.device))
    img = load_image(args.image)
    res: dict[str, float] = {}
    lines = []
    if args.reference is not None:
        ref = load_image(args.reference)
        try:
            prepare_pair(img.rgb, ref.rgb, names=(str(args.image), str(args.reference)))
        except ValueError as exc:
            raise CliError(str(exc)) from None
        res.update(compare(img.rgb, ref.rgb, device=device, luma=args.luma))
        lines += [f"{args.image} against {args.reference} ({img.size[0]}x{img.size[1]}):", *_table(res)]
        if args.map:
            values = lpips_map(img.rgb, ref.rgb, "alex", device)[0, 0]
            from restorer.metrics.heatmap import render_heatmap

            picture, vmax = render_heatmap(values)
            save_image(args.map, picture, overwrite=args.overwrite, protect=(args.image, args.reference))
            lines.append(f"LPIPS-Alex map (0 to {vmax:g}, viridis) written to {args.map}")
    if args.lr is not None:
        lr = load_image(args.lr)
        if min(lr.size) < MIN_SIDE:
            raise CliError(f"{args.lr} is {lr.size[0]}x{lr.size[1]}; the consistency readout needs at least "
                           f"{MIN_SIDE}x{MIN_SIDE} pixels")
        cons = consistency(img.rgb, lr.rgb, device=device)
        lr_res = {f"lr_{k}": v for k, v in cons.items()}
        res.update(lr_res)
        lines += [f"{args.image} downscaled to {lr.size[0]}x{lr.size[1]} against its input {args.lr} (consistency):",
                  *_table(cons)]
    if args.json:
        # Non-finite values (PSNR of identical images is +inf) become null: strict JSON has no inf.
        print(json.dumps({k: (v if math.isfinite(v) else None) for k, v in res.items()}))
    else:
        print("\n".join(lines))
    return 0


def cmd_train(args) -> int:
    """Run one training stage (:func:`restorer.train.loop.train`); optionally
    export the EMA generator as safetensors (``--export``, rank 0 only).

    Under ``torchrun --nproc_per_node=N main.py train ...`` every process runs
    this and :func:`~restorer.train.loop.train` joins them in one DDP job.

    Args:
        args: namespace from :func:`build_parser` for ``train`` (fields map
            one to one onto :class:`restorer.train.config.TrainConfig`, plus
            ``export``).

    Returns:
        0.

    Raises:
        FileNotFoundError: no usable training image in ``--data``.
        restorer.weights.WeightsNotFoundError: VGG16 weights missing (GAN stage).
    """
    from restorer.train.loop import TrainConfig, export_generator, train

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    ckpt = train(cfg)
    if args.export and int(os.environ.get("RANK", "0")) == 0:
        print(f"exported {export_generator(ckpt, args.export)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit status (DESIGN.md section 6).

    Any exception from a subcommand is printed as one line ``error: ...`` on
    stderr (the traceback is re-raised instead with ``--debug``) and gives 1;
    Ctrl+C gives 1 too.

    Args:
        argv: arguments without the program name; None = ``sys.argv[1:]``.

    Returns:
        0 on success, 1 on failure.

    Raises:
        SystemExit: from argparse, on a usage error (status 2) or ``--help`` (0).
        Exception: any failure, re-raised when ``--debug`` is given.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"restore": cmd_restore, "models": cmd_models, "compare": cmd_compare, "train": cmd_train}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, traceback with --debug
        if args.debug:
            raise
        print(f"error: {first_line(exc)}", file=sys.stderr)
        return 1

