#!/usr/bin/env python3
"""Build ``.device/`` (gitignored): what ``scripts/device_train.sh`` needs on the device tool's
H200 that git does not carry (docs/TRAINING.md, "On a lent GPU (H200)").

Usage (from the repository root, under ``nice -n 19`` beside a training run)::

    .venv/bin/python scripts/device_bundle.py [START]

``START`` is the generator to continue from: a ``.pt`` checkpoint of
``restorer.train.loop.train`` (its EMA is taken) or a ``.safetensors``
(default: the shipped ``weights/restorer_x4.safetensors``). Rerunning reuses the converted photos,
weights and wheels that are still current and only replaces what changed.

Contents of ``.device/``:

``train/``
    The photos of ``--data`` (default ``runs/data/train``) as
    :func:`restorer.train.data.load_photos` sees them with ``prescale=2``:
    EXIF-rotated, RGB, downscaled by 2 with Pillow's Lanczos (same rounding),
    so the device trains with ``--prescale 1`` on the same pixels. Each is
    stored as PNG (lossless; every Pillow decodes it) when that costs at most
    ``--lossless-ratio`` times its JPEG (renders with flat areas), else as
    JPEG quality 94 without chroma subsampling (photos: lossless would be
    about 3 times larger and not fit).
``vgg16/``, ``alex/``
    ImageNet VGG16 and AlexNet ``features`` convolutions (the backbones of
    the training loss, DISTS or LPIPS-VGG, and of LPIPS-Alex, what checkpoints are chosen
    and shipped on; from :func:`restorer.weights.backbone_state_dict`) rounded
    to float16 (relative error below 5e-4), packed small: the high bytes
    xz-compressed (``hi.xz``), the low bytes raw (``lo.bin``, they do not
    compress), net, names and shapes in ``index.json``; 23.6 MiB instead of 56
    MiB for VGG16, about 4 MiB for AlexNet. On the device
    ``python3 scripts/device_bundle.py --unpack .device/vgg16 DIR`` writes
    ``DIR/vgg16_imagenet.safetensors`` (float32; ``alex_imagenet.safetensors``
    from ``.device/alex``), restorer.weights' converted-cache file, which it
    finds with ``RESTORER_CACHE_DIR=DIR``.
``whl/``
    Wheels the device image lacks (pure Python): ``lpips`` (only its
    ``weights/v0.1/vgg.pth`` and ``alex.pth``, LPIPS's linear layers, are read; the package is
    never imported), ``platformdirs`` (restorer.weights' default cache
    folder), ``spandrel`` (:func:`restorer.models.load_model`, to check the
    exported generator there) and ``dists-pytorch`` (only its ``weights.pt``, DISTS's
    alpha/beta, is read: the perceptual term of ``--perceptual dists``). Same versions as ``.venv``; downloaded with pip
    for CPython 3.12 when missing.
``start.safetensors``
    The starting generator (``--init`` of the device run).
``disc.pt``
    With ``--disc CKPT``: that GAN checkpoint's discriminator alone (``--init-disc``
    of the device run, so the GAN stage does not start against a random one).
``heldout_x4.npz``
    The held-out crops of ``bench.heldout`` (``--heldout``, x4, every track) as
    uint8 (:func:`bench.heldout.save_set`), 1.3 MiB: the device scores what it
    trained there with LPIPS-Alex, so the run's numbers come back in its log
    even if its files are lost.
``manifest.json``
    What was built from what, and the sizes.

At most 64 MiB travel per device call, working tree included; the script fails
when the bundle and the working tree together exceed ``--limit-mib`` and
warns when the bundle alone exceeds ``--max-mib``.
"""
from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIB = 1 << 20
WHEELS = ("lpips", "platformdirs", "spandrel", "dists-pytorch")  # dists-pytorch: DISTS alpha/beta (20 KB)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
#: Backbones packed into the bundle, each in the folder of its name: VGG16 (DISTS or LPIPS-VGG, the training loss)
#: and AlexNet (LPIPS-Alex, what the device scores checkpoints on: the metric models are chosen and shipped on).
BACKBONES = ("vgg16", "alex")


def _encode_photo(src: Path, prescale: float, quality: int, lossless_ratio: float) -> tuple[bytes, str, tuple]:
    """Return ``(data, suffix, size)``: ``src`` as load_photos(prescale) decodes it, encoded."""
    from PIL import Image, ImageOps

    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
    if prescale != 1:  # exactly restorer.train.data.load_photos
        im = im.resize((round(im.width / prescale), round(im.height / prescale)), Image.LANCZOS)
    jpeg = io.BytesIO()
    im.save(jpeg, "JPEG", quality=quality, subsampling=0, optimize=True)
    png = io.BytesIO()
    im.save(png, "PNG", compress_level=9)
    if png.tell() <= lossless_ratio * jpeg.tell():
        return png.getvalue(), ".png", im.size
    return jpeg.getvalue(), ".jpg", im.size


def build_photos(data: Path, out: Path, old: dict, args) -> dict:
    """Convert every photo of ``data`` into ``out`` (reusing entries of ``old`` still current)."""
    from restorer.io import IMAGE_EXTENSIONS

    out.mkdir(parents=True, exist_ok=True)
    entries = {}
    sources = sorted(p for p in data.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    stems = [p.relative_to(data).with_suffix("") for p in sources]
    if len(set(stems)) != len(stems):
        raise SystemExit(f"{data}: two photos share a name (the bundle keeps names, not extensions)")
    settings = [args.prescale, args.jpeg_quality, args.lossless_ratio, "png"]
    for i, path in enumerate(sources):
        real = path.resolve()
        st = real.stat()
        rel = path.relative_to(data)
        stamp = [st.st_size, st.st_mtime_ns, settings]
        prev = old.get(str(rel))
        if prev and prev["stamp"] == stamp and (out / prev["file"]).is_file():
            entries[str(rel)] = prev
            continue
        blob, suffix, size = _encode_photo(real, args.prescale, args.jpeg_quality, args.lossless_ratio)
        # Keep the file stem (and folder) so the sorted order, hence load_photos' order, is unchanged.
        target = rel.with_suffix(suffix)
        for stale in (out / rel.parent).glob(rel.stem + ".*"):
            stale.unlink()
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        (out / target).write_bytes(blob)
        entries[str(rel)] = {"file": str(target), "bytes": len(blob), "size": list(size), "stamp": stamp}
        print(f"  [{i + 1}/{len(sources)}] {rel} -> {target} {size[0]}x{size[1]} {len(blob) / MIB:.2f} MiB",
              flush=True)
    keep = {e["file"] for e in entries.values()}
    for f in out.rglob("*"):
        if f.is_file() and str(f.relative_to(out)) not in keep:
            f.unlink()
    return entries


def build_backbone(net: str, out: Path) -> dict:
    """Pack the ``net`` (``"vgg16"`` or ``"alex"``) backbone into ``out`` (once): see the module docstring."""
    import hashlib
    import lzma

    index_path = out / "index.json"
    if not index_path.is_file():
        import numpy as np

        from restorer.weights import backbone_state_dict

        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.numpy().astype("<f2") for k, v in backbone_state_dict(net).items()}
        flat = np.concatenate([a.ravel() for a in state.values()])
        pairs = flat.view(np.uint8).reshape(-1, 2)  # little-endian: [low byte, high byte]
        (out / "hi.xz").write_bytes(lzma.compress(pairs[:, 1].tobytes(), preset=9))
        (out / "lo.bin").write_bytes(pairs[:, 0].tobytes())
        index = {"net": net, "dtype": "<f2", "sha256": hashlib.sha256(flat.tobytes()).hexdigest(),
                 "tensors": [[k, list(a.shape)] for k, a in state.items()]}
        index_path.write_text(json.dumps(index, indent=1))
    return {"folder": str(out.relative_to(out.parent)),
            "bytes": sum(f.stat().st_size for f in out.iterdir() if f.is_file())}


def unpack_backbone(src: Path, dst_dir: Path) -> Path:
    """Write ``dst_dir/{net}_imagenet.safetensors`` (float32) from a folder made by :func:`build_backbone`
    (``net`` from its index; a bundle from before the index named it is VGG16's).

    Needs numpy and safetensors only. Raises ValueError when the unpacked bytes
    do not match the recorded SHA-256.
    """
    import hashlib
    import lzma

    import numpy as np
    from safetensors.numpy import save_file

    index = json.loads((src / "index.json").read_text())
    hi = np.frombuffer(lzma.decompress((src / "hi.xz").read_bytes()), np.uint8)
    lo = np.frombuffer((src / "lo.bin").read_bytes(), np.uint8)
    flat = np.stack([lo, hi], axis=1).reshape(-1).view(index["dtype"])
    if hashlib.sha256(flat.tobytes()).hexdigest() != index["sha256"]:
        raise ValueError(f"{src}: unpacked weights do not match their checksum")
    state, at = {}, 0
    for name, shape in index["tensors"]:
        n = int(np.prod(shape))
        state[name] = flat[at:at + n].reshape(shape).astype(np.float32)
        at += n
    dst_dir.mkdir(parents=True, exist_ok=True)
    net = index.get("net", "vgg16")
    dst = dst_dir / f"{net}_imagenet.safetensors"
    save_file(state, str(dst.with_suffix(".tmp")), metadata={"note": f"ImageNet {net} features, via float16"})
    dst.with_suffix(".tmp").replace(dst)
    return dst


def build_wheels(out: Path) -> list[str]:
    """Download the wheels of ``WHEELS`` (``.venv``'s versions) into ``out`` when missing."""
    out.mkdir(parents=True, exist_ok=True)
    want = {name: metadata.version(name) for name in WHEELS}
    have = {}
    for whl in out.glob("*.whl"):
        name, version = whl.name.split("-")[:2]
        if want.get(name.lower().replace("_", "-")) == version:
            have[name.lower()] = whl.name
        else:
            whl.unlink()  # another version: two of one package stop the install
    missing = [f"{n}=={v}" for n, v in want.items() if n not in have]
    if missing:
        platforms = [arg for plat in PLATFORMS for arg in ("--platform", plat)]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(out),
                        *missing], check=True)
    return sorted(p.name for p in out.glob("*.whl"))


def build_start(src: Path, out: Path) -> dict:
    """Write the generator of ``src`` (a checkpoint's EMA, or a safetensors) to ``out``."""
    import torch
    from safetensors.torch import load_file, save_file

    if src.suffix == ".safetensors":
        shutil.copyfile(src, out)
        state = load_file(str(out))
        step = ""
    else:
        ck = torch.load(src, map_location="cpu", weights_only=True)
        state = {k: v.contiguous() for k, v in ck["ema"].items()}
        step = str(ck.get("step", ""))
        meta = {"source": str(src), "step": step, "stage": str(ck.get("config", {}).get("stage", ""))}
        save_file(state, str(out.with_suffix(".tmp")), metadata=meta)
        out.with_suffix(".tmp").replace(out)
    arch = [int(v) for v in state["restorer_arch"].tolist()] if "restorer_arch" in state else None
    return {"source": str(src), "step": step, "restorer_arch": arch, "bytes": out.stat().st_size}


def build_disc(src: Path | None, out: Path) -> dict | None:
    """Write ``src``'s discriminator alone as ``out`` (a ``.pt`` that ``--init-disc`` reads), or remove ``out``."""
    import torch

    if src is None:
        out.unlink(missing_ok=True)
        return None
    ck = torch.load(src, map_location="cpu", weights_only=True)
    torch.save({"disc": ck["disc"], "step": ck["step"]}, out.with_suffix(".tmp"))
    out.with_suffix(".tmp").replace(out)
    return {"source": str(src), "step": ck["step"], "d_feat": ck["config"]["d_feat"], "bytes": out.stat().st_size}


def tree_bytes() -> int:
    """Bytes of the working tree that every device call sends (tracked and untracked, not ignored)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.split(b"\0")
    return sum((ROOT / f.decode()).stat().st_size for f in files if f and (ROOT / f.decode()).is_file())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--unpack"]:
        if len(argv) != 3:
            raise SystemExit("usage: device_bundle.py --unpack PACKED_DIR CACHE_DIR")
        print(f"unpacked {unpack_backbone(Path(argv[1]), Path(argv[2]))}")
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="device_bundle.py --unpack PACKED_DIR CACHE_DIR: the device's side")
    ap.add_argument("start", nargs="?", default="weights/restorer_x4.safetensors",
                    help="generator to continue from: .pt checkpoint (its EMA) or .safetensors")
    ap.add_argument("--disc", type=Path, default=None, metavar="CKPT",
                    help="GAN checkpoint (.pt) whose discriminator the device run starts from")
    ap.add_argument("--no-alex", action="store_true",
                    help="leave AlexNet out (4 MiB; the device then scores with LPIPS-VGG): room for --disc")
    ap.add_argument("--data", default="runs/data/train", help="training photos (folder, recursive)")
    ap.add_argument("--heldout", default="runs/data/heldout", help="held-out photos (bench.heldout's --data)")
    ap.add_argument("--out", default=".device", help="bundle folder (gitignored)")
    ap.add_argument("--prescale", type=float, default=2.0, help="downscale factor (the CPU runs' --prescale)")
    ap.add_argument("--jpeg-quality", type=int, default=94,
                    help="JPEG quality of the photos (94 since the DISTS wheel: 95 left the bundle 0.01 MiB over --limit-mib)")
    ap.add_argument("--lossless-ratio", type=float, default=1.25,
                    help="PNG when at most this many times the JPEG's size")
    ap.add_argument("--max-mib", type=float, default=56.0, help="warn above this bundle size")
    ap.add_argument("--limit-mib", type=float, default=62.0, help="fail above this bundle + working tree size")
    args = ap.parse_args(argv)

    out = (ROOT / args.out).resolve()
    start = Path(args.start)
    if not start.is_file():
        ap.error(f"{start}: no such checkpoint")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}

    print(f"photos: {args.data} -> {out / 'train'} (downscaled by {args.prescale:g})", flush=True)
    photos = build_photos(ROOT / args.data, out / "train", old.get("photos", {}), args)
    nets = [net for net in BACKBONES if not (args.no_alex and net == "alex")]
    print(f"weights: ImageNet backbones {', '.join(nets)}, float16, packed", flush=True)
    for net in set(BACKBONES) - set(nets):
        shutil.rmtree(out / net, ignore_errors=True)
    backbones = {net: build_backbone(net, out / net) for net in nets}
    shutil.rmtree(out / "cache", ignore_errors=True)  # an earlier bundle's form
    print("wheels:", flush=True)
    wheels = build_wheels(out / "whl")
    print("start:", start, flush=True)
    start_info = build_start(start, out / "start.safetensors")
    disc_info = build_disc(args.disc, out / "disc.pt")
    print("held-out crops:", args.heldout, flush=True)
    from bench.heldout import heldout_set, save_set

    save_set(heldout_set(ROOT / args.heldout, scale=4), out / "heldout_x4.npz")

    sizes = {}
    for part in ("train", *BACKBONES, "whl", "start.safetensors", "disc.pt", "heldout_x4.npz"):
        p = out / part
        if not p.exists():
            continue
        sizes[part] = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else p.stat().st_size
    total = sum(sizes.values())
    tree = tree_bytes()
    manifest = {"photos": photos, "backbones": backbones, "wheels": wheels, "start": start_info, "disc": disc_info,
                "bytes": sizes, "total_bytes": total, "tree_bytes": tree}
    manifest_path.write_text(json.dumps(manifest, indent=1))

    n_ll = sum(e["file"].endswith(".png") for e in photos.values())
    print(f"\n{args.out}/  (photos: {n_ll} PNG, {len(photos) - n_ll} JPEG q{args.jpeg_quality} 4:4:4)")
    for part, b in sizes.items():
        print(f"  {part:<18} {b / MIB:7.2f} MiB")
    print(f"  {'total':<18} {total / MIB:7.2f} MiB; working tree {tree / MIB:.2f} MiB; together "
          f"{(total + tree) / MIB:.2f} MiB of the 64 MiB a device call carries")
    print(f"  start: {start_info['source']} step {start_info['step'] or '?'} arch {start_info['restorer_arch']}")
    if disc_info:
        print(f"  discriminator: {disc_info['source']} step {disc_info['step']} d_feat {disc_info['d_feat']}")
    if total + tree > args.limit_mib * MIB:
        print(f"error: bundle + working tree exceed {args.limit_mib:g} MiB", file=sys.stderr)
        return 1
    if total > args.max_mib * MIB:
        print(f"warning: bundle above {args.max_mib:g} MiB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
