"""Image files in and out, with Pillow (plus pypng and tifffile for 16-bit colour).
The only place that touches pixels on disk.

Decoding (:func:`load_image`):

* Formats: whatever Pillow opens (PNG, JPEG, WebP, TIFF, BMP, GIF, ...). For
  animated files (GIF, WebP, APNG) the first frame is used, with a warning.
* Every Pillow mode: ``1``/``L``/``LA``/``La``/``I;16*``/``I``/``F`` are grayscale
  (kept grayscale on save); ``P``/``PA`` (palette, with or without transparency),
  ``RGB``/``RGBA``/``RGBa``/``RGBX``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` become RGB
  (+ alpha where they have one).
* EXIF orientation (all 8 values) is applied, so a phone photo comes in upright;
  the EXIF block is kept with orientation reset to 1.
* Colour: RGB in [0, 1], float32, shape (1, 3, H, W), in **sRGB**: an embedded
  ICC profile that is not sRGB (Display P3, Adobe RGB, CMYK...) is converted to
  sRGB with LittleCMS (Pillow's ``ImageCms``, relative colorimetric intent).
  The profile is remembered, and :func:`save_image` / :class:`ImageWriter`
  convert back into it (RGB profiles) or write sRGB with an sRGB tag (CMYK and
  other device spaces). Exceptions, kept in the file's own space and tagged with
  its profile (``LoadedImage.pixels_in_profile``): gray profiles and 16-bit colour
  (LittleCMS in Pillow has no 16-bit RGB or gray-to-RGB transform).
* Alpha (RGBA, LA, P with transparency...) is split off into ``alpha`` (1, 1, H, W)
  and never goes through the model as part of the RGB input.
* Bit depth: 16 when the file stores 16-bit samples (``I;16*``/``I``/``F`` modes,
  16-bit RGB/RGBA PNG and TIFF), else 8; decided from the file, never from pixel
  values. Pillow decodes 16-bit colour to 8 bits, so those files are read with
  pypng (PNG) and tifffile (TIFF) instead.
* A decompression-bomb limit (``MAX_PIXELS``) and truncated, corrupt or
  zero-byte files give :class:`ImageError`, one line naming the file.

Encoding (:func:`save_image`, or tile by tile with :class:`ImageWriter`): PNG,
JPEG, WebP, TIFF by extension; 16-bit grayscale through Pillow, 16-bit colour
through pypng (PNG, with iCCP/eXIf chunks) and tifffile (TIFF, with the ICC
profile). Writes are atomic (a temporary file in the target folder, then
``os.replace``); they refuse to write over an input file, and over any existing
file unless ``overwrite=True``. JPEG has no alpha: RGBA is composited over a
background (default white) with a warning.
"""
from __future__ import annotations

import functools
import io
import os
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .facts import IMAGE_EXTENSIONS, SAVE_FORMATS, first_line

__all__ = ["LoadedImage", "ImageError", "ImageWriter", "load_image", "save_image", "to_pil", "from_pil",
           "SAVE_FORMATS", "IMAGE_EXTENSIONS", "MAX_PIXELS", "srgb_profile"]

# The process umask, read once: files made by mkstemp are 0600, and outputs should get
# the same permissions as any file the user creates (0666 & ~umask).
_UMASK = os.umask(0)
os.umask(_UMASK)

#: Largest side each encoder accepts (libjpeg: 65535, libwebp: 16383).
MAX_SIDE = {"JPEG": 65535, "WEBP": 16383}

#: Our decompression-bomb limit, in pixels (about 16k x 16k); :func:`load_image`
#: sets it as Pillow's ``Image.MAX_IMAGE_PIXELS`` (Pillow's own default is
#: 89,478,485) and rejects larger images.
MAX_PIXELS = 268_000_000

#: LittleCMS rendering intent for every conversion: relative colorimetric (ICC.1
#: section 6.2.2), which keeps in-gamut colours exact and matrix/TRC profiles
#: (sRGB, Display P3, Adobe RGB) have no perceptual tables anyway.
_INTENT = ImageCms.Intent.RELATIVE_COLORIMETRIC


class ImageError(Exception):
    """A file could not be read or written; the message is one line naming the file."""


@dataclass
class LoadedImage:
    """A decoded image.

    Attributes:
        rgb: float32 tensor (1, 3, H, W), RGB in [0, 1]; sRGB unless
            ``pixels_in_profile``.
        alpha: float32 tensor (1, 1, H, W) in [0, 1], or None when the file has none.
        bits: 8 or 16, the sample depth of the file.
        grayscale: True when the file is single-channel (L, LA, I;16, 1...).
        icc_profile: the embedded ICC profile bytes, or None.
        exif: the EXIF block (orientation reset to 1) as bytes, or None.
        path: where it came from (None for in-memory images).
        format: Pillow's format name of the source (``"PNG"``, ``"JPEG"``...).
        pixels_in_profile: True when ``rgb`` holds the profile's own values (gray
            profiles, 16-bit colour); False when it was converted to sRGB (or the
            profile is sRGB, or there is none).
    """

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None
    bits: int = 8
    grayscale: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    path: Path | None = None
    format: str | None = None
    pixels_in_profile: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])


# ---------------------------------------------------------------------------------------------
# colour management


@functools.lru_cache(maxsize=1)
def srgb_profile() -> bytes:
    """The sRGB ICC profile LittleCMS builds (``ImageCms.createProfile("sRGB")``), as bytes."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _profile(icc: bytes) -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(io.BytesIO(icc))


@functools.lru_cache(maxsize=32)
def _profile_kind(icc: bytes) -> str:
    """``"srgb"`` (an RGB profile that maps every 8-bit colour within 1 level of
    sRGB: conversion would only add rounding), ``"rgb"``, ``"gray"``, ``"cmyk"``,
    ``"other"``, or ``"invalid"`` when LittleCMS cannot parse it."""
    try:
        prof = _profile(icc)
        space = prof.profile.xcolor_space.strip().upper()
    except Exception:  # noqa: BLE001 - any parse failure means: ignore the profile
        return "invalid"
    if space != "RGB":
        return {"GRAY": "gray", "CMYK": "cmyk"}.get(space, "other")
    grid = np.stack(np.meshgrid(*(np.arange(0, 256, 17, dtype=np.uint8),) * 3, indexing="ij"), -1).reshape(-1, 1, 3)
    try:
        t = ImageCms.buildTransform(prof, ImageCms.createProfile("sRGB"), "RGB", "RGB", renderingIntent=_INTENT)
        out = np.asarray(ImageCms.applyTransform(Image.fromarray(grid, "RGB"), t))
    except Exception:  # noqa: BLE001
        return "invalid"
    return "srgb" if int(np.abs(out.astype(np.int16) - grid).max()) <= 1 else "rgb"


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """Convert an 8-bit ``RGB``/``RGBA``/``CMYK`` Pillow image from profile ``icc`` to sRGB
    (``RGB``/``RGBA``; alpha is copied through)."""
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    t = ImageCms.buildTransform(_profile(icc), ImageCms.createProfile("sRGB"), im.mode, out_mode,
                                renderingIntent=_INTENT)
    return ImageCms.applyTransform(im, t)


# ---------------------------------------------------------------------------------------------
# decoding


def _array_to_tensor(arr: np.ndarray, maxval: float) -> torch.Tensor:
    """(H, W) or (H, W, C) array -> float32 (1, C, H, W) divided by ``maxval``, one channel
    at a time (the only temporary is one channel, so a 100-megapixel photo does not
    need three full-size float copies)."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    h, w, c = arr.shape
    out = torch.empty((1, c, h, w), dtype=torch.float32)
    native = np.uint8 if arr.dtype == np.uint8 else np.float32 if arr.dtype.kind == "f" else np.int32
    for i in range(c):
        ch = np.ascontiguousarray(arr[..., i], dtype=native)
        if not ch.flags.writeable:  # torch.from_numpy warns on read-only arrays (Pillow's are)
            ch = ch.copy()
        out[0, i].copy_(torch.from_numpy(ch))
    return out.div_(maxval)


def from_pil(im: Image.Image) -> LoadedImage:
    """Convert a Pillow image (any mode) into a :class:`LoadedImage` (no EXIF
    transpose, no colour management).

    Mode handling: ``I;16*`` and ``I`` are 16-bit grayscale (``I`` values above
    65535 are divided by 65535, negatives clipped to 0); ``F`` is grayscale
    divided by its own maximum when that exceeds 1, marked 16-bit; ``1``/``L``
    are 8-bit grayscale, ``LA``/``La`` 8-bit grayscale with alpha; ``P``
    becomes RGBA when it has transparency, else RGB; ``RGB``/``L`` with a
    colour-key transparency (PNG ``tRNS``) become RGBA/LA; ``PA``/``RGBA``/``RGBa``
    become RGBA (``RGBa`` un-premultiplied); ``LAB`` goes through LittleCMS's
    D50 Lab profile to sRGB; every other mode (``RGB``, ``RGBX``, ``CMYK``
    without a profile, ``YCbCr``, ``HSV``) is converted to RGB by Pillow.

    Args:
        im: Pillow image.

    Returns:
        :class:`LoadedImage` with ``rgb`` float32 (1, 3, H, W) in [0, 1]
        (grayscale repeated on three channels), ``alpha`` float32 (1, 1, H, W)
        in [0, 1] or None (also None when fully opaque), ``bits`` 8 or 16 and
        ``grayscale``; ``path``, ``format``, ``icc_profile`` and ``exif`` unset.
    """
    mode = im.mode
    alpha = None
    bits = 8
    gray = False
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im).astype(np.float32)
        if mode == "I" and arr.max(initial=0) > 65535:
            arr = arr / 65535.0  # 32-bit integer data: scale into 16 bits
        rgb = _array_to_tensor(np.clip(arr, 0, 65535), 65535.0).expand(1, 3, -1, -1).contiguous()
        bits, gray = 16, True
    elif mode == "F":
        arr = np.asarray(im).astype(np.float32)
        hi = float(arr.max(initial=1.0))
        rgb = _array_to_tensor(np.clip(arr / (hi if hi > 1 else 1.0), 0, 1), 1.0).expand(1, 3, -1, -1).contiguous()
        bits, gray = 16, True
    else:
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif mode in ("RGB", "L") and "transparency" in im.info:  # PNG tRNS colour key
            im = im.convert("RGBA" if mode == "RGB" else "LA")
        elif mode in ("PA", "RGBa"):
            im = im.convert("RGBA")
        elif mode == "La":
            im = im.convert("LA")
        elif mode == "LAB":
            t = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB",
                                        renderingIntent=_INTENT)
            im = ImageCms.applyTransform(im, t)
        if im.mode in ("1", "L"):
            im = im.convert("L")
            gray = True
            rgb = _array_to_tensor(np.asarray(im), 255.0).expand(1, 3, -1, -1).contiguous()
        elif im.mode == "LA":
            gray = True
            arr = np.asarray(im)
            rgb = _array_to_tensor(arr[..., 0], 255.0).expand(1, 3, -1, -1).contiguous()
            alpha = _array_to_tensor(arr[..., 1], 255.0)
        elif im.mode == "RGBA":
            arr = np.asarray(im)
            rgb = _array_to_tensor(arr[..., :3], 255.0)
            alpha = _array_to_tensor(arr[..., 3], 255.0)
        else:
            rgb = _array_to_tensor(np.asarray(im if im.mode == "RGB" else im.convert("RGB")), 255.0)
    if alpha is not None and bool((alpha >= 1.0).all()):
        alpha = None  # fully opaque: nothing to keep
    return LoadedImage(rgb=rgb, alpha=alpha, bits=bits, grayscale=gray)


def _is_16bit_colour(im: Image.Image) -> bool:
    """True for a not-yet-loaded RGB/RGBA/LA image whose decoder unpacks 16-bit samples
    (PNG ``RGB;16B``/``RGBA;16B``, TIFF ``RGB;16L``...): Pillow would keep only 8 bits."""
    if im.mode not in ("RGB", "RGBA", "LA"):
        return False
    for tile in im.tile or ():
        args = tile.args if hasattr(tile, "args") else tile[3]
        raw = args[0] if isinstance(args, tuple) and args else args
        if isinstance(raw, str) and ";16" in raw:
            return True
    return False


def _read_16bit_colour(path: Path, fmt: str) -> np.ndarray:
    """Read a 16-bit LA/RGB/RGBA PNG (pypng) or TIFF (tifffile) as uint16 (H, W, 2, 3 or 4),
    in stored orientation; the first frame/page only."""
    if fmt == "PNG":
        import png

        with open(path, "rb") as fh:  # closed here: pypng's Reader(filename=) leaves its file open
            w, h, rows, info = png.Reader(file=fh).asDirect()
            planes = int(info["planes"])
            arr = np.empty((h, w * planes), np.uint16)
            for i, row in enumerate(rows):
                arr[i] = row
        arr = arr.reshape(h, w, planes)
        if info["bitdepth"] != 16:
            raise ValueError(f"expected 16-bit samples, found {info['bitdepth']}")
        return arr
    import tifffile

    with tifffile.TiffFile(str(path)) as tf:
        page = tf.pages[0]
        arr = page.asarray()
        axes = page.axes
    if "S" in axes and axes.index("S") != arr.ndim - 1:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3, 4) or arr.dtype.itemsize != 2:
        raise ValueError(f"unexpected TIFF layout {arr.shape} {arr.dtype}")
    return arr.astype(np.uint16, copy=False)


def _read_tiff_fallback(path: Path) -> np.ndarray | None:
    """Layouts Pillow does not open (e.g. 16-bit gray + alpha TIFF, as :class:`ImageWriter`
    writes it): read with tifffile as uint16 (H, W, 2/3/4); None when not such a TIFF."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) not in (b"II*\0", b"MM\0*"):
                return None
        import tifffile

        with tifffile.TiffFile(str(path)) as tf:
            page = tf.pages[0]
            arr, axes = page.asarray(), page.axes
    except Exception:  # noqa: BLE001 - not readable either way: the caller reports it
        return None
    if "S" in axes and axes.index("S") != arr.ndim - 1:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.ndim != 3 or arr.shape[-1] not in (2, 3, 4) or arr.dtype not in (np.uint8, np.uint16):
        return None
    return arr.astype(np.uint16) * 257 if arr.dtype == np.uint8 else arr


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 to an (H, W, C) array, as ``ImageOps.exif_transpose``
    does to a Pillow image (TIFF/EXIF 2.3 tag 0x0112)."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.transpose(1, 0, 2), 6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
           7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1], 8: lambda a: a.transpose(1, 0, 2)[::-1]}
    op = ops.get(int(orientation))
    return np.ascontiguousarray(op(arr)) if op else arr


#: EXIF orientation (TIFF/EXIF 2.3 tag 0x0112) -> the Pillow transpose that makes the image upright
#: (the table ``ImageOps.exif_transpose`` uses).
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def _tiff_stored(path: Path, im: Image.Image) -> Image.Image | None:
    """A TIFF's first page in stored orientation, read with tifffile, as a Pillow
    ``L``/``I;16``/``RGB``/``RGBA`` image; None for other layouts (Pillow decodes those).

    Why: Pillow (13.0) swaps width and height of a TIFF with EXIF orientation 5-8
    before decoding, and its L and I;16 pixels come out scrambled."""
    if im.mode not in ("L", "I;16", "I;16B", "RGB", "RGBA"):
        return None
    try:
        import tifffile

        with tifffile.TiffFile(str(path)) as tf:
            page = tf.pages[0]
            arr, axes = page.asarray(), page.axes
    except Exception:  # noqa: BLE001 - not readable by tifffile: Pillow's result stands
        return None
    if "S" in axes and axes.index("S") != arr.ndim - 1:
        arr = np.moveaxis(arr, axes.index("S"), -1)
    if arr.dtype == np.uint8 and arr.ndim == 2:
        return Image.fromarray(arr, "L")
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[-1] in (3, 4):
        return Image.fromarray(np.ascontiguousarray(arr), "RGB" if arr.shape[-1] == 3 else "RGBA")
    if arr.dtype == np.uint16 and arr.ndim == 2:
        return Image.fromarray(np.ascontiguousarray(arr))
    return None


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Decode an image file.

    Args:
        path: file to read.

    Returns:
        :class:`LoadedImage` with EXIF orientation applied and colours in sRGB
        (see the module docstring and :func:`from_pil` for shapes, ranges, modes
        and colour management).

    Warns:
        UserWarning: the file is animated (only the first frame is used); or its
            ICC profile is unusable (ignored) or cannot be converted (kept).

    Raises:
        ImageError: missing, unreadable, zero-byte, truncated, not an image, or
            larger than ``MAX_PIXELS`` (decompression-bomb guard); one line
            naming the file.
    """
    path = Path(path)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    raw16 = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format
                if getattr(im, "n_frames", 1) > 1:
                    warnings.warn(f"{path.name}: animated image ({im.n_frames} frames), using the first frame only",
                                  stacklevel=2)
                    im.seek(0)
                deep = _is_16bit_colour(im) and fmt in ("PNG", "TIFF")  # before getexif(), which may load
                icc = im.info.get("icc_profile") or None
                exif = im.getexif()
                orientation = int(exif.get(0x0112, 1) or 1)
                if deep:
                    raw16 = _orient(_read_16bit_colour(path, fmt), orientation)
                else:
                    stored = _tiff_stored(path, im) if fmt == "TIFF" and orientation in (5, 6, 7, 8) else None
                    if stored is not None:
                        im = stored.transpose(_TRANSPOSE[orientation])
                    else:
                        im.load()
                        im = ImageOps.exif_transpose(im)  # a TIFF is already upright once loaded
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        tiff = _read_tiff_fallback(path)
        if tiff is None:
            what = "empty file (0 bytes)" if path.is_file() and path.stat().st_size == 0 else \
                "not an image Pillow can read"
            raise ImageError(f"{path}: {what}") from None
        raw16, fmt, icc, exif, orientation = tiff, "TIFF", None, Image.Exif(), 1
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: larger than {MAX_PIXELS:,} pixels (decompression-bomb limit)") from None
    except (OSError, SyntaxError, ValueError, EOFError, KeyError, IndexError) as exc:
        raise ImageError(f"{path}: cannot decode ({first_line(exc)})") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode") from None
    kind = _profile_kind(icc) if icc else None
    if kind == "invalid":
        warnings.warn(f"{path.name}: unreadable ICC profile ignored (colours taken as sRGB)", stacklevel=2)
        icc, kind = None, None
    in_profile = False
    if raw16 is not None:
        gray = raw16.shape[-1] == 2
        rgb = _array_to_tensor(raw16[..., :1] if gray else raw16[..., :3], 65535.0)
        out = LoadedImage(rgb=rgb.expand(1, 3, -1, -1).contiguous() if gray else rgb, bits=16, grayscale=gray)
        if raw16.shape[-1] in (2, 4):
            a = _array_to_tensor(raw16[..., -1], 65535.0)
            out.alpha = None if bool((a >= 1.0).all()) else a
        in_profile = kind not in (None, "srgb")
    else:
        if im.mode in ("YCbCr", "RGBX", "HSV"):
            im = im.convert("RGB")
        if im.mode in ("RGB", "L") and "transparency" in im.info:  # a tRNS colour key: make it alpha first
            im = im.convert("RGBA" if im.mode == "RGB" else "LA")
        if kind in ("rgb", "cmyk") and im.mode in ("P", "PA", "RGBa"):
            im = im.convert("RGB" if im.mode == "P" and "transparency" not in im.info else "RGBA")
        if kind in ("rgb", "cmyk"):
            try:
                if (kind == "cmyk") != (im.mode == "CMYK") or im.mode not in ("RGB", "RGBA", "CMYK"):
                    raise ValueError(f"{kind.upper()} profile on a {im.mode} image")
                im = _to_srgb(im, icc)
            except Exception as exc:  # noqa: BLE001 - a profile that does not fit is ignored, not fatal
                warnings.warn(f"{path.name}: ICC profile ignored ({exc})", stacklevel=2)
                icc, kind = None, None
        out = from_pil(im)
        in_profile = kind in ("gray", "other")
    exif_bytes = None
    if exif:
        exif[0x0112] = 1  # orientation already applied
        exif_bytes = exif.tobytes()
    out.icc_profile = icc
    out.pixels_in_profile = in_profile
    out.exif = exif_bytes
    out.path = path
    out.format = fmt
    return out


# ---------------------------------------------------------------------------------------------
# encoding


def _quantize(x: torch.Tensor, bits: int) -> np.ndarray:
    """(C, h, w) float in [0, 1] (clamped) -> (h, w, C) uint8/uint16, rounded to nearest."""
    top = 65535.0 if bits == 16 else 255.0
    arr = (x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * top + 0.5)
    return arr.astype(np.uint16 if bits == 16 else np.uint8)


def to_pil(rgb: torch.Tensor, alpha: torch.Tensor | None = None, bits: int = 8, grayscale: bool = False) -> Image.Image:
    """Convert a (1, 3, H, W) float tensor in [0, 1] (values outside are clamped)
    and optional (1, 1, H, W) alpha to a Pillow image.

    Args:
        rgb: float tensor (1, 3, H, W), any float dtype and device.
        alpha: optional float tensor (1, 1, H, W), clamped to [0, 1].
        bits: 8 or 16; 16 is honoured only for grayscale without alpha.
        grayscale: write one channel, the mean of R, G and B.

    Returns:
        ``RGB``/``RGBA``/``L``/``LA`` (8-bit), or ``I;16`` for 16-bit
        grayscale without alpha; samples are rounded to nearest. Pillow has no
        16-bit colour mode (files use :func:`save_image`, which writes 16-bit
        colour through pypng/tifffile).
    """
    rgb = rgb.detach().float().clamp(0, 1)[0]
    if grayscale:
        rgb = rgb.mean(0, keepdim=True)
    if bits == 16 and grayscale and alpha is None:
        return Image.fromarray(_quantize(rgb, 16)[..., 0])
    arr8 = _quantize(rgb, 8)
    if alpha is not None:
        a = _quantize(alpha[0], 8)
        arr8 = np.concatenate([arr8, a], axis=-1)
        return Image.fromarray(arr8, "LA" if grayscale else "RGBA")
    return Image.fromarray(arr8[..., 0] if grayscale else arr8, "L" if grayscale else "RGB")


class ImageWriter:
    """An output image filled tile by tile, then encoded atomically.

    Memory: one buffer the size of the output (8-bit: a Pillow image, which
    stores 4 bytes per RGB/RGBA/LA pixel and 1 per L pixel; 16-bit: a numpy
    uint16 array, 2 bytes per sample); tiles are quantised as they arrive, so no
    full-size float copy exists. All checks on the target (format, input
    protection, existing file, folder) run in the constructor, before any work.

    Args:
        path: target; the extension picks the format (see ``SAVE_FORMATS``).
        width, height: output size in pixels.
        alpha: whether alpha tiles will be written. JPEG has no alpha: tiles are
            composited over ``background`` with a warning (at construction).
        bits: 8 or 16 (16 is honoured for PNG and TIFF, else 8).
        grayscale: write a single-channel image (mean of R, G, B).
        icc_profile: the colour space to write in (from the source image).
            Pixels given to :meth:`write` are sRGB unless ``pixels_in_profile``;
            an RGB profile that is not sRGB is converted into (8-bit output), a
            CMYK/other profile (or a 16-bit output) gets sRGB with an sRGB tag;
            a gray profile is embedded as is on grayscale output.
        pixels_in_profile: the pixels already hold the profile's values
            (:attr:`LoadedImage.pixels_in_profile`): embed without conversion.
        exif: EXIF block to embed (PNG, JPEG, WebP, TIFF via Pillow; not in
            16-bit TIFF).
        overwrite: allow replacing an existing file.
        protect: paths that must never be written (the inputs).
        quality: JPEG/WebP quality, 1..100.
        background: RGB in [0, 1] that JPEG output is composited over when
            ``alpha`` is True (default white).

    Warns:
        UserWarning: alpha composited for JPEG.

    Raises:
        ImageError: unsupported extension, target is a protected input, target
            exists without ``overwrite``, its folder does not exist, or the size
            exceeds the format's limit (``MAX_SIDE``); one line naming the file.
        MemoryError: the output buffer cannot be allocated.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, *, alpha: bool = False, bits: int = 8,
                 grayscale: bool = False, icc_profile: bytes | None = None, pixels_in_profile: bool = False,
                 exif: bytes | None = None, overwrite: bool = False, protect: tuple[str | os.PathLike, ...] = (),
                 quality: int = 95, background: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        path = Path(path)
        fmt = SAVE_FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ImageError(f"{path}: unsupported output format (use {', '.join(sorted(SAVE_FORMATS))})")
        target = path.resolve()
        for p in protect:
            if Path(p).resolve() == target:
                raise ImageError(f"{path}: refusing to write over an input file")
        if path.exists() and not overwrite:
            raise ImageError(f"{path}: already exists (not replaced without overwrite)")
        if not path.parent.exists():
            raise ImageError(f"{path}: folder {path.parent} does not exist")
        limit = MAX_SIDE.get(fmt)
        if limit and max(width, height) > limit:
            raise ImageError(f"{path}: {width}x{height} is larger than {fmt} allows ({limit} pixels a side); "
                             "use PNG or TIFF")
        self.path, self.format = path, fmt
        self.width, self.height = int(width), int(height)
        self.composite = fmt == "JPEG" and alpha
        if self.composite:
            warnings.warn(f"{path.name}: JPEG has no alpha; compositing over the background colour "
                          f"{tuple(round(c, 3) for c in background)}", stacklevel=2)
        self.alpha = alpha and not self.composite
        self.background = torch.tensor(background, dtype=torch.float32).view(3, 1, 1)
        self.bits = 16 if bits == 16 and fmt in ("PNG", "TIFF") else 8
        self.grayscale = grayscale
        self.exif, self.quality = exif, quality
        # Colour space of the file: convert sRGB -> profile at commit, or embed as is, or tag sRGB.
        self.icc, self.convert = None, False
        kind = _profile_kind(icc_profile) if icc_profile else None
        if kind in (None, "invalid"):
            pass
        elif pixels_in_profile:
            self.icc = icc_profile
        elif grayscale:
            self.icc = icc_profile if kind == "gray" else None
        elif kind == "srgb":
            self.icc = icc_profile
        elif kind == "rgb" and self.bits == 8:
            self.icc, self.convert = icc_profile, True
        else:
            self.icc = srgb_profile()
        self.channels = (1 if grayscale else 3) + (1 if self.alpha else 0)
        if self.bits == 16:
            self._arr = np.zeros((self.height, self.width, self.channels), np.uint16)
            self._im = None
        else:
            mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[self.channels]
            self._im = Image.new(mode, (self.width, self.height))
            self._arr = None

    @staticmethod
    def buffer_bytes(path: str | os.PathLike, width: int, height: int, *, alpha: bool = False, bits: int = 8,
                     grayscale: bool = False) -> int:
        """Bytes the output buffer of an :class:`ImageWriter` with these arguments
        takes (Pillow stores 8-bit L as 1 byte a pixel and LA/RGB/RGBA as 4;
        16-bit buffers take 2 bytes a sample). No allocation; used to refuse a
        job early."""
        fmt = SAVE_FORMATS.get(Path(path).suffix.lower(), "PNG")
        has_alpha = alpha and fmt != "JPEG"
        px = int(width) * int(height)
        if bits == 16 and fmt in ("PNG", "TIFF"):
            return px * 2 * ((1 if grayscale else 3) + (1 if has_alpha else 0))
        return px * (1 if grayscale and not has_alpha else 4)

    def write(self, x0: int, y0: int, rgb: torch.Tensor, alpha: torch.Tensor | None = None) -> None:
        """Place one tile.

        Args:
            x0, y0: the tile's top-left corner in output pixels.
            rgb: float tensor (1, 3, h, w) or (3, h, w), sRGB in [0, 1] (clamped).
            alpha: float tensor (1, 1, h, w) in [0, 1]; required when the writer
                was made with ``alpha=True`` (also for JPEG, where it composites).
        """
        rgb = rgb.detach().float().cpu().reshape(3, *rgb.shape[-2:]).clamp(0, 1)
        if alpha is not None:
            alpha = alpha.detach().float().cpu().reshape(1, *alpha.shape[-2:]).clamp(0, 1)
        if self.composite and alpha is not None:
            rgb = rgb * alpha + self.background * (1 - alpha)
        if self.grayscale:
            rgb = rgb.mean(0, keepdim=True)
        planes = torch.cat([rgb, alpha], 0) if self.alpha and alpha is not None else rgb
        if self.alpha and alpha is None:
            planes = torch.cat([rgb, torch.ones_like(rgb[:1])], 0)
        tile = _quantize(planes, self.bits)
        h, w = tile.shape[:2]
        if self._arr is not None:
            self._arr[y0:y0 + h, x0:x0 + w] = tile
        else:
            mode = self._im.mode
            self._im.paste(Image.fromarray(tile[..., 0] if mode == "L" else tile, mode), (x0, y0))

    def commit(self) -> Path:
        """Encode the image into a temporary file beside the target, then rename it
        over the target (atomic). The buffer is released afterwards.

        Returns:
            The written path.

        Raises:
            ImageError: the encoder or the rename failed; no partial file is
                left behind. One line naming the file. (Whether the target
                exists is checked in the constructor only.)
        """
        path = self.path
        fd, tmp = tempfile.mkstemp(prefix=".restorer-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        try:
            with open(tmp, "wb") as fh:  # a named file object: tifffile needs ``fh.name`` to be a path
                self._encode(fh)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, path)
        except Exception as exc:  # noqa: BLE001 - report any encoder failure as one line
            raise ImageError(f"{path}: cannot write ({first_line(exc)})") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
            self._im = self._arr = None
        return path

    def _encode(self, fh) -> None:
        if self._im is not None:
            im = self._im
            if self.convert:
                t = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), _profile(self.icc), im.mode, im.mode,
                                            renderingIntent=_INTENT)
                ImageCms.applyTransform(im, t, inPlace=True)
            kwargs: dict = {}
            if self.icc:
                kwargs["icc_profile"] = self.icc
            if self.exif:
                kwargs["exif"] = self.exif
            if self.format in ("JPEG", "WEBP"):
                kwargs["quality"] = self.quality
            im.save(fh, format=self.format, **kwargs)
            return
        arr = self._arr
        if self.channels == 1:  # Pillow writes 16-bit grayscale (PNG and TIFF) with metadata
            kwargs = {k: v for k, v in (("icc_profile", self.icc), ("exif", self.exif)) if v}
            Image.fromarray(arr[..., 0]).save(fh, format=self.format, **kwargs)
        elif self.format == "PNG":
            import png

            extra = []
            if self.icc:
                extra.append((b"iCCP", b"ICC profile\x00\x00" + zlib.compress(self.icc)))
            if self.exif:
                extra.append((b"eXIf", self.exif[6:] if self.exif.startswith(b"Exif\x00\x00") else self.exif))

            class _Writer(png.Writer):
                def write_preamble(self, outfile):  # pypng has no iCCP/eXIf option: add them before IDAT
                    super().write_preamble(outfile)
                    for tag, data in extra:
                        png.write_chunk(outfile, tag, data)

            # Rows stream from the uint16 buffer into the file: no second full-size copy.
            _Writer(self.width, self.height, greyscale=self.channels == 2, alpha=self.channels in (2, 4),
                    bitdepth=16).write(fh, arr.reshape(self.height, -1))
        else:
            import tifffile

            kw: dict = {"photometric": "minisblack" if self.channels == 2 else "rgb", "compression": "zlib"}
            if self.channels in (2, 4):
                kw["extrasamples"] = ("unassalpha",)
            if self.icc:
                kw["iccprofile"] = self.icc
            tifffile.imwrite(fh, arr, **kw)


def save_image(
    path: str | os.PathLike,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None = None,
    *,
    bits: int = 8,
    grayscale: bool = False,
    icc_profile: bytes | None = None,
    exif: bytes | None = None,
    overwrite: bool = False,
    protect: tuple[str | os.PathLike, ...] = (),
    quality: int = 95,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
    pixels_in_profile: bool = False,
) -> Path:
    """Encode an image file atomically (one :class:`ImageWriter` tile covering the image).

    Args:
        path: target; the extension picks the format (see ``SAVE_FORMATS``).
        rgb: float tensor (1, 3, H, W) in [0, 1], sRGB unless ``pixels_in_profile``.
        alpha: optional float tensor (1, 1, H, W) in [0, 1]. JPEG has no alpha:
            the image is composited over ``background`` with a warning.
        bits: 8 or 16 (16 is honoured for PNG and TIFF, grayscale or colour).
        grayscale: write a single-channel image.
        icc_profile: colour space to write in (see :class:`ImageWriter`).
        exif: EXIF block to embed.
        overwrite: allow replacing an existing file.
        protect: paths that must never be written (the inputs).
        quality: JPEG/WebP quality, 1..100.
        background: RGB in [0, 1] that JPEG output is composited over when
            ``alpha`` is given (default white).
        pixels_in_profile: ``rgb`` already holds the profile's values.

    Returns:
        The written path.

    Warns:
        UserWarning: alpha composited for JPEG.

    Raises:
        ImageError: unsupported extension, target is a protected input, target
            exists without ``overwrite``, its folder does not exist, or the
            write failed (no partial file is left behind); one line naming the file.
    """
    h, w = rgb.shape[-2:]
    writer = ImageWriter(path, w, h, alpha=alpha is not None, bits=bits, grayscale=grayscale,
                         icc_profile=icc_profile, pixels_in_profile=pixels_in_profile, exif=exif,
                         overwrite=overwrite, protect=protect, quality=quality, background=background)
    writer.write(0, 0, rgb[0] if rgb.ndim == 4 else rgb, alpha)
    return writer.commit()
