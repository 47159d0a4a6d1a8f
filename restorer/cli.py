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

from restorer.facts import (METRICS, MIN_SIDE, OPEN_EXTENSIONS, SAVE_FORMATS, Metric, first_line, format_value,
                            output_name)

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
                   help="bundled model name (restorer-x4, restorer-x2), a model file, or a file in the models folder "
                        "(see 'restorer models')")
    r.add_argument("--tile", type=_tile_arg, default=None,
                   help="tile side in input pixels, 0 = whole image, auto = from free memory (default auto)")
    r.add_argument("--tile-pad", type=int, default=None, help="context around each tile (default: receptive field)")
    r.add_argument("--max-memory", type=_size_arg, default=None, metavar="SIZE",
                   help="memory one tile may use, e.g. 512M or 2G (default: from free memory)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    r.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
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


def _collect(inputs: list[Path], output: Path, recursive: bool, scale: float, skipped: list[str],
             skip_own_outputs: bool = True):
    """Batch jobs: ``(input, output)`` pairs, in order; folders are scanned (sorted,
    recursively with ``recursive``; the output folder itself is never scanned).
    Non-image files and (without ``recursive``) subfolders are appended to
    ``skipped`` as one-line reasons. Outputs are ``output/{relative folder}/
    {stem}_x{scale}{ext}`` (:func:`restorer.facts.output_name`). With
    ``skip_own_outputs`` (a run without ``--overwrite``), an image that is itself
    the output of another input of the batch (a folder restored into itself
    before) is skipped with a reason; with ``--overwrite`` it stays an input (and,
    being an input, is never replaced)."""
    out_root = output.resolve()
    jobs: list[tuple[Path, Path]] = []

    def add(inp: Path, rel_dir: Path) -> None:
        jobs.append((inp, output / rel_dir / output_name(inp, scale)))

    def scan(folder: Path, rel: Path) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if entry.resolve() == out_root:
                    continue
                if recursive:
                    scan(entry, rel / entry.name)
                else:
                    skipped.append(f"{entry}: a folder (use --recursive to include it)")
            elif entry.suffix.lower() in OPEN_EXTENSIONS:
                add(entry, rel)
            else:
                skipped.append(f"{entry}: not an image file")

    for inp in inputs:
        if inp.is_dir():
            scan(inp, Path("."))
        else:
            add(inp, Path("."))
    # An image that is this batch's output for another input (restoring a folder into
    # itself, then running again) is not an input: it would become a_x4_x4.png.
    made = {out.resolve(): inp for inp, out in jobs} if skip_own_outputs else {}
    kept = []
    for inp, out in jobs:
        src = made.get(inp.resolve())
        if src is not None and src.resolve() != inp.resolve():
            skipped.append(f"{inp}: the output of {src.name} in this batch, not an input")
        else:
            kept.append((inp, out))
    jobs = kept
    seen: dict[Path, Path] = {}
    for inp, out in jobs:
        if out in seen:
            raise CliError(f"{inp}: {seen[out]} also maps to {out}; rename one of them")
        seen[out] = inp
    return jobs


def _restore_one(model, inp: Path, out: Path, args, scale: float, protect: tuple, progress) -> tuple[int, int, int, int]:
    """Load, check memory, restore tile by tile into an :class:`~restorer.io.ImageWriter`,
    commit. Returns (input width, height, output width, height).

    Raises:
        restorer.io.ImageError: unreadable input or unwritable output.
        restorer.tiling.InsufficientMemoryError: the output cannot fit in
            memory (checked before any model work), or out of memory with the
            smallest tile.
    """
    from restorer.inference import restore_into
    from restorer.io import ImageWriter, load_image
    from restorer.tiling import InsufficientMemoryError, available_memory

    img = load_image(inp)
    w, h = img.size
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    need = ImageWriter.buffer_bytes(out, out_w, out_h, alpha=img.alpha is not None, bits=img.bits,
                                    grayscale=img.grayscale)
    check_output_memory(inp, out_w, out_h, need, available_memory("cpu"))
    try:
        writer = ImageWriter(out, out_w, out_h, alpha=img.alpha is not None, bits=img.bits,
                             grayscale=img.grayscale, icc_profile=img.icc_profile,
                             pixels_in_profile=img.pixels_in_profile, exif=img.exif, overwrite=args.overwrite,
                             protect=protect, background=args.background)
    except MemoryError:
        raise InsufficientMemoryError(f"{inp}: cannot allocate the {out_w}x{out_h} output buffer "
                                      f"({need / 2**30:.1f} GiB)") from None
    try:
        restore_into(model, img.rgb, img.alpha, writer, scale=scale, alpha_mode=args.alpha, tile=args.tile,
                     tile_pad=args.tile_pad, device=args.device, precision=args.precision,
                     memory_budget=args.max_memory, progress=progress)
    except InsufficientMemoryError as exc:
        raise InsufficientMemoryError(f"{inp}: {exc}") from None
    del img
    writer.commit()
    return w, h, out_w, out_h


#: Share of the available RAM an output buffer may take (the rest: input, tiles, encoder).
OUTPUT_MEMORY_SHARE = 0.8


def check_output_memory(inp, out_w: int, out_h: int, need: int, available: int) -> None:
    """Refuse a job whose output buffer cannot fit, before any work.

    Args:
        inp: the input (named in the message).
        out_w, out_h: output size in pixels.
        need: bytes of the output buffer (:meth:`restorer.io.ImageWriter.buffer_bytes`).
        available: available RAM in bytes (:func:`restorer.tiling.available_memory`).

    Raises:
        restorer.tiling.InsufficientMemoryError: ``need`` exceeds
            ``OUTPUT_MEMORY_SHARE`` of ``available``; one line with both figures.
    """
    from restorer.tiling import InsufficientMemoryError

    if need > OUTPUT_MEMORY_SHARE * available:
        raise InsufficientMemoryError(
            f"{inp}: the {out_w}x{out_h} output needs {need / 2**30:.1f} GiB of memory but only "
            f"{available / 2**30:.1f} GiB is available; use a smaller --scale or free memory")


def cmd_restore(args) -> int:
    """Restore each input (files, or folders of images) and save it; see
    ``restorer restore --help``.

    Outputs keep the input's alpha, bit depth, grayscale-ness, colour space (ICC
    profile) and EXIF. Tiles stream into an 8/16-bit output buffer
    (:func:`restorer.inference.restore_into`), so memory is about the output's
    own size plus one tile; an output that cannot fit is refused before any work.

    Single mode (one input file): OUT is the output file (or an existing folder);
    an existing output is an error without ``--overwrite``. Batch mode (a folder
    input, or several inputs): outputs are ``OUT/{sub/folders}/{stem}_x{scale}{ext}``;
    non-images, subfolders (without ``--recursive``) and unreadable files are
    skipped with one warning each; existing outputs are skipped (resumable) unless
    ``--overwrite``; a tqdm bar counts files; a summary line ends the run.

    Args:
        args: namespace from :func:`build_parser` for ``restore``.

    Returns:
        0 when every image was restored (or already there); warnings about
        skipped non-image files do not change it.

    Raises:
        CliError: unsupported output extension, an output exists without
            ``--overwrite`` (single mode), the single input is unreadable, or
            some images of a batch could not be read or restored (after the summary).
        restorer.models.ModelLoadError: the model cannot be loaded.
        restorer.io.ImageError: an output cannot be written.
        restorer.tiling.InsufficientMemoryError: not enough memory (single mode).
        ValueError, RuntimeError: unknown or unavailable device, bad precision.
    """
    from tqdm import tqdm

    from restorer.tiling import InsufficientMemoryError
    from restorer.io import ImageError
    from restorer.models import load_model

    inputs = [Path(p) for p in args.inputs]
    output = Path(args.output)
    batch = len(inputs) > 1 or inputs[0].is_dir()
    if not batch and not output.is_dir() and output.suffix.lower() not in SAVE_FORMATS:
        raise CliError(f"{output}: unsupported output format (use {', '.join(sorted(SAVE_FORMATS))})")
    if batch and output.exists() and not output.is_dir():
        raise CliError(f"{output}: is a file; several inputs or a folder need an output folder")
    said: set[str] = set()

    def warn(msg: str) -> None:
        if msg not in said:
            said.add(msg)
            tqdm.write(f"warning: {msg}", file=sys.stderr)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(args.model)
    for wmsg in caught:
        warn(str(wmsg.message))
    scale = args.scale if args.scale is not None else model.scale
    protect = tuple(p for p in inputs if p.is_file())

    if not batch:
        inp = inputs[0]
        out = output / output_name(inp, scale) if output.is_dir() else output
        if out.exists() and not args.overwrite:
            raise CliError(f"{out}: already exists (use --overwrite to replace it)")
        bar = tqdm(total=1, desc=inp.name, unit="tile", leave=False, disable=None)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    w, h, ow, oh = _restore_one(model, inp, out, args, scale, protect, progress)
                finally:
                    bar.close()
                    for wmsg in caught:
                        warn(str(wmsg.message))
        except ImageError as exc:
            raise CliError(str(exc)) from None
        print(f"{inp} ({w}x{h}) -> {out} ({ow}x{oh})")
        return 0

    skipped: list[str] = []
    jobs = _collect(inputs, output, args.recursive, scale, skipped, skip_own_outputs=not args.overwrite)
    protect = tuple(inp for inp, _ in jobs)  # no output may replace any input of the batch, even with --overwrite
    for msg in skipped:
        warn(f"skipped {msg}")
    restored = already = failed = 0
    bar = tqdm(jobs, desc="restore", unit="image", disable=None)
    for inp, out in bar:
        if out.exists() and not args.overwrite:
            already += 1
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                w, h, ow, oh = _restore_one(model, inp, out, args, scale, protect, None)
                restored += 1
                tqdm.write(f"{inp} ({w}x{h}) -> {out} ({ow}x{oh})")
            except (ImageError, InsufficientMemoryError) as exc:
                failed += 1
                warn(f"skipped {exc}")
            finally:
                for wmsg in caught:
                    warn(str(wmsg.message))
    bar.close()
    summary = (f"{len(jobs)} images: {restored} restored, {already} already there (skipped), {failed} failed; "
               f"{len(skipped)} other entries skipped")
    print(summary)
    if failed:
        raise CliError(f"{failed} of {len(jobs)} images could not be restored")
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

