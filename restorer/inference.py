"""Running a generator on an image: tiling with padding, device and precision, progress, cancel.

Tiling (as in Real-ESRGAN's ``tile``/``tile_pad`` options): the LR image is cut
into ``tile`` x ``tile`` pieces; each is run with ``tile_pad`` extra LR pixels of
real context on every side (clipped at the image border, where the model sees
the same border as on the whole image), and only the tile's own part of the
output is kept. When ``tile_pad`` is at least the generator's receptive-field
radius, the tiled output equals the whole-image output up to float rounding.
"""
from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Cancelled", "pick_device", "pick_dtype", "upscale", "restore", "resize", "default_tile_pad",
           "RestoreResult"]

#: ``progress(done_tiles, total_tiles)`` callback type.
ProgressFn = Callable[[int, int], None]


class Cancelled(Exception):
    """Raised by :func:`upscale` when the cancel flag is set between tiles."""


def pick_device(name: str = "auto") -> torch.device:
    """Return a torch device for ``"auto"`` (CUDA, then MPS, then CPU, as
    DESIGN.md section 1), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Args:
        name: device name; anything ``torch.device`` parses is accepted.

    Returns:
        The ``torch.device`` (``"auto"`` gives an index-less ``cuda``/``mps``/``cpu``).

    Raises:
        ValueError: CUDA or MPS requested but not available here, a torch
            device type other than cpu/cuda/mps (e.g. ``"meta"``), or a name
            torch cannot parse (e.g. ``"gpu"``).
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested but MPS is not available")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda or mps")
    return dev


def pick_dtype(precision: str, device: torch.device, supports_half: bool = True, supports_bf16: bool = True) -> torch.dtype:
    """Choose the generator's dtype.

    ``auto``: fp16 on CUDA when the model supports it, else fp32 (also on MPS).
    ``fp16``/``bf16`` on a CPU fall back to fp32 with a warning (CPU
    half-precision convolutions are slow or unsupported); unsupported by the
    model also falls back to fp32 with a warning (DESIGN.md section 1).

    Args:
        precision: ``"auto"``, ``"fp32"``, ``"fp16"`` or ``"bf16"``.
        device: where the model will run.
        supports_half, supports_bf16: the model's capabilities (spandrel's
            ``supports_half`` / ``supports_bfloat16``).

    Returns:
        ``torch.float32``, ``torch.float16`` or ``torch.bfloat16``.

    Raises:
        ValueError: unknown precision name.

    Warns:
        UserWarning: a requested half precision falls back to fp32.
    """
    if precision not in ("auto", "fp32", "fp16", "bf16"):
        raise ValueError(f"unknown precision {precision!r}; use auto, fp32, fp16 or bf16")
    if precision == "fp32":
        return torch.float32
    if precision == "auto":
        return torch.float16 if device.type == "cuda" and supports_half else torch.float32
    if device.type == "cpu":
        warnings.warn(f"{precision} requested on the CPU: running in fp32", stacklevel=2)
        return torch.float32
    if precision == "fp16":
        if supports_half:
            return torch.float16
    elif supports_bf16:
        return torch.bfloat16
    warnings.warn(f"model does not support {precision}: running in fp32", stacklevel=2)
    return torch.float32


def default_tile_pad(model) -> int:
    """Tile padding in LR pixels: the generator's receptive-field radius when it
    declares one (``receptive_radius()``), else 16 (a little above Real-ESRGAN's
    default ``tile_pad=10``).

    Args:
        model: a spandrel ``ImageModelDescriptor`` (its ``.model`` is inspected)
            or a bare module.

    Returns:
        The padding, an int >= 0, in LR pixels.
    """
    inner = getattr(model, "model", model)
    radius = getattr(inner, "receptive_radius", None)
    return int(radius()) if callable(radius) else 16


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def upscale(
    model,
    lr: torch.Tensor,
    *,
    tile: int = 0,
    tile_pad: int | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    progress: ProgressFn | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    on_tile: Callable[[tuple[int, int, int, int], torch.Tensor], None] | None = None,
) -> torch.Tensor:
    """Run a generator over an image, tile by tile.

    Args:
        model: a spandrel ``ImageModelDescriptor`` (or any module with ``.scale``).
        lr: float32 tensor (1, C, H, W) in [0, 1], C = the model's input channels.
        tile: tile side in LR pixels; 0 = the whole image in one piece.
        tile_pad: context around each tile in LR pixels; default from
            :func:`default_tile_pad`.
        device: ``auto``/``cpu``/``cuda``/``mps`` or a ``torch.device``.
        precision: ``auto``/``fp32``/``fp16``/``bf16`` (see :func:`pick_dtype`).
            A tile whose half-precision output holds NaN/inf is rerun in fp32.
        progress: called as ``progress(done_tiles, total_tiles)`` after each tile.
        cancel: ``threading.Event`` or callable; checked before each tile.
        on_tile: called with ``(x0, y0, x1, y1)`` in output pixels and the tile's
            output (1, C, h, w) on the CPU, for live previews.

    Returns:
        float32 tensor (1, C_out, H*scale, W*scale) on the CPU, clamped to [0, 1].

    Raises:
        Cancelled: ``cancel`` was set. On any exit the model is left in fp32.
        ValueError: ``lr`` is not (1, C, H, W), ``tile`` < 0, or a bad or
            unavailable device or precision (see :func:`pick_device`,
            :func:`pick_dtype`), or ``tile_pad`` < 0.
        RuntimeError: errors from the model itself (e.g. out of memory).

    Warns:
        UserWarning: precision fallback (:func:`pick_dtype`), or a
            half-precision tile rerun in fp32.

    Side effects: the model is moved to ``device`` and left there; it is cast
    back to fp32 on return or cancel (not on other errors).
    Source: tiling as Real-ESRGAN's ``RealESRGANer.tile_process``
    (``realesrgan/utils.py``).
    """
    if lr.ndim != 4 or lr.shape[0] != 1:
        raise ValueError(f"expected a (1, C, H, W) tensor, got shape {tuple(lr.shape)}")
    if tile < 0:
        raise ValueError("tile must be >= 0")
    if tile_pad is not None and tile_pad < 0:
        raise ValueError("tile_pad must be >= 0")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    scale = int(model.scale)
    dtype = pick_dtype(precision, dev, getattr(model, "supports_half", False), getattr(model, "supports_bfloat16", False))
    pad = default_tile_pad(model) if tile_pad is None else int(tile_pad)
    model.to(dev).eval()
    _, _, h, w = lr.shape
    t = tile if tile > 0 else max(h, w)
    ny, nx = math.ceil(h / t), math.ceil(w / t)
    total = ny * nx
    out_ch = int(getattr(model, "output_channels", lr.shape[1]))
    out = torch.empty((1, out_ch, h * scale, w * scale), dtype=torch.float32)

    model.to(dtype=dtype)

    def run(piece: torch.Tensor, dt: torch.dtype) -> torch.Tensor:
        with torch.inference_mode():
            return model(piece.to(dev, dt)).float()

    done = 0
    try:  # whatever happens, the model is left in fp32
        for iy in range(ny):
            for ix in range(nx):
                if _is_cancelled(cancel):
                    raise Cancelled("cancelled")
                y0, x0 = iy * t, ix * t
                y1, x1 = min(y0 + t, h), min(x0 + t, w)
                py0, px0 = max(y0 - pad, 0), max(x0 - pad, 0)
                py1, px1 = min(y1 + pad, h), min(x1 + pad, w)
                piece = lr[:, :, py0:py1, px0:px1]
                res = run(piece, dtype)
                if dtype != torch.float32 and not torch.isfinite(res).all():
                    warnings.warn("non-finite output in half precision: rerunning in fp32", stacklevel=2)
                    dtype = torch.float32
                    model.to(dtype=dtype)
                    res = run(piece, dtype)
                oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
                crop = res[:, :, oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale].clamp(0, 1).cpu()
                out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = crop
                done += 1
                if on_tile is not None:
                    on_tile((x0 * scale, y0 * scale, x1 * scale, y1 * scale), crop)
                if progress is not None:
                    progress(done, total)
    finally:
        model.to(dtype=torch.float32)
    return out


@dataclass
class RestoreResult:
    """Output of :func:`restore`: ``rgb`` (1, 3, H', W') and ``alpha`` (1, 1, H', W')
    or None, float32 in [0, 1] on the CPU, plus the ``scale`` actually applied
    (a float; H' = max(1, round(H * scale)), likewise W')."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    scale: float


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize an image tensor with ``torch.nn.functional.interpolate``.

    Args:
        x: float tensor (N, C, H, W) in [0, 1].
        size: target (H', W') in pixels.
        mode: ``interpolate`` mode. ``"bilinear"``/``"bicubic"`` run with
            ``antialias=True`` in both directions; PyTorch's antialiased bicubic
            is Keys' kernel with a = -0.5, the same as Pillow's ``BICUBIC``
            (not the a = -0.75 of its plain bicubic).

    Returns:
        Tensor (N, C, H', W'), same dtype and device, clamped to [0, 1]; ``x``
        itself (unclamped) when it already has that size.

    Raises:
        ValueError: unknown ``mode``.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    kw = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(x, size=size, mode=mode, antialias=mode in ("bilinear", "bicubic"), **kw).clamp(0, 1)


def restore(
    model,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None = None,
    *,
    scale: float | None = None,
    **kwargs,
) -> RestoreResult:
    """Restore/upscale an RGB image (and carry its alpha).

    The generator runs at its native scale; when ``scale`` differs, the result is
    resampled (antialiased bicubic, :func:`resize`) to
    ``round(W * scale) x round(H * scale)``. Alpha is resized with the same
    bicubic (:func:`resize`). It enters the model only when the model takes 4
    channels (RGBA; opaque alpha is supplied when there is none), and even then
    the model's alpha output is discarded. A 1-channel model gets the channel
    mean of ``rgb`` and its output is repeated to 3 channels.

    Args:
        model: spandrel ``ImageModelDescriptor``.
        rgb: float32 (1, 3, H, W) in [0, 1].
        alpha: optional float32 (1, 1, H, W) in [0, 1].
        scale: output scale; None = the model's native scale.
        **kwargs: passed to :func:`upscale` (tile, tile_pad, device, precision,
            progress, cancel, on_tile). ``on_tile`` boxes are in the model's
            native output pixels, before any resampling to ``scale``.

    Returns:
        :class:`RestoreResult` (CPU, float32, in [0, 1]).

    Raises:
        ValueError: scale <= 0. Also what :func:`upscale` raises (including
            :class:`Cancelled`).
    """
    native = int(model.scale)
    scale = float(native if scale is None else scale)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    inp = rgb
    in_ch = int(getattr(model, "input_channels", 3))
    if in_ch == 1:
        inp = rgb.mean(1, keepdim=True)
    elif in_ch == 4:
        inp = torch.cat([rgb, alpha if alpha is not None else torch.ones_like(rgb[:, :1])], 1)
    out = upscale(model, inp, **kwargs)
    if out.shape[1] == 1:
        out = out.expand(-1, 3, -1, -1)
    elif out.shape[1] == 4:
        out = out[:, :3]
    h, w = rgb.shape[-2:]
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    out = resize(out, size)
    out_alpha = resize(alpha, size) if alpha is not None else None
    return RestoreResult(out, out_alpha, scale)
