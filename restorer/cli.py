"""Command-line interface: ``restore``, ``compare``, ``train`` (DESIGN.md section 6).

Exit status: 0 on success, 2 on a usage error (argparse), 1 on failure with a
one-line message on stderr (the traceback only with ``--debug``).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

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


def build_parser() -> argparse.ArgumentParser:
    """Return the argparse parser for ``restore``, ``compare`` and ``train``
    (DESIGN.md section 6). ``--debug`` is accepted before and after the
    subcommand, but only the one after it takes effect: the subparser's default
    (False) overwrites a ``--debug`` given before the subcommand.

    Returns:
        The parser; ``parse_args`` yields a namespace with ``command`` set to
        the subcommand name.
    """
    p = argparse.ArgumentParser(
        prog="restorer", description="Restore and upscale images, and measure the result.",
        epilog="Also: 'python main.py bench {quality,speed} ...' runs the benchmarks (bench/); "
               "'python main.py [IMAGE ...]' opens the desktop app.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on failure")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("restore", help="restore/upscale images with a generator")
    r.add_argument("inputs", nargs="+", metavar="INPUT", help="image files")
    r.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (one input) or folder (several inputs, or an existing folder)")
    r.add_argument("--scale", type=_positive_float, default=None,
                   help="output scale (default: the model's native scale; others are resampled)")
    r.add_argument("--model", default=None, help="bundled model name (restorer-x4, restorer-x2) or a model file")
    r.add_argument("--tile", type=int, default=256, help="tile side in input pixels, 0 = whole image (default 256)")
    r.add_argument("--tile-pad", type=int, default=None, help="context around each tile (default: receptive field)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    r.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    c = sub.add_parser("compare", help="full-reference metrics of IMAGE against REFERENCE")
    c.add_argument("image")
    c.add_argument("reference")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    c.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    t = sub.add_parser("train", help="train the generator (PSNR stage, then GAN stage)")
    t.add_argument("--data", default="data/train", help="folder of HR photos (scripts/fetch_training_photos.sh)")
    t.add_argument("--out", default="runs/x4", help="run folder (checkpoints, log.csv); resumes if it has last.pt")
    t.add_argument("--stage", choices=["psnr", "gan"], default="psnr")
    t.add_argument("--steps", type=int, default=1000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--hr-size", type=int, default=128, help="HR patch side in pixels")
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--scale", type=int, default=4)
    t.add_argument("--num-feat", type=int, default=48)
    t.add_argument("--num-conv", type=int, default=16)
    t.add_argument("--init", default="", help="generator weights to start from (.pt checkpoint or .safetensors)")
    t.add_argument("--max-minutes", type=float, default=0.0, help="stop after this wall time (0 = no limit)")
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = default)")
    t.add_argument("--export", default="", help="after training, write the EMA generator here (.safetensors)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--degradation", choices=["second", "first"], default="second",
                   help="second: Real-ESRGAN's second-order model; first: the first-order one")
    t.add_argument("--p-clean", type=float, default=0.2, help="probability of a clean bicubic LR patch")
    t.add_argument("--perceptual", choices=["vgg", "lpips-vgg", "lpips-alex"], default="vgg",
                   help="perceptual term of the GAN stage")
    t.add_argument("--w-pix", type=float, default=1.0, help="L1 weight")
    t.add_argument("--w-percep", type=float, default=1.0, help="perceptual weight (GAN stage)")
    t.add_argument("--w-gan", type=float, default=0.1, help="adversarial weight (GAN stage)")
    t.add_argument("--workers", type=int, default=0, help="data-loader processes degrading patches")
    t.add_argument("--init-partial", action="store_true",
                   help="load only matching tensors of --init (e.g. a x4 body into a x2 model)")
    t.add_argument("--ckpt-every", type=int, default=200, help="checkpoint period in steps")
    t.add_argument("--keep-every", type=int, default=0, help="keep step_N.pt every N steps (0 = never)")
    t.add_argument("--device", default="auto", help="auto, cpu or cuda (DDP: each rank's own GPU)")
    t.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return p


def _output_paths(inputs: list[Path], output: Path, scale_tag: str) -> list[Path]:
    from restorer.io import SAVE_FORMATS

    if len(inputs) == 1 and not output.is_dir():
        return [output]
    output.mkdir(parents=True, exist_ok=True)
    outs = []
    for inp in inputs:
        ext = inp.suffix.lower() if inp.suffix.lower() in SAVE_FORMATS else ".png"
        out = output / f"{inp.stem}_{scale_tag}{ext}"
        if out in outs:
            raise CliError(f"{inp}: another input also maps to {out}; rename one of them")
        outs.append(out)
    return outs


def cmd_restore(args) -> int:
    """Restore each input and save it; see ``restorer restore --help``.

    Outputs keep the input's alpha, bit depth, grayscale-ness, ICC profile and
    EXIF. With several inputs (or an existing folder as ``-o``) outputs are
    ``OUT/{stem}_x{scale}{ext}`` (the input's extension when it can be written,
    else ``.png``); unreadable inputs are skipped with a warning.

    Args:
        args: namespace from :func:`build_parser` for ``restore``: ``inputs``,
            ``output``, ``scale`` (output factor, float > 0, or None = native),
            ``model``, ``tile`` (LR pixels, 0 = whole image), ``tile_pad`` (LR
            pixels or None), ``device``, ``precision``, ``overwrite``.

    Returns:
        0 when every input was restored and saved.

    Raises:
        CliError: bad ``--tile``/``--scale``, unsupported output extension, an
            output exists without ``--overwrite``, the single input is
            unreadable, or some of several inputs were skipped.
        restorer.models.ModelLoadError: the model cannot be loaded.
        restorer.io.ImageError: an output cannot be written.
        ValueError, RuntimeError: unknown or unavailable device, bad precision.
    """
    from tqdm import tqdm

    from restorer.inference import restore
    from restorer.io import SAVE_FORMATS, ImageError, load_image, save_image
    from restorer.models import load_model

    inputs = [Path(p) for p in args.inputs]
    output = Path(args.output)
    if args.tile < 0:
        raise CliError("--tile must be >= 0")
    if len(inputs) == 1 and not output.is_dir() and output.suffix.lower() not in SAVE_FORMATS:
        raise CliError(f"{output}: unsupported output format (use {', '.join(sorted(SAVE_FORMATS))})")
    model = load_model(args.model)
    scale = args.scale if args.scale is not None else model.scale
    tag = f"x{scale:g}"
    outs = _output_paths(inputs, output, tag)
    failures = 0
    for inp, out in zip(inputs, outs):
        if out.exists() and not args.overwrite:
            raise CliError(f"{out}: already exists (use --overwrite to replace it)")
        try:
            img = load_image(inp)
        except ImageError as exc:
            if len(inputs) == 1:
                raise CliError(str(exc)) from None
            print(f"warning: skipped {exc}", file=sys.stderr)
            failures += 1
            continue
        w, h = img.size
        bar = tqdm(total=1, desc=inp.name, unit="tile", leave=False, disable=None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        res = restore(model, img.rgb, img.alpha, scale=scale, tile=args.tile, tile_pad=args.tile_pad,
                      device=args.device, precision=args.precision, progress=progress)
        bar.close()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            save_image(out, res.rgb, res.alpha, bits=img.bits, grayscale=img.grayscale, icc_profile=img.icc_profile,
                       exif=img.exif, overwrite=args.overwrite, protect=tuple(inputs))
        for wmsg in caught:
            print(f"warning: {wmsg.message}", file=sys.stderr)
        ow, oh = res.rgb.shape[-1], res.rgb.shape[-2]
        print(f"{inp} ({w}x{h}) -> {out} ({ow}x{oh})")
    if failures:
        raise CliError(f"{failures} of {len(inputs)} inputs could not be read")
    return 0


def cmd_compare(args) -> int:
    """Print full-reference metrics of IMAGE against REFERENCE (a table, or one JSON
    object with ``--json``: float values, ``null`` where a value is infinite).

    Keys and units as :func:`restorer.metrics.compare`: ``psnr`` (dB), ``ssim``,
    ``lpips_alex``, ``lpips_vgg`` (unitless). Alpha is ignored; grayscale files
    are compared as three equal channels.

    Args:
        args: namespace from :func:`build_parser` for ``compare``: ``image``,
            ``reference``, ``json``, ``device`` (where LPIPS runs).

    Returns:
        0.

    Raises:
        CliError: the two images differ in size.
        restorer.io.ImageError: a file cannot be read.
        ValueError: an image is smaller than 31x31 pixels (LPIPS-Alex), or the
            device is unavailable.
        RuntimeError: the device name is not one torch knows.
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.
    """
    from restorer.inference import pick_device
    from restorer.io import load_image
    from restorer.metrics import HIGHER_IS_BETTER, compare

    img = load_image(args.image)
    ref = load_image(args.reference)
    if img.size != ref.size:
        raise CliError(
            f"{args.image} is {img.size[0]}x{img.size[1]} but {args.reference} is {ref.size[0]}x{ref.size[1]}; sizes must match"
        )
    res = compare(img.rgb, ref.rgb, device=str(pick_device(args.device)))
    if args.json:
        # Non-finite values (PSNR of identical images is +inf) become null: strict JSON has no inf.
        print(json.dumps({k: (v if math.isfinite(v) else None) for k, v in res.items()}))
    else:
        for key, val in res.items():
            unit = "dB, " if key == "psnr" else ""
            print(f"{key:<11} {val:>9.4f}   ({unit}{'higher' if HIGHER_IS_BETTER[key] else 'lower'} is better)")
    return 0


def cmd_train(args) -> int:
    """Run one training stage (:func:`restorer.train.loop.train`); optionally
    export the EMA generator as safetensors (``--export``, rank 0 only).

    Under ``torchrun --nproc_per_node=N main.py train ...`` every process runs
    this and :func:`~restorer.train.loop.train` joins them in one DDP job.

    Args:
        args: namespace from :func:`build_parser` for ``train`` (fields map
            one to one onto :class:`restorer.train.loop.TrainConfig`, plus
            ``export``).

    Returns:
        0.

    Raises:
        FileNotFoundError: no usable training image in ``--data``.
        restorer.weights.WeightsNotFoundError: VGG16 weights missing (GAN stage).
    """
    from restorer.train.loop import TrainConfig, export_generator, train

    cfg = TrainConfig(data=args.data, out=args.out, stage=args.stage, steps=args.steps, batch=args.batch,
                      hr_size=args.hr_size, lr=args.lr, scale=args.scale, num_feat=args.num_feat,
                      num_conv=args.num_conv, init=args.init, max_minutes=args.max_minutes, threads=args.threads,
                      seed=args.seed, degradation=args.degradation, p_clean=args.p_clean,
                      perceptual=args.perceptual, w_pix=args.w_pix, w_percep=args.w_percep, w_gan=args.w_gan,
                      workers=args.workers, init_partial=args.init_partial, ckpt_every=args.ckpt_every,
                      keep_every=args.keep_every, device=args.device)
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
    handlers = {"restore": cmd_restore, "compare": cmd_compare, "train": cmd_train}
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, traceback with --debug
        if args.debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 1

