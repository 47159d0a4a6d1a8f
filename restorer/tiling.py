"""Cutting an image into padded tiles, and sizing the tiles to the memory there is.

Tiling (as Real-ESRGAN's ``tile``/``tile_pad`` options): the LR image is cut into
``tile`` x ``tile`` pieces; each is run with ``tile_pad`` extra LR pixels of context on
every side (the image reflected beyond its edges, :func:`padded_piece`, so the network's
own zero padding never reaches the output), and only the tile's own part of the output is
kept. When ``tile_pad`` is at least the generator's receptive-field radius, the tiled
output equals the whole-image output up to float rounding.

Memory: :func:`available_memory` says what is free where the tiles run,
:func:`tile_bytes` estimates what one tile takes, :func:`auto_tile` and
:func:`choose_tile` pick the side, and :func:`halve_tile` shrinks it after an
out-of-memory error (:func:`is_out_of_memory`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

__all__ = ["MIN_TILE", "MAX_TILE", "CPU_TILE_BUDGET", "InsufficientMemoryError", "default_tile_pad", "padded_piece",
           "available_memory", "tile_bytes", "auto_tile", "choose_tile", "halve_tile", "is_out_of_memory",
           "trim_heap"]

#: Working-memory cap for one tile on the CPU (bytes): bigger tiles are no faster there
#: (about 250-pixel tiles for the bundled model: 13% padding overhead), and the cap keeps
#: x4 of a 12-megapixel photo under 1.5 GiB plus the output (bench/results/memory.md).
CPU_TILE_BUDGET = 128 << 20
#: Tile sides chosen by :func:`auto_tile` stay in this range (LR pixels).
MIN_TILE, MAX_TILE = 32, 1024


class InsufficientMemoryError(MemoryError):
    """The job cannot fit in memory; raised before the memory runs out (one-line message)."""


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
    out-of-memory retry (:func:`halve_tile`).
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


def choose_tile(model, h: int, w: int, tile: int | None, *, device: torch.device, dtype: torch.dtype, tile_pad: int,
                budget: int | None = None) -> int:
    """The tile side to run ``h`` x ``w`` LR pixels with: ``tile`` as asked, or
    :func:`auto_tile` when ``tile`` is None.

    A forced tile (0 = whole image) is kept unless its :func:`tile_bytes` exceeds
    ``budget`` (default: half of :func:`available_memory`; on Linux an allocation
    past the RAM may end in the OOM killer, not an error); then the automatic tile
    for that budget is used, with a warning.

    Returns:
        A tile side >= 0 in LR pixels (0 = the whole image).

    Warns:
        UserWarning: the forced tile was replaced.
    """
    if tile is None:
        return auto_tile(model, h, w, device=device, dtype=dtype, tile_pad=tile_pad, budget=budget)
    budget = budget if budget is not None else available_memory(device) // 2
    th, tw = (h, w) if tile == 0 else (min(tile, h), min(tile, w))
    need = tile_bytes(model, th, tw, 0 if tile == 0 else tile_pad, dtype)
    if need <= budget:
        return tile
    t = auto_tile(model, h, w, device=device, dtype=dtype, tile_pad=tile_pad, budget=budget) or max(h, w)
    warnings.warn(f"tile {tile or 'whole image'} needs about {need / 2**20:.0f} MiB, over the memory budget of "
                  f"{budget / 2**20:.0f} MiB: using {t}-pixel tiles", stacklevel=3)
    return t


def halve_tile(side: int, device: torch.device) -> int:
    """The tile side to retry with after running out of memory with ``side``-pixel tiles:
    half of it, with a warning.

    Raises:
        InsufficientMemoryError: half would be below ``MIN_TILE // 2``.
    """
    if side // 2 < MIN_TILE // 2:
        raise InsufficientMemoryError(f"out of memory even with {side}-pixel tiles on {device.type}; free memory "
                                      "or use a smaller scale")
    warnings.warn(f"out of memory with {side}-pixel tiles: retrying with {side // 2}", stacklevel=3)
    return side // 2


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the errors an allocation failure raises: ``torch.OutOfMemoryError``
    (CUDA/MPS), ``MemoryError``, and ``RuntimeError`` whose message says "out of
    memory" or that the CPU allocator could not allocate."""
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and not isinstance(exc, InsufficientMemoryError):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "can't allocate memory" in msg
                                              or "not enough memory" in msg)


def trim_heap() -> None:
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
