"""Running a generator on an image: tiling with padding, device and precision, progress, cancel.

Tiling (as in Real-ESRGAN's ``tile``/``tile_pad`` options): the LR image is cut
into ``tile`` x ``tile`` pieces; each is run with ``tile_pad`` extra LR pixels of
context on every side (the image reflected beyond its edges, :func:`padded_piece`,
so the network's own zero padding never reaches the output), and only the tile's
own part of the output is kept. When ``tile_pad`` is at least the generator's receptive-field
radius, the tiled output equals the whole-image output up to float rounding.

Two entry points: :func:`restore`/:func:`upscale` return float tensors (the desktop
app), :func:`restore_into` streams tiles into a sink such as
:class:`restorer.io.ImageWriter` (an 8/16-bit buffer the size of the output), so a
large output never exists as float32 (the CLI). Both retry with half the tile side
on out of memory, and stop on NaN/inf. Tile size: :func:`auto_tile` from
:func:`available_memory` and :func:`tile_bytes`.
"""
from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["Cancelled", "pick_device", "pick_dtype", "upscale", "restore", "resize", "default_tile_pad", "padded_piece",
           "RestoreResult", "restore_into", "auto_tile", "tile_bytes", "available_memory", "is_out_of_memory",
           "InsufficientMemoryError", "aa_weights"]

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


def padded_piece(x: torch.Tensor, box: tuple[int, int, int, int], pad: int) -> torch.Tensor:
    """The tile ``box`` = (x0, y0, x1, y1) of ``x`` (N, C, H, W) with ``pad`` pixels of context on
    every side, (N, C, y1 - y0 + 2 pad, x1 - x0 + 2 pad); beyond the image's edges the context is
    the image reflected (replicated when the image is too small to reflect).

    The generator then never sees its own zero padding in the kept centre, so flat areas stay flat
    up to every edge. Real-ESRGAN's ``RealESRGANer`` reflect-pads (``pre_pad``) the bottom and right
    only; we pad all four sides.
    """
    h, w = x.shape[-2:]
    x0, y0, x1, y1 = box
    px0, py0, px1, py1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
    piece = x[:, :, py0:py1, px0:px1]
    ext = (px0 - (x0 - pad), x1 + pad - px1, py0 - (y0 - pad), y1 + pad - py1)  # left, right, top, bottom
    if any(ext):
        fits = max(ext[:2]) < piece.shape[-1] and max(ext[2:]) < piece.shape[-2]
        piece = F.pad(piece, ext, mode="reflect" if fits else "replicate")
    return piece


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
        For output that does not fit in memory as float32, see :func:`restore_into`.

    Raises:
        Cancelled: ``cancel`` was set. On any exit the model is left in fp32.
        ValueError: ``lr`` is not (1, C, H, W), ``tile`` < 0, or a bad or
            unavailable device or precision (see :func:`pick_device`,
            :func:`pick_dtype`), or ``tile_pad`` < 0.
        InsufficientMemoryError: out of memory even with tiles of
            ``MIN_TILE // 2`` pixels. On out of memory (:func:`is_out_of_memory`)
            the whole run restarts with half the tile side, with a warning, and
            ``progress`` counts from 0 again.
        RuntimeError: the model produced NaN/inf in fp32, or other errors from
            the model itself.

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
    out_ch = int(getattr(model, "output_channels", lr.shape[1]))
    out = torch.empty((1, out_ch, h * scale, w * scale), dtype=torch.float32)

    model.to(dtype=dtype)

    def run(piece: torch.Tensor, dt: torch.dtype) -> torch.Tensor:
        with torch.inference_mode():
            return model(piece.to(dev, dt)).float()

    try:  # whatever happens, the model is left in fp32
        while True:
            ny, nx = math.ceil(h / t), math.ceil(w / t)
            total, done = ny * nx, 0
            try:
                for iy in range(ny):
                    for ix in range(nx):
                        if _is_cancelled(cancel):
                            raise Cancelled("cancelled")
                        y0, x0 = iy * t, ix * t
                        y1, x1 = min(y0 + t, h), min(x0 + t, w)
                        piece = padded_piece(lr, (x0, y0, x1, y1), pad)
                        res = run(piece, dtype)
                        if dtype != torch.float32 and not torch.isfinite(res).all():
                            warnings.warn("non-finite output in half precision: rerunning in fp32", stacklevel=2)
                            dtype = torch.float32
                            model.to(dtype=dtype)
                            res = run(piece, dtype)
                        if not torch.isfinite(res).all():
                            raise RuntimeError("the model produced NaN/inf values in fp32")
                        o = pad * scale
                        crop = res[:, :, o : o + (y1 - y0) * scale, o : o + (x1 - x0) * scale].clamp(0, 1).cpu()
                        out[:, :, y0 * scale : y1 * scale, x0 * scale : x1 * scale] = crop
                        done += 1
                        if on_tile is not None:
                            on_tile((x0 * scale, y0 * scale, x1 * scale, y1 * scale), crop)
                        if progress is not None:
                            progress(done, total)
                return out
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
                _release_cache(dev)
                if t // 2 < MIN_TILE // 2:
                    raise InsufficientMemoryError(f"out of memory even with {t}-pixel tiles on {dev.type}") from None
                warnings.warn(f"out of memory with {t}-pixel tiles: retrying with {t // 2}", stacklevel=2)
                t //= 2
    finally:
        model.to(dtype=torch.float32)


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
    alpha_mode: str = "filter",
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
        alpha_mode: ``"filter"`` (bicubic, as above) or ``"model"``: alpha runs
            through the generator as a gray image (repeated on its RGB input
            channels, output averaged; progress then counts the alpha tiles
            too), then is resampled to ``scale`` like the RGB.
        **kwargs: passed to :func:`upscale` (tile, tile_pad, device, precision,
            progress, cancel, on_tile). ``on_tile`` boxes are in the model's
            native output pixels, before any resampling to ``scale``.

    Returns:
        :class:`RestoreResult` (CPU, float32, in [0, 1]).

    Raises:
        ValueError: scale <= 0, unknown ``alpha_mode``. Also what :func:`upscale`
            raises (including :class:`Cancelled`).
    """
    if alpha_mode not in ("filter", "model"):
        raise ValueError(f"unknown alpha_mode {alpha_mode!r}; use filter or model")
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
    out_alpha = None
    if alpha is not None and alpha_mode == "model":
        grey = alpha.expand(-1, 3, -1, -1) if in_ch != 1 else alpha
        if in_ch == 4:
            grey = torch.cat([grey, torch.ones_like(alpha)], 1)
        kw = {k: v for k, v in kwargs.items() if k != "on_tile"}
        a_out = upscale(model, grey, **kw)
        out_alpha = resize(a_out[:, : (1 if in_ch == 1 else 3)].mean(1, keepdim=True), size)
    elif alpha is not None:
        out_alpha = resize(alpha, size)
    return RestoreResult(out, out_alpha, scale)


# ---------------------------------------------------------------------------------------------
# Memory: free memory, tile size from a budget, out-of-memory detection


class InsufficientMemoryError(MemoryError):
    """The job cannot fit in memory; raised before the memory runs out (one-line message)."""


def available_memory(device: torch.device | str = "cpu") -> int:
    """Free memory in bytes where tiles run.

    CUDA: the free bytes of ``torch.cuda.mem_get_info`` plus what PyTorch's caching
    allocator holds but does not use. CPU and MPS (unified memory): the system's
    available RAM (``psutil.virtual_memory().available``; ``MemAvailable`` of
    ``/proc/meminfo`` when psutil is missing; 4 GiB when neither answers), lowered
    to what this process may still take under a cgroup v2 limit
    (``/sys/fs/cgroup/memory.max`` minus ``memory.current``, as in containers) and
    under ``ulimit -v`` (``RLIMIT_AS`` minus the current virtual size).
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        free, _total = torch.cuda.mem_get_info(dev)
        return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
    avail = None
    try:
        import psutil

        avail = int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil is a dependency
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        avail = int(line.split()[1]) * 1024
        except OSError:
            pass
    avail = 4 << 30 if avail is None else avail
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            used = int((cgroup / "memory.current").read_text().strip())
            avail = min(avail, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            with open("/proc/self/statm") as fh:
                vms = int(fh.read().split()[0]) * resource.getpagesize()
            avail = min(avail, max(soft - vms, 0))
    except (ImportError, OSError, ValueError):
        pass
    return avail


def _feature_width(model) -> int:
    """Widest convolution/linear output of a model (its feature width), 64 if none."""
    inner = getattr(model, "model", model)
    widths = [m.out_channels for m in inner.modules() if isinstance(m, torch.nn.Conv2d)]
    widths += [m.out_features for m in inner.modules() if isinstance(m, torch.nn.Linear)]
    return max(widths, default=64)


def tile_bytes(model, tile_h: int, tile_w: int, pad: int, dtype: torch.dtype = torch.float32) -> int:
    """Estimated peak working memory, in bytes, of the model on one tile.

    A heuristic, not a measurement: ``(tile_h + 2 pad) x (tile_w + 2 pad)`` LR
    pixels times, per pixel, 4 live feature maps of the model's feature width
    (:func:`_feature_width`) in ``dtype`` plus 4 float32 copies of the
    ``scale**2 * out_channels`` output samples (model output, crop, clamp,
    quantisation); x8 for models with attention (SwinIR, HAT...), whose
    attention matrices grow faster. Under-estimates are caught by the
    out-of-memory retry of :func:`restore_into`.
    """
    px = (tile_h + 2 * pad) * (tile_w + 2 * pad)
    elem = torch.tensor([], dtype=dtype).element_size()
    scale = int(getattr(model, "scale", 4))
    out_ch = int(getattr(model, "output_channels", 3))
    per_px = 4 * _feature_width(model) * elem + 4 * 4 * scale * scale * out_ch
    inner = getattr(model, "model", model)
    if any("attn" in name.lower() or "attention" in type(m).__name__.lower() for name, m in inner.named_modules()):
        per_px *= 8
    return int(px * per_px)


#: Working-memory cap for one tile on the CPU (bytes): bigger tiles are no faster there
#: (about 250-pixel tiles for the bundled model: 13% padding overhead), and the cap keeps
#: x4 of a 12-megapixel photo under 1.5 GiB plus the output (bench/results/memory.md).
CPU_TILE_BUDGET = 128 << 20
#: Tile sides chosen by :func:`auto_tile` stay in this range (LR pixels).
MIN_TILE, MAX_TILE = 32, 1024


def auto_tile(model, h: int, w: int, *, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
              tile_pad: int | None = None, budget: int | None = None) -> int:
    """Tile side (LR pixels) that fits the memory budget; 0 when the whole image fits.

    Args:
        model: spandrel descriptor or module (see :func:`tile_bytes`).
        h, w: LR image size in pixels.
        device: where it will run; sets the default budget.
        dtype: the model's dtype.
        tile_pad: padding in LR pixels (default :func:`default_tile_pad`).
        budget: bytes one tile may use; default half the free memory of a GPU
            (:func:`available_memory`), on the CPU a quarter of the available RAM
            capped at ``CPU_TILE_BUDGET``.

    Returns:
        0 (whole image in one piece) or the largest multiple of 8 in
        [``MIN_TILE``, ``MAX_TILE``] whose :func:`tile_bytes` fits the budget
        (``MIN_TILE`` when none does; the out-of-memory retry takes over).
    """
    dev = torch.device(device)
    pad = default_tile_pad(model) if tile_pad is None else int(tile_pad)
    if budget is None:
        free = available_memory(dev)
        budget = free // 2 if dev.type == "cuda" else min(free // 4, CPU_TILE_BUDGET)
    if max(h, w) <= MAX_TILE and tile_bytes(model, h, w, 0, dtype) <= budget:
        return 0
    t = MAX_TILE
    while t > MIN_TILE and tile_bytes(model, t, t, pad, dtype) > budget:
        t -= 8
    return t


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the errors an allocation failure raises: ``torch.OutOfMemoryError``
    (CUDA/MPS), ``MemoryError``, and ``RuntimeError`` whose message says "out of
    memory" or that the CPU allocator could not allocate."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and not isinstance(exc, InsufficientMemoryError):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg
                                              or "not enough memory" in msg)


def _trim_heap() -> None:
    """Give freed heap memory back to the OS with glibc's ``malloc_trim(0)`` (no-op
    where it is missing). Freed tile tensors otherwise stay in glibc's arenas and
    raise the peak RSS of a long tiled run by hundreds of MiB."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def _release_cache(dev: torch.device) -> None:
    import gc

    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------------------------
# Streaming restore: tiles straight into a sink (an uint8/uint16 image buffer)


def aa_weights(in_size: int, out_size: int, rows: range) -> tuple[torch.Tensor, int]:
    """Weights of PyTorch's antialiased bicubic resampling (``F.interpolate(...,
    mode="bicubic", antialias=True, align_corners=False)``) along one axis, for
    a range of output positions.

    Follows ATen's ``_compute_indices_weights_aa`` (``UpSampleKernel.cpp``):
    ``scale = in/out``, ``support = 2 * max(scale, 1)``, centre ``scale * (i +
    0.5)``, Keys' cubic with a = -0.5 stretched by ``max(scale, 1)``, the window
    clipped to the image and renormalised.

    Args:
        in_size, out_size: axis length before and after, in pixels.
        rows: output positions (a contiguous range).

    Returns:
        ``(W, first)``: float64 tensor (len(rows), n) such that output row ``i`` is
        ``W[i - rows.start] @ input[first : first + n]``.
    """
    scale = in_size / out_size
    support = 2.0 * scale if scale >= 1.0 else 2.0
    inv = 1.0 / scale if scale >= 1.0 else 1.0

    def cubic(x: float) -> float:
        a, x = -0.5, abs(x)
        if x < 1:
            return ((a + 2) * x - (a + 3)) * x * x + 1
        if x < 2:
            return (((x - 5) * x + 8) * x - 4) * a
        return 0.0

    spans = []
    for i in rows:
        center = scale * (i + 0.5)
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size)
        ws = [cubic((j + xmin - center + 0.5) * inv) for j in range(xmax - xmin)]
        total = sum(ws)
        spans.append((xmin, [v / total if total != 0 else 0.0 for v in ws]))
    first = min(s[0] for s in spans)
    last = max(s[0] + len(s[1]) for s in spans)
    W = torch.zeros(len(spans), last - first, dtype=torch.float64)
    for k, (xmin, ws) in enumerate(spans):
        W[k, xmin - first : xmin - first + len(ws)] = torch.tensor(ws, dtype=torch.float64)
    return W, first


def _aa_first_row(in_size: int, out_size: int, i: int) -> tuple[int, int]:
    """Input window [start, stop) that output position ``i`` reads (see :func:`aa_weights`)."""
    scale = in_size / out_size
    support = 2.0 * scale if scale >= 1.0 else 2.0
    center = scale * (i + 0.5)
    return max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)


def restore_into(
    model,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None,
    sink,
    *,
    scale: float | None = None,
    alpha_mode: str = "filter",
    tile: int | None = None,
    tile_pad: int | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    memory_budget: int | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
) -> tuple[int, int]:
    """Restore an image tile by tile straight into ``sink`` (no full-size float output).

    The generator runs at its native scale on tiles with ``tile_pad`` context
    (seam-free as :func:`upscale`). At the native scale each tile goes to the sink
    as soon as it is done; at another ``scale`` the tiles are gathered into bands
    of LR rows, each band is resampled horizontally (``F.interpolate``,
    antialiased bicubic) and the rows are resampled vertically with the same
    kernel (:func:`aa_weights`), keeping only the few native rows the next output
    rows need; the result equals :func:`resize` of the whole native output up to
    float rounding.

    Alpha: ``alpha_mode="filter"`` upscales it with antialiased bicubic (Keys,
    a = -0.5; clamped to [0, 1], so no ringing past 0 or 1); ``"model"`` runs
    the generator on it as a gray image (alpha repeated on the model's input
    channels, output averaged), for crisper edges of line art and text.

    Out of memory (:func:`is_out_of_memory`) during a tile: the run restarts
    with half the tile side (warning), down to ``MIN_TILE // 2``; then
    :class:`InsufficientMemoryError`. Everything already written is written
    again, so the sink never keeps a partial image from a failed attempt; a
    sink must not be committed when this function raises.

    Args:
        model: spandrel ``ImageModelDescriptor`` (scale, channels, fp16 support).
        rgb: float32 (1, 3, H, W) sRGB in [0, 1].
        alpha: float32 (1, 1, H, W) in [0, 1] or None.
        sink: object with ``write(x0, y0, rgb_tile, alpha_tile)`` taking output
            pixel coordinates and float32 CPU tensors (1, 3, h, w) and
            (1, 1, h, w) (or None) in [0, 1]; e.g. :class:`restorer.io.ImageWriter`.
        scale: output scale (float > 0); None = the model's native scale. The
            output is ``max(1, round(W * scale)) x max(1, round(H * scale))``.
        alpha_mode: ``"filter"`` or ``"model"``.
        tile: tile side in LR pixels; 0 = the whole image; None = automatic
            (:func:`auto_tile`). A forced tile whose :func:`tile_bytes` exceeds
            ``memory_budget`` (default: half of :func:`available_memory`) is
            replaced by the automatic one, with a warning.
        tile_pad: context around each tile in LR pixels (default
            :func:`default_tile_pad`; at least 2 for the alpha filter).
        device, precision: as :func:`upscale`.
        memory_budget: bytes one tile may use (default: see :func:`auto_tile`).
        progress: ``progress(done_tiles, total_tiles)`` after each tile (restarts
            from 0 after an out-of-memory retry).
        cancel: ``threading.Event`` or callable, checked before each tile.

    Returns:
        (width, height) of the output in pixels.

    Raises:
        ValueError: bad shapes, ``scale`` <= 0, unknown ``alpha_mode``, negative
            ``tile``/``tile_pad``, bad device or precision.
        Cancelled: ``cancel`` was set.
        InsufficientMemoryError: still out of memory with the smallest tile.
        RuntimeError: the model produced NaN/inf in fp32 (nothing is saved), or
            other model errors.

    Warns:
        UserWarning: precision fallback, forced tile shrunk to the budget,
            out-of-memory retry.
    """
    if rgb.ndim != 4 or rgb.shape[:2] != (1, 3):
        raise ValueError(f"expected rgb of shape (1, 3, H, W), got {tuple(rgb.shape)}")
    if alpha is not None and tuple(alpha.shape) != (1, 1, *rgb.shape[-2:]):
        raise ValueError(f"alpha shape {tuple(alpha.shape)} does not match rgb {tuple(rgb.shape)}")
    if alpha_mode not in ("filter", "model"):
        raise ValueError(f"unknown alpha_mode {alpha_mode!r}; use filter or model")
    if tile is not None and tile < 0:
        raise ValueError("tile must be >= 0")
    if tile_pad is not None and tile_pad < 0:
        raise ValueError("tile_pad must be >= 0")
    native = int(model.scale)
    scale = float(native if scale is None else scale)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    dev = device if isinstance(device, torch.device) else pick_device(device)
    dtype = pick_dtype(precision, dev, getattr(model, "supports_half", False), getattr(model, "supports_bfloat16", False))
    pad = default_tile_pad(model) if tile_pad is None else int(tile_pad)
    _, _, h, w = rgb.shape
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    if tile is None:
        t = auto_tile(model, h, w, device=dev, dtype=dtype, tile_pad=pad, budget=memory_budget)
    else:
        # A forced tile is kept unless it exceeds the budget (given, or else half of what is
        # free: on Linux an allocation past the RAM may end in the OOM killer, not an error).
        t = tile
        budget = memory_budget if memory_budget is not None else available_memory(dev) // 2
        th, tw = (h, w) if t == 0 else (min(t, h), min(t, w))
        if tile_bytes(model, th, tw, 0 if t == 0 else pad, dtype) > budget:
            t = auto_tile(model, h, w, device=dev, dtype=dtype, tile_pad=pad, budget=budget)
            t = t or max(h, w)
            warnings.warn(f"tile {tile or 'whole image'} needs about "
                          f"{tile_bytes(model, th, tw, pad, dtype) / 2**20:.0f} MiB, over the memory budget of "
                          f"{budget / 2**20:.0f} MiB: using {t}-pixel tiles", stacklevel=2)
    model.to(dev).eval()
    try:
        while True:
            try:
                _stream(model, rgb, alpha, sink, t or max(h, w), pad, native, (out_h, out_w), alpha_mode, dev,
                        dtype, progress, cancel)
                return out_w, out_h
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
                side = t or max(h, w)
                _release_cache(dev)
                if side // 2 < MIN_TILE // 2:
                    raise InsufficientMemoryError(
                        f"out of memory even with {side}-pixel tiles on {dev.type}; free memory or use a smaller "
                        "--scale") from None
                t = side // 2
                warnings.warn(f"out of memory with {side}-pixel tiles: retrying with {t}", stacklevel=2)
    finally:
        model.to(dtype=torch.float32)


def _stream(model, rgb, alpha, sink, t, pad, native, out_size, alpha_mode, dev, dtype, progress, cancel) -> None:
    """One attempt of :func:`restore_into` with tile side ``t`` (see there)."""
    _, _, h, w = rgb.shape
    out_h, out_w = out_size
    in_ch = int(getattr(model, "input_channels", 3))
    state = {"dtype": dtype}
    model.to(dtype=dtype)

    def run_model(piece: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            res = model(piece.to(dev, state["dtype"])).float()
            if state["dtype"] != torch.float32 and not torch.isfinite(res).all():
                warnings.warn("non-finite output in half precision: rerunning in fp32", stacklevel=3)
                state["dtype"] = torch.float32
                model.to(dtype=torch.float32)
                res = model(piece.to(dev, torch.float32)).float()
            if not torch.isfinite(res).all():
                raise RuntimeError("the model produced NaN/inf values in fp32; nothing was saved")
        return res.cpu()

    def model_rgb(piece_rgb: torch.Tensor, piece_a: torch.Tensor | None,
                  box: tuple[int, int, int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        inp = piece_rgb
        if in_ch == 1:
            inp = piece_rgb.mean(1, keepdim=True)
        elif in_ch == 4:
            inp = torch.cat([piece_rgb, piece_a if piece_a is not None else torch.ones_like(piece_rgb[:, :1])], 1)
        out = run_model(inp)
        out_a = None
        if out.shape[1] == 4 and piece_a is not None and alpha_mode == "model":
            out_a = out[:, 3:4]
        if out.shape[1] == 1:
            out = out.expand(-1, 3, -1, -1)
        elif out.shape[1] == 4:
            out = out[:, :3]
        if piece_a is not None and out_a is None:
            if alpha_mode == "model":
                grey = piece_a.expand(-1, 3 if in_ch != 1 else 1, -1, -1)
                if in_ch == 4:
                    grey = torch.cat([piece_a.expand(-1, 3, -1, -1), torch.ones_like(piece_a)], 1)
                out_a = run_model(grey)[:, : (1 if in_ch == 1 else 3)].mean(1, keepdim=True)
            else:
                # no context beyond the image's edges, so the tile equals resize() of the whole alpha
                # (whose antialiased kernel is renormalised at the edges); placed in padded coordinates
                x0, y0, x1, y1 = box
                px0, py0 = max(x0 - pad, 0), max(y0 - pad, 0)
                px1, py1 = min(x1 + pad, w), min(y1 + pad, h)
                up = F.interpolate(alpha[:, :, py0:py1, px0:px1], scale_factor=native, mode="bicubic",
                                   antialias=True, align_corners=False)
                ext = (px0 - x0 + pad, x1 + pad - px1, py0 - y0 + pad, y1 + pad - py1)
                out_a = F.pad(up, tuple(e * native for e in ext))
        return out, out_a

    if alpha is not None and alpha_mode == "filter":
        pad = max(pad, 2)  # bicubic support
    native_h, native_w = h * native, w * native
    resample = (out_h, out_w) != (native_h, native_w)
    # Band height in LR rows: at most t, and at most ~64 MiB of native float rows when resampling.
    band = t
    if resample:
        per_row = native * native_w * (4 if alpha is not None else 3) * 4
        band = max(1, min(t, (64 << 20) // max(per_row, 1)))
    ny, nx = math.ceil(h / band), math.ceil(w / t)
    total, done = ny * nx, 0
    # Rolling buffer of horizontally resampled native rows [buf_start, buf_start + buf.shape[-2]).
    buf: torch.Tensor | None = None
    buf_start, next_out = 0, 0
    for iy in range(ny):
        y0, y1 = iy * band, min((iy + 1) * band, h)
        row_tiles = []
        for ix in range(nx):
            if _is_cancelled(cancel):
                raise Cancelled("cancelled")
            x0, x1 = ix * t, min((ix + 1) * t, w)
            box = (x0, y0, x1, y1)
            piece_a = padded_piece(alpha, box, pad) if alpha is not None else None
            out, out_a = model_rgb(padded_piece(rgb, box, pad), piece_a, box)
            o = pad * native
            sl = (slice(None), slice(None), slice(o, o + (y1 - y0) * native), slice(o, o + (x1 - x0) * native))
            out = out[sl].clamp(0, 1)
            out_a = out_a[sl].clamp(0, 1) if out_a is not None else None
            if not resample:
                sink.write(x0 * native, y0 * native, out, out_a)
            else:
                row_tiles.append(torch.cat([out, out_a], 1) if out_a is not None else out)
            done += 1
            if progress is not None:
                progress(done, total)
        _trim_heap()
        if not resample:
            continue
        native_band = torch.cat(row_tiles, 3)
        del row_tiles
        if native_w != out_w:
            native_band = F.interpolate(native_band, size=(native_band.shape[-2], out_w), mode="bicubic",
                                        antialias=True, align_corners=False)
        buf = native_band if buf is None else torch.cat([buf, native_band], 2)
        del native_band
        have = buf_start + buf.shape[-2]
        # Emit every output row whose input window is complete.
        stop = next_out
        while stop < out_h and _aa_first_row(native_h, out_h, stop)[1] <= have:
            stop += 1
        if stop > next_out:
            if native_h == out_h:
                block = buf[:, :, next_out - buf_start : stop - buf_start]
            else:
                wts, first = aa_weights(native_h, out_h, range(next_out, stop))
                rows = buf[:, :, first - buf_start : first - buf_start + wts.shape[1]].double()
                block = torch.einsum("ok,bckw->bcow", wts, rows).float().clamp(0, 1)
            sink.write(0, next_out, block[:, :3], block[:, 3:4] if block.shape[1] == 4 else None)
            next_out = stop
            if next_out < out_h:
                keep_from = _aa_first_row(native_h, out_h, next_out)[0] if native_h != out_h else next_out
                drop = max(0, keep_from - buf_start)
                buf, buf_start = buf[:, :, drop:], buf_start + drop
    if resample and next_out != out_h:  # pragma: no cover - every row is emitted by the last band
        raise RuntimeError(f"internal error: {out_h - next_out} output rows not produced")
