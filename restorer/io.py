"""Image files in and out, with Pillow. The only place that touches pixels on disk.

Decoding (:func:`load_image`):

* Formats: whatever Pillow opens (PNG, JPEG, WebP, TIFF, BMP, GIF, ...). For
  animated files the first frame is used.
* EXIF orientation is applied (``ImageOps.exif_transpose``), so a phone photo
  comes in upright.
* Colour: RGB in [0, 1], float32, shape (1, 3, H, W). Grayscale files are
  expanded to three equal channels and remembered as grayscale, so they are
  saved as grayscale again.
* Alpha (RGBA, LA, P with transparency) is split off into ``alpha`` (1, 1, H, W)
  and never goes through the model.
* Bit depth: 16 when the file stores 16-bit samples (``I;16*`` and ``I`` modes
  from PNG/TIFF), else 8; decided from the file's mode, not from pixel values.
* The ICC profile and the EXIF block are kept (orientation reset to 1) and
  written back on save.

Encoding (:func:`save_image`): PNG, JPEG, WebP, TIFF by extension; atomic (a
temporary file in the target folder, then ``os.replace``); refuses to write over
the input file, and over any existing file unless ``overwrite=True``.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["LoadedImage", "ImageError", "load_image", "save_image", "to_pil", "from_pil", "SAVE_FORMATS",
           "IMAGE_EXTENSIONS"]

#: Extensions treated as images when scanning folders (training data, batch input).
IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"}

#: Output extensions and the Pillow format they map to.
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}

# The process umask, read once: files made by mkstemp are 0600, and outputs should get
# the same permissions as any file the user creates (0666 & ~umask).
_UMASK = os.umask(0)
os.umask(_UMASK)

#: Our decompression-bomb limit, in pixels (about 16k x 16k); :func:`load_image`
#: sets it as Pillow's ``Image.MAX_IMAGE_PIXELS`` (Pillow's own default is
#: 89,478,485) and rejects larger images.
MAX_PIXELS = 268_000_000


class ImageError(Exception):
    """A file could not be read or written; the message is one line naming the file."""


@dataclass
class LoadedImage:
    """A decoded image.

    Attributes:
        rgb: float32 tensor (1, 3, H, W), RGB in [0, 1].
        alpha: float32 tensor (1, 1, H, W) in [0, 1], or None when the file has none.
        bits: 8 or 16, the sample depth of the file.
        grayscale: True when the file is single-channel (L, LA, I;16, 1...).
        icc_profile: the embedded ICC profile bytes, or None.
        exif: the EXIF block (orientation reset to 1) as bytes, or None.
        path: where it came from (None for in-memory images).
        format: Pillow's format name of the source (``"PNG"``, ``"JPEG"``...).
    """

    rgb: torch.Tensor
    alpha: torch.Tensor | None = None
    bits: int = 8
    grayscale: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    path: Path | None = None
    format: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])


def _array_to_tensor(arr: np.ndarray, maxval: float) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32) / maxval)
    if t.ndim == 2:
        t = t.unsqueeze(-1)
    return t.permute(2, 0, 1).unsqueeze(0).contiguous()


def from_pil(im: Image.Image) -> LoadedImage:
    """Convert a Pillow image (any mode) into a :class:`LoadedImage` (no EXIF transpose).

    Mode handling: ``I;16*`` and ``I`` are 16-bit grayscale (``I`` values above
    65535 are divided by 65535, negatives clipped to 0); ``F`` is grayscale
    divided by its own maximum when that exceeds 1, marked 16-bit; ``1``/``L``
    and ``LA`` are 8-bit grayscale; ``P`` becomes RGBA when it has
    transparency, else RGB; ``PA`` becomes RGBA; every other mode is converted
    to RGB (so the alpha of e.g. ``RGBa`` is dropped).

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
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
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
        elif mode == "PA":
            im = im.convert("RGBA")
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
            rgb = _array_to_tensor(np.asarray(im.convert("RGB")), 255.0)
    if alpha is not None and bool((alpha >= 1.0).all()):
        alpha = None  # fully opaque: nothing to keep
    return LoadedImage(rgb=rgb, alpha=alpha, bits=bits, grayscale=gray)


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Decode an image file.

    Args:
        path: file to read.

    Returns:
        :class:`LoadedImage` with EXIF orientation applied (see the module
        docstring and :func:`from_pil` for shapes, ranges and modes).

    Warns:
        UserWarning: the file is animated; only the first frame is used.

    Raises:
        ImageError: missing, unreadable, truncated, not an image, or larger than
            ``MAX_PIXELS`` (decompression-bomb guard); one line naming the file.
    """
    path = Path(path)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt = im.format
                if getattr(im, "n_frames", 1) > 1:
                    warnings.warn(f"{path.name}: animated image, using the first frame only", stacklevel=2)
                    im.seek(0)
                im.load()
                icc = im.info.get("icc_profile")
                exif = im.getexif()
                im = ImageOps.exif_transpose(im)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{path}: larger than {MAX_PIXELS:,} pixels (decompression-bomb limit)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot decode ({exc})") from None
    out = from_pil(im)
    exif_bytes = None
    if exif:
        exif[0x0112] = 1  # orientation already applied
        exif_bytes = exif.tobytes()
    out.icc_profile = icc
    out.exif = exif_bytes
    out.path = path
    out.format = fmt
    return out


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
        16-bit colour mode, so 16-bit colour is written as 8-bit (Pillow also
        decodes 16-bit colour files as 8-bit).
    """
    rgb = rgb.detach().float().clamp(0, 1)[0]
    if grayscale:
        rgb = rgb.mean(0, keepdim=True)
    if bits == 16 and grayscale and alpha is None:
        return Image.fromarray((rgb[0].cpu().numpy() * 65535.0 + 0.5).astype(np.uint16))
    arr8 = (rgb.permute(1, 2, 0).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    if alpha is not None:
        a = (alpha.detach().float().clamp(0, 1)[0, 0].cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
        arr8 = np.concatenate([arr8, a[..., None]], axis=-1)
        return Image.fromarray(arr8, "LA" if grayscale else "RGBA")
    return Image.fromarray(arr8[..., 0] if grayscale else arr8, "L" if grayscale else "RGB")


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
) -> Path:
    """Encode an image file atomically.

    Args:
        path: target; the extension picks the format (see ``SAVE_FORMATS``).
        rgb: float tensor (1, 3, H, W) in [0, 1].
        alpha: optional float tensor (1, 1, H, W) in [0, 1]. JPEG has no alpha:
            the image is composited over ``background`` with a warning.
        bits: 8 or 16 (16 is honoured for grayscale PNG and TIFF).
        grayscale: write a single-channel image.
        icc_profile, exif: metadata to embed (from the source image).
        overwrite: allow replacing an existing file.
        protect: paths that must never be written (the inputs).
        quality: JPEG/WebP quality, 1..100.
        background: RGB in [0, 1] that JPEG output is composited over when
            ``alpha`` is given (default white).

    Returns:
        The written path.

    Warns:
        UserWarning: alpha dropped for JPEG (the message says "white" whatever
            ``background`` is).

    Raises:
        ImageError: unsupported extension, target is a protected input, target
            exists without ``overwrite``, its folder does not exist, or the
            write failed (no partial file is left behind); one line naming the file.
    """
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
    if fmt == "JPEG" and alpha is not None:
        warnings.warn(f"{path.name}: JPEG has no alpha; compositing over the background colour {background}",
                      stacklevel=2)
        bg = torch.tensor(background, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
        rgb = rgb.clamp(0, 1) * alpha + bg * (1 - alpha)
        alpha = None
    if fmt not in ("PNG", "TIFF"):
        bits = 8
    fd, tmp = tempfile.mkstemp(prefix=".restorer-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            im = to_pil(rgb, alpha, bits=bits, grayscale=grayscale)
            kwargs: dict = {}
            if icc_profile:
                kwargs["icc_profile"] = icc_profile
            if exif:
                kwargs["exif"] = exif
            if fmt in ("JPEG", "WEBP"):
                kwargs["quality"] = quality
            im.save(fh, format=fmt, **kwargs)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - report any encoder failure as one line
        raise ImageError(f"{path}: cannot write ({exc})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
