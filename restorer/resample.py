"""Resampling images to another size: antialiased bicubic, whole (:func:`resize`) or as
rows arrive (:class:`RowResampler`, for outputs that never exist whole as float32).

PyTorch's antialiased bicubic is Keys' cubic with a = -0.5, the same kernel as Pillow's
``BICUBIC`` (not the a = -0.75 of PyTorch's plain bicubic).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["resize", "aa_weights", "RowResampler"]


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize an image tensor with ``torch.nn.functional.interpolate``.

    Args:
        x: float tensor (N, C, H, W) in [0, 1].
        size: target (H', W') in pixels.
        mode: ``interpolate`` mode. ``"bilinear"``/``"bicubic"`` run with
            ``antialias=True`` in both directions.

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
        xmin, xmax = _window(in_size, out_size, i)
        ws = [cubic((j + xmin - center + 0.5) * inv) for j in range(xmax - xmin)]
        total = sum(ws)
        spans.append((xmin, [v / total if total != 0 else 0.0 for v in ws]))
    first = min(s[0] for s in spans)
    last = max(s[0] + len(s[1]) for s in spans)
    W = torch.zeros(len(spans), last - first, dtype=torch.float64)
    for k, (xmin, ws) in enumerate(spans):
        W[k, xmin - first : xmin - first + len(ws)] = torch.tensor(ws, dtype=torch.float64)
    return W, first


def _window(in_size: int, out_size: int, i: int) -> tuple[int, int]:
    """Input window [start, stop) that output position ``i`` reads (see :func:`aa_weights`)."""
    scale = in_size / out_size
    support = 2.0 * scale if scale >= 1.0 else 2.0
    center = scale * (i + 0.5)
    return max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)


class RowResampler:
    """Resamples an image that arrives as bands of rows, top to bottom, to another size,
    handing back each output row as soon as the input rows it reads have arrived.

    Each band is resampled horizontally at once (``F.interpolate``), then rows are
    resampled vertically with :func:`aa_weights`; only the input rows that later output
    rows still read are kept. The result equals :func:`resize` of the whole image up to
    float rounding.

    Args:
        in_size: (H, W) of the whole input.
        out_size: (H', W') of the output.
    """

    def __init__(self, in_size: tuple[int, int], out_size: tuple[int, int]) -> None:
        (self.in_h, self.in_w), (self.out_h, self.out_w) = in_size, out_size
        self._buf: torch.Tensor | None = None
        self._start = 0  # input row of self._buf's first row
        self.next_row = 0  #: first output row not handed back yet

    def push(self, band: torch.Tensor) -> tuple[int, torch.Tensor] | None:
        """Add the next band, (N, C, h, W) float, of input rows.

        Returns:
            ``(y0, rows)``: the output rows now complete, (N, C, k, W') float32 in
            [0, 1], starting at output row ``y0``; None when no row is complete yet.
        """
        if self.in_w != self.out_w:
            band = F.interpolate(band, size=(band.shape[-2], self.out_w), mode="bicubic", antialias=True,
                                 align_corners=False)
        buf = band if self._buf is None else torch.cat([self._buf, band], 2)
        have = self._start + buf.shape[-2]
        start = stop = self.next_row
        while stop < self.out_h and _window(self.in_h, self.out_h, stop)[1] <= have:
            stop += 1
        if stop == start:
            self._buf = buf
            return None
        if self.in_h == self.out_h:
            block = buf[:, :, start - self._start : stop - self._start]
        else:
            wts, first = aa_weights(self.in_h, self.out_h, range(start, stop))
            rows = buf[:, :, first - self._start : first - self._start + wts.shape[1]].double()
            block = torch.einsum("ok,bckw->bcow", wts, rows)
        self.next_row = stop
        if stop < self.out_h:  # drop the rows no later output row reads
            keep_from = _window(self.in_h, self.out_h, stop)[0] if self.in_h != self.out_h else stop
            drop = max(0, keep_from - self._start)
            buf, self._start = buf[:, :, drop:], self._start + drop
        self._buf = buf
        return start, block.float().clamp(0, 1)
