"""The restore path: a generator run over an image tile by tile, into a sink.

There is one tile loop, :func:`restore_into`. It writes finished pixels to a sink
(``sink.write(x0, y0, rgb, alpha)``): :class:`restorer.io.ImageWriter` keeps an 8/16-bit
buffer the size of the output, so a large output never exists as float32 (files:
:mod:`restorer.batch`); :func:`restore` gives it an in-memory float sink and returns
tensors (the desktop app, benchmarks).

Each tile is cut with context (:func:`restorer.tiling.padded_piece`), adapted to the
model's channels (1, 3 or 4; alpha beside RGB), run in the chosen precision
(:mod:`restorer.device`) with an fp32 rerun when half precision gives NaN/inf, and only its
centre is kept. At a scale other than the model's, rows are resampled as they arrive
(:class:`restorer.resample.RowResampler`). On out of memory the run restarts with half the
tile side (:mod:`restorer.tiling`). ``region=`` restores only a box of the input, with the
same context around it as a tile gets (the window's crop preview).
"""
from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .device import model_dtype, pick_device, release_cache
from .resample import RowResampler
from .tiling import choose_tile, default_tile_pad, halve_tile, is_out_of_memory, padded_piece, trim_heap

__all__ = ["Cancelled", "RestoreResult", "restore", "restore_into", "output_size", "clip_region"]

#: ``progress(done_tiles, total_tiles)`` callback type.
ProgressFn = Callable[[int, int], None]
Box = tuple[int, int, int, int]


class Cancelled(Exception):
    """Raised by :func:`restore_into` when the cancel flag is set between tiles."""


@dataclass
class RestoreResult:
    """Output of :func:`restore`: ``rgb`` (1, 3, H', W') and ``alpha`` (1, 1, H', W')
    or None, float32 in [0, 1] on the CPU; the ``scale`` applied (a float; see
    :func:`output_size`); ``region``, the box of the input restored (clipped to the
    image), or None for the whole image."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    scale: float
    region: Box | None = None


def output_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(W', H') of an image of ``size`` (W, H) pixels restored at ``scale``:
    ``max(1, round(W * scale))`` by ``max(1, round(H * scale))``."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def clip_region(region: Box, width: int, height: int) -> Box:
    """``region`` (x0, y0, x1, y1) in input pixels (ints), clipped to a ``width`` x
    ``height`` image.

    Raises:
        ValueError: nothing of the region lies on the image.
    """
    x0, y0, x1, y1 = (int(v) for v in region)
    box = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"the region {tuple(region)} does not overlap the {width}x{height} image")
    return box


def _geometry(model, rgb: torch.Tensor, scale: float | None, region: Box | None) -> tuple[float, Box, tuple[int, int]]:
    """(scale as a float, the region clipped (default: the whole image), output (W', H'))."""
    scale = float(int(model.scale) if scale is None else scale)
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    h, w = rgb.shape[-2:]
    box = (0, 0, w, h) if region is None else clip_region(region, w, h)
    return scale, box, output_size((box[2] - box[0], box[3] - box[1]), scale)


def restore_into(
    model,
    rgb: torch.Tensor,
    alpha: torch.Tensor | None,
    sink,
    *,
    scale: float | None = None,
    alpha_mode: str = "filter",
    region: Box | None = None,
    tile: int | None = None,
    tile_pad: int | None = None,
    device: str | torch.device = "auto",
    precision: str = "auto",
    memory_budget: int | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    on_tile: Callable[[Box, torch.Tensor], None] | None = None,
) -> tuple[int, int]:
    """Restore an image tile by tile straight into ``sink`` (no full-size float output).

    The generator runs at its native scale on tiles with ``tile_pad`` context. At the
    native scale each tile goes to the sink as soon as it is done; at another ``scale``
    the tiles are gathered into bands of LR rows and resampled (antialiased bicubic,
    :class:`~restorer.resample.RowResampler`), equal to :func:`~restorer.resample.resize`
    of the whole native output up to float rounding.

    Channels: a 1-channel model gets the mean of R, G, B and its output is repeated to
    RGB; a 4-channel model gets RGBA (opaque alpha when there is none). Alpha:
    ``alpha_mode="filter"`` upscales it with antialiased bicubic (Keys, a = -0.5; clamped
    to [0, 1], so no ringing past 0 or 1; no reflected context beyond the image's edges,
    so it equals ``resize()`` of the whole alpha); ``"model"`` takes a 4-channel model's
    own alpha output, and otherwise runs the generator on alpha as a gray image (alpha
    repeated on the model's input channels, opaque 4th channel, output averaged), for
    crisper edges of line art and text. Without ``alpha`` a model's alpha output is dropped.

    Out of memory (:func:`~restorer.tiling.is_out_of_memory`) during a tile: the run
    restarts with half the tile side (warning), down to ``MIN_TILE // 2``; then
    :class:`~restorer.tiling.InsufficientMemoryError`. Everything already written is
    written again, so the sink never keeps a partial image from a failed attempt; a sink
    must not be committed when this function raises.

    Args:
        model: spandrel ``ImageModelDescriptor`` (scale, channels, fp16 support).
        rgb: float32 (1, 3, H, W) sRGB in [0, 1].
        alpha: float32 (1, 1, H, W) in [0, 1] or None.
        sink: object with ``write(x0, y0, rgb_tile, alpha_tile)`` taking output pixel
            coordinates and float32 CPU tensors (1, 3, h, w) and (1, 1, h, w) (or None)
            in [0, 1]; e.g. :class:`restorer.io.ImageWriter`.
        scale: output scale (float > 0); None = the model's native scale. The output
            size is :func:`output_size` of the region.
        alpha_mode: ``"filter"`` or ``"model"``.
        region: (x0, y0, x1, y1) in input pixels: restore only this box (clipped to the
            image; output pixel (0, 0) is its top-left corner). Tiles read context from
            the image around it, and resampling a few more pixels, so at a whole-number
            scale it equals that part of the whole-image output up to float rounding (at
            other scales, up to a sub-pixel shift). None = the whole image.
        tile: tile side in LR pixels; 0 = the whole image (or region); None = automatic.
            See :func:`~restorer.tiling.choose_tile` (a forced tile over the memory
            budget is replaced, with a warning).
        tile_pad: context around each tile in LR pixels (default
            :func:`~restorer.tiling.default_tile_pad`; at least 2 for the alpha filter).
        device: ``auto``/``cpu``/``cuda``/``mps`` or a ``torch.device``
            (:func:`~restorer.device.pick_device`).
        precision: ``auto``/``fp32``/``fp16``/``bf16`` (:func:`~restorer.device.pick_dtype`).
        memory_budget: bytes one tile may use (default: see :func:`~restorer.tiling.auto_tile`).
        progress: ``progress(done_tiles, total_tiles)`` after each tile (restarts from
            0 after an out-of-memory retry).
        cancel: ``threading.Event`` or callable, checked before each tile.
        on_tile: for live previews, called with each tile's box in the model's native
            output pixels of the whole image, (x0, y0, x1, y1), and its RGB (1, 3, h, w)
            on the CPU, before any resampling to ``scale``.

    Returns:
        (width, height) of the output in pixels.

    Raises:
        ValueError: bad shapes, ``scale`` <= 0, unknown ``alpha_mode``, negative
            ``tile``/``tile_pad``, a region off the image, bad device or precision.
        Cancelled: ``cancel`` was set.
        InsufficientMemoryError: still out of memory with the smallest tile.
        RuntimeError: the model produced NaN/inf in fp32 (nothing is saved), or
            other model errors.

    Warns:
        UserWarning: precision fallback, forced tile shrunk to the budget,
            out-of-memory retry, half-precision tile rerun in fp32.

    Side effects: the model is moved to ``device`` and left there, in fp32.
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
    scale, box, (out_w, out_h) = _geometry(model, rgb, scale, region)
    dev = device if isinstance(device, torch.device) else pick_device(device)
    run = _Tiles(model, dev, model_dtype(model, precision, dev), default_tile_pad(model) if tile_pad is None else
                 int(tile_pad), alpha_mode, alpha is not None)
    # Away from the image's edges, resampling a region reads native pixels beyond it: run a
    # margin of that many LR pixels around it too and keep the region's own output pixels.
    native = run.native
    h, w = rgb.shape[-2:]
    resampling = (out_w, out_h) != ((box[2] - box[0]) * native, (box[3] - box[1]) * native)
    m = math.ceil(2 * max(native / scale, 1) / native) + 1 if resampling else 0
    run_box = max(box[0] - m, 0), max(box[1] - m, 0), min(box[2] + m, w), min(box[3] + m, h)
    run_w, run_h = run_box[2] - run_box[0], run_box[3] - run_box[1]
    run_size = output_size((run_w, run_h), scale)
    if run_box != box:
        ox = min(round((box[0] - run_box[0]) * scale), run_size[0] - out_w)
        oy = min(round((box[1] - run_box[1]) * scale), run_size[1] - out_h)
        sink = _Window(sink, ox, oy, out_w, out_h)
    t = choose_tile(model, run_h, run_w, tile, device=dev, dtype=run.dtype, tile_pad=run.pad, budget=memory_budget)
    model.to(dev).eval()
    model.to(dtype=run.dtype)
    try:
        while True:
            side = t or max(run_h, run_w)
            try:
                _stream(run, rgb, alpha, sink, run_box, side, run_size, progress, cancel, on_tile)
                return out_w, out_h
            except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
            release_cache(dev)  # outside the handler: the error's frames hold the failed tile
            t = halve_tile(side, dev)
    finally:
        model.to(dtype=torch.float32)


def restore(model, rgb: torch.Tensor, alpha: torch.Tensor | None = None, *, scale: float | None = None,
            region: Box | None = None, **kwargs) -> RestoreResult:
    """:func:`restore_into` an in-memory image: the output as float tensors.

    Args:
        model, rgb, alpha, scale, region: as :func:`restore_into`.
        **kwargs: the other arguments of :func:`restore_into` (alpha_mode, tile,
            tile_pad, device, precision, memory_budget, progress, cancel, on_tile).

    Returns:
        :class:`RestoreResult` (CPU, float32, in [0, 1]); ``alpha`` is None when the
        input has none.

    Raises:
        What :func:`restore_into` raises.
    """
    scale, box, (out_w, out_h) = _geometry(model, rgb, scale, region)
    sink = _TensorSink(out_w, out_h, alpha is not None)
    restore_into(model, rgb, alpha, sink, scale=scale, region=region, **kwargs)
    return RestoreResult(sink.rgb, sink.alpha, scale, None if region is None else box)


class _Tiles:
    """One tile's work: context, channel adapter, precision with the fp32 rerun, crop."""

    def __init__(self, model, dev: torch.device, dtype: torch.dtype, pad: int, alpha_mode: str, has_alpha: bool):
        self.model, self.dev, self.dtype, self.alpha_mode = model, dev, dtype, alpha_mode
        self.native = int(model.scale)
        self.in_ch = int(getattr(model, "input_channels", 3))
        self.pad = max(pad, 2) if has_alpha and alpha_mode == "filter" else pad  # 2: bicubic support

    def run(self, piece: torch.Tensor) -> torch.Tensor:
        """The model on ``piece``; in fp32 from now on if half precision gives NaN/inf."""
        with torch.inference_mode():
            res = self.model(piece.to(self.dev, self.dtype)).float()
            if self.dtype != torch.float32 and not torch.isfinite(res).all():
                warnings.warn("non-finite output in half precision: rerunning in fp32", stacklevel=4)
                self.dtype = torch.float32
                self.model.to(dtype=torch.float32)
                res = self.model(piece.to(self.dev, torch.float32)).float()
            if not torch.isfinite(res).all():
                raise RuntimeError("the model produced NaN/inf values in fp32; nothing was saved")
        return res

    def tile(self, rgb: torch.Tensor, alpha: torch.Tensor | None, box: Box) -> tuple[torch.Tensor, torch.Tensor | None]:
        """RGB (1, 3, h, w) and alpha (1, 1, h, w) or None of tile ``box`` at the native
        scale: float32 on the CPU, clamped to [0, 1]."""
        pad, in_ch = self.pad, self.in_ch
        piece = padded_piece(rgb, box, pad)
        piece_a = padded_piece(alpha, box, pad) if alpha is not None else None
        inp = piece
        if in_ch == 1:
            inp = piece.mean(1, keepdim=True)
        elif in_ch == 4:
            inp = torch.cat([piece, piece_a if piece_a is not None else torch.ones_like(piece[:, :1])], 1)
        out = self.run(inp)
        out_a = out[:, 3:4] if out.shape[1] == 4 and piece_a is not None and self.alpha_mode == "model" else None
        out = out.expand(-1, 3, -1, -1) if out.shape[1] == 1 else out[:, :3]
        if piece_a is not None and out_a is None:
            if self.alpha_mode == "model":
                grey = piece_a.expand(-1, 1 if in_ch == 1 else 3, -1, -1)
                if in_ch == 4:
                    grey = torch.cat([grey, torch.ones_like(piece_a)], 1)
                out_a = self.run(grey)[:, : (1 if in_ch == 1 else 3)].mean(1, keepdim=True)
            else:
                out_a = _filtered_alpha(alpha, box, pad, self.native)
        x0, y0, x1, y1 = box
        o, n = pad * self.native, self.native
        sl = (slice(None), slice(None), slice(o, o + (y1 - y0) * n), slice(o, o + (x1 - x0) * n))
        return out[sl].clamp(0, 1).cpu(), (out_a[sl].clamp(0, 1).cpu() if out_a is not None else None)


def _filtered_alpha(alpha: torch.Tensor, box: Box, pad: int, native: int) -> torch.Tensor:
    """Alpha of tile ``box`` upscaled ``native`` times (antialiased bicubic), placed like a
    padded tile's output. Unlike RGB it gets no reflected context beyond the image's edges
    (zeros there, cropped off), so the tiles equal ``resize()`` of the whole alpha, whose
    kernel is renormalised at the edges."""
    h, w = alpha.shape[-2:]
    x0, y0, x1, y1 = box
    px0, py0, px1, py1 = max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, w), min(y1 + pad, h)
    up = F.interpolate(alpha[:, :, py0:py1, px0:px1], scale_factor=native, mode="bicubic", antialias=True,
                       align_corners=False)
    ext = (px0 - x0 + pad, x1 + pad - px1, py0 - y0 + pad, y1 + pad - py1)
    return F.pad(up, tuple(e * native for e in ext))


def _is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def _stream(run: _Tiles, rgb, alpha, sink, box: Box, t: int, out_size: tuple[int, int], progress, cancel,
            on_tile) -> None:
    """One attempt of :func:`restore_into`: the tiles of ``box`` with side ``t``, output
    ``out_size`` (W', H'), written to ``sink`` from its (0, 0)."""
    bx0, by0, bx1, by1 = box
    n = run.native
    native_size = ((by1 - by0) * n, (bx1 - bx0) * n)
    resampler = RowResampler(native_size, out_size[::-1]) if native_size != out_size[::-1] else None
    band = t  # LR rows per band: at most t, and at most ~64 MiB of native float rows when resampling
    if resampler is not None:
        per_row = n * native_size[1] * (4 if alpha is not None else 3) * 4
        band = max(1, min(t, (64 << 20) // max(per_row, 1)))
    ys, xs = range(by0, by1, band), range(bx0, bx1, t)
    total, done = len(ys) * len(xs), 0
    for y0 in ys:
        y1 = min(y0 + band, by1)
        row = []
        for x0 in xs:
            if _is_cancelled(cancel):
                raise Cancelled("cancelled")
            x1 = min(x0 + t, bx1)
            out, out_a = run.tile(rgb, alpha, (x0, y0, x1, y1))
            if on_tile is not None:
                on_tile((x0 * n, y0 * n, x1 * n, y1 * n), out)
            if resampler is None:
                sink.write((x0 - bx0) * n, (y0 - by0) * n, out, out_a)
            else:
                row.append(torch.cat([out, out_a], 1) if out_a is not None else out)
            done += 1
            if progress is not None:
                progress(done, total)
        trim_heap()
        if resampler is not None:
            ready = resampler.push(torch.cat(row, 3))
            del row
            if ready is not None:
                y, block = ready
                sink.write(0, y, block[:, :3], block[:, 3:4] if block.shape[1] == 4 else None)
    if resampler is not None and resampler.next_row != out_size[1]:  # pragma: no cover - the last band emits all
        raise RuntimeError(f"internal error: {out_size[1] - resampler.next_row} output rows not produced")


class _TensorSink:
    """A float32 output in memory (:func:`restore`)."""

    def __init__(self, w: int, h: int, alpha: bool) -> None:
        self.rgb = torch.zeros(1, 3, h, w)
        self.alpha = torch.zeros(1, 1, h, w) if alpha else None

    def write(self, x0: int, y0: int, rgb: torch.Tensor, alpha: torch.Tensor | None = None) -> None:
        h, w = rgb.shape[-2:]
        self.rgb[..., y0:y0 + h, x0:x0 + w] = rgb
        if self.alpha is not None and alpha is not None:
            self.alpha[..., y0:y0 + h, x0:x0 + w] = alpha


class _Window:
    """Passes on to ``sink`` only the pixels inside the ``w`` x ``h`` window at
    (``ox``, ``oy``), shifted to the window's origin (a region's part of a larger run)."""

    def __init__(self, sink, ox: int, oy: int, w: int, h: int) -> None:
        self.sink, self.ox, self.oy, self.w, self.h = sink, ox, oy, w, h

    def write(self, x0: int, y0: int, rgb: torch.Tensor, alpha: torch.Tensor | None = None) -> None:
        h, w = rgb.shape[-2:]
        a0, a1 = max(x0, self.ox), min(x0 + w, self.ox + self.w)
        b0, b1 = max(y0, self.oy), min(y0 + h, self.oy + self.h)
        if a0 < a1 and b0 < b1:
            sl = (slice(None), slice(None), slice(b0 - y0, b1 - y0), slice(a0 - x0, a1 - x0))
            self.sink.write(a0 - self.ox, b0 - self.oy, rgb[sl], alpha[sl] if alpha is not None else None)
