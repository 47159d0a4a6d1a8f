"""Region (viewport) metrics, the per-pixel LPIPS map, and the no-reference consistency readout.

Region method (:class:`RegionMetrics`), for a box (x0, y0, x1, y1) of a pair:

* **LPIPS-Alex**: the per-stage LPIPS distance maps of the *whole* pair (each
  feature cell computed with the whole image as context, so no zero-padding
  artefacts at the box edges) are averaged over the box's footprint in each
  stage, each cell weighted by the fraction of its area inside the box, and
  the five stage means are summed. For the whole image this is exactly the
  LPIPS value; over any partition of the image, the area-weighted mean of the
  region values is exactly the whole-image value. The distance maps are
  cached: they are computed on demand for a 64-pixel grid of cells (blocks
  with a 96-pixel context margin, :mod:`restorer.metrics.tiled`), so a region
  costs only the cells not seen before (while panning, two cells more are
  computed ahead in the direction of motion), and a box already seen costs a
  few slices.
* **SSIM**: the mean of the whole image's SSIM map over the windows centred in
  the box (windows reach 5 pixels beyond it, into real image content); centres
  are clipped to the valid range [5, size - 5). The map is cached with the
  same grid.
* **PSNR**: of the pixels in the box (the same as the PSNR of the cropped pair).

Measured deviations (``python main.py bench metrics``, ``bench/results/metrics.md``;
a 2268x1512 photo against its x4 bicubic down/up copy, eight 512x512 boxes):

* a box computed from only the cells it needs equals the same box read from the
  whole-image computation exactly (deviation 0; tested to 1e-6), and the
  whole-image box equals :func:`restorer.metrics.compare` (< 1e-7);
* region LPIPS differs from the mean of the heat map (:func:`lpips_map`) over
  the box by at most 0.04 % (bilinear vs area weights);
* against the metrics of the *cropped pair itself* (whose networks see zero
  padding at the crop's edges instead of the surrounding image): LPIPS-Alex
  mean 0.011, max 0.016 absolute (up to 11 % relative), SSIM mean 4e-4, max
  1.3e-3; PSNR identical. The region value is the one that agrees with the
  whole image; the cropped pair's value is not a property of the viewport.
"""
from __future__ import annotations

import math
import threading

import torch
import torch.nn.functional as F

from ..facts import MIN_SIDE
from ._checks import as_rgb, prepare_pair
from .dists import get_dists
from .lpips import MIN_SIZE, combine_stage_maps, get_lpips
from .psnr import psnr
from .ssim import WINDOW_SIZE, _ssim_map
from .tiled import ALIGN, STAGE_STRIDES, blocks, dists_tiled, lpips_stage_maps, lpips_tiled, ssim_tiled, stage_sizes

__all__ = ["lpips_map", "RegionMetrics", "consistency", "GRID"]

#: Side, in pixels, of the cells by which :class:`RegionMetrics` caches LPIPS distance maps and SSIM.
GRID = 64
#: Grid cells computed ahead of a panning viewport, in the direction of motion.
LOOKAHEAD = 2
_HALF = WINDOW_SIZE // 2


def lpips_map(image: torch.Tensor, reference: torch.Tensor, net: str = "alex",
              device: str | torch.device = "cpu", *, tile: int | None = None) -> torch.Tensor:
    """Per-pixel LPIPS map of ``image`` against ``reference``, for heat-map overlays.

    Same as the reference ``lpips.LPIPS(spatial=True)``: each stage's distance
    map is upsampled bilinearly (``align_corners=False``) to the image size and
    the five are summed. Large images are computed in blocks
    (:mod:`restorer.metrics.tiled`), with the same result.

    Args:
        image, reference: (1, C, H, W) tensors, values in [0, 1], same size,
            C = 3 (RGB), 1 (grayscale, repeated) or 4 (RGBA, alpha ignored);
            H, W >= 31 (alex) or 16 (vgg16).
        net: ``"alex"`` or ``"vgg16"`` (``"vgg"``).
        device: where the network runs (``"cpu"``, ``"cuda"``, ``"mps"``...); fp32.
        tile: block core side in pixels (default: :data:`restorer.metrics.tiled.DEFAULT_TILE`).

    Returns:
        (1, 1, H, W) float32 tensor on ``device``, >= 0, lower is better. Its mean
        is within about 1e-3 (relative) of the scalar LPIPS, not equal: the
        bilinear upsampling weighs border cells slightly differently.

    Raises:
        ValueError: policy violations (sizes differ, bad shape, too small), unknown ``net``.
        restorer.weights.WeightsNotFoundError: weights unavailable offline.

    Source: Zhang et al., CVPR 2018; ``lpips==0.1.4`` ``spatial=True``.
    """
    model = get_lpips(net, device)
    x, y = prepare_pair(image, reference, min_side=MIN_SIZE[model.net_name])
    return lpips_tiled(model, x, y, tile=tile, spatial=True)


def _axis_weights(a: int, b: int, n_img: int, n_cells: int) -> tuple[int, int, torch.Tensor]:
    """Cells [j0, j1) of a stage axis covered by pixels [a, b), and each cell's covered fraction (CPU float64)."""
    lo = a * n_cells / n_img
    hi = b * n_cells / n_img
    j0 = min(n_cells - 1, int(math.floor(lo)))
    j1 = max(j0 + 1, min(n_cells, int(math.ceil(hi))))
    j = torch.arange(j0, j1, dtype=torch.float64)
    w = ((j + 1).clamp(max=hi) - j.clamp(min=lo)).clamp_min(0)
    return j0, j1, w


class RegionMetrics:
    """Metrics of a fixed pair for any rectangle (the visible viewport), fast after the first look.

    See the module docstring for the method. Thread-safe (one lock); meant to be
    used from one worker thread.

    Args:
        image: (1, C, H, W) tensor in [0, 1] (C = 3; 1 = grayscale and 4 = RGBA
            follow the metrics' channel rule), the image under test.
        reference: the same for the reference; same size; H, W >= 31.
        device: where the networks run (``"cpu"``, ``"cuda"``, ``"mps"``...); fp32.
        block: largest block core side in pixels when filling the LPIPS cache.

    Attributes:
        x, y: the image and reference as (1, 3, H, W) float32 on ``device``. They
            are the caller's tensors when those already are (no copy): do not
            modify them while this object is in use.
        height, width: H and W in pixels.
        device: the torch device.

    Raises:
        ValueError: the pair breaks the input policy (see :func:`restorer.metrics.compare`).
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.
    """

    def __init__(self, image: torch.Tensor, reference: torch.Tensor, device: str | torch.device = "cpu",
                 *, block: int = 1024) -> None:
        x, y = prepare_pair(image, reference)
        self.device = torch.device(device)
        self._model = get_lpips("alex", self.device)
        self.x = x.to(self.device, torch.float32).contiguous()
        self.y = y.to(self.device, torch.float32).contiguous()
        self.height, self.width = int(x.shape[-2]), int(x.shape[-1])
        self._block = max(GRID, block // GRID * GRID)
        self._lock = threading.RLock()
        self._sizes = stage_sizes("alex", self.height, self.width)
        self._maps: list[torch.Tensor] | None = None
        self._done = torch.zeros(math.ceil(self.height / GRID), math.ceil(self.width / GRID), dtype=torch.bool)
        self._whole: dict[str, dict[str, float]] = {}
        self._map: torch.Tensor | None = None
        self._ssim: torch.Tensor | None = None  # whole-image SSIM map, filled with the LPIPS cells
        self._last: tuple[int, int] | None = None  # previous box origin, for look-ahead
        with torch.inference_mode():
            self._offset = (0.5 * (self.x + self.y)).mean(dim=(2, 3), keepdim=True)

    # ------------------------------------------------------------ LPIPS cache

    @property
    def cached_fraction(self) -> float:
        """Fraction (0..1) of the image whose LPIPS distance maps are already cached."""
        return float(self._done.float().mean())

    def _fill(self, gy0: int, gy1: int, gx0: int, gx1: int) -> None:
        """Compute the LPIPS distance maps and the SSIM map for the grid cells
        [gy0, gy1) x [gx0, gx1) not yet cached.

        The missing cells are covered by a few rectangles, not by their bounding
        box: consecutive grid rows whose missing cells span the same columns form
        one rectangle. A diagonal pan thus computes an L-shaped strip (two
        rectangles) instead of re-computing the cached interior."""
        sub = self._done[gy0:gy1, gx0:gx1]
        if bool(sub.all()):
            return
        spans: list[tuple[int, int, int, int]] = []  # (row0, row1, col0, col1) in grid cells
        for r in range(sub.shape[0]):
            cols = (~sub[r]).nonzero().flatten()
            if cols.numel() == 0:
                continue
            c0, c1 = gx0 + int(cols[0]), gx0 + int(cols[-1]) + 1
            if spans and spans[-1][1] == gy0 + r and spans[-1][2:] == (c0, c1):
                spans[-1] = (spans[-1][0], gy0 + r + 1, c0, c1)
            else:
                spans.append((gy0 + r, gy0 + r + 1, c0, c1))
        for r0, r1, c0, c1 in spans:
            self._fill_rect(r0, r1, c0, c1)

    def _fill_rect(self, gy0: int, gy1: int, gx0: int, gx1: int) -> None:
        """Compute the LPIPS distance maps and the SSIM map for grid cells [gy0, gy1) x [gx0, gx1), in blocks."""
        py0, py1 = gy0 * GRID, min(self.height, gy1 * GRID)
        px0, px1 = gx0 * GRID, min(self.width, gx1 * GRID)
        boxes = [(py0 + a, py0 + b, px0 + c, px0 + d) for a, b, c, d in blocks(py1 - py0, px1 - px0, self._block)]
        if self._maps is None:
            self._maps = [torch.zeros(1, 1, hl, wl, device=self.device) for hl, wl in self._sizes]
        if self._ssim is None:
            self._ssim = torch.zeros(self.height - 2 * _HALF, self.width - 2 * _HALF, device=self.device)
        with torch.inference_mode():
            lpips_stage_maps(self._model, self.x, self.y, boxes=boxes, maps=self._maps)
            for by0, by1, bx0, bx1 in boxes:  # SSIM map at the window centres inside each block
                cy0, cy1 = max(by0, _HALF), min(by1, self.height - _HALF)
                cx0, cx1 = max(bx0, _HALF), min(bx1, self.width - _HALF)
                if cy1 > cy0 and cx1 > cx0:
                    part = _ssim_map(self.x[..., cy0 - _HALF:cy1 + _HALF, cx0 - _HALF:cx1 + _HALF],
                                     self.y[..., cy0 - _HALF:cy1 + _HALF, cx0 - _HALF:cx1 + _HALF], 1.0, self._offset)
                    self._ssim[cy0 - _HALF:cy1 - _HALF, cx0 - _HALF:cx1 - _HALF] = part[0, 0]
        self._done[gy0:gy1, gx0:gx1] = True

    def _centres(self, y0: int, y1: int, x0: int, x1: int) -> tuple[int, int, int, int]:
        """SSIM window centres for a box: [y0, y1) x [x0, x1) clipped to the valid [5, size - 5)."""
        cy0 = min(max(y0, _HALF), self.height - _HALF - 1)
        cy1 = max(cy0 + 1, min(y1, self.height - _HALF))
        cx0 = min(max(x0, _HALF), self.width - _HALF - 1)
        cx1 = max(cx0 + 1, min(x1, self.width - _HALF))
        return cy0, cy1, cx0, cx1

    def _ensure_box(self, x0: int, y0: int, x1: int, y1: int) -> None:
        cy0, cy1, cx0, cx1 = self._centres(y0, y1, x0, x1)
        gy0, gy1 = min(y0, cy0) // GRID, (max(y1, cy1) - 1) // GRID + 1
        gx0, gx1 = min(x0, cx0) // GRID, (max(x1, cx1) - 1) // GRID + 1
        for s, (hl, wl) in zip(STAGE_STRIDES["alex"], self._sizes):
            j0, j1, _ = _axis_weights(y0, y1, self.height, hl)
            k0, k1, _ = _axis_weights(x0, x1, self.width, wl)
            gy0, gy1 = min(gy0, j0 * s // GRID), max(gy1, (j1 - 1) * s // GRID + 1)
            gx0, gx1 = min(gx0, k0 * s // GRID), max(gx1, (k1 - 1) * s // GRID + 1)
        if not bool(self._done[gy0:gy1, gx0:gx1].all()) and self._last is not None:
            # Panning: also compute LOOKAHEAD cells ahead in the direction of motion,
            # so the next few pans find their cells cached (fewer, larger fills).
            dx, dy = x0 - self._last[0], y0 - self._last[1]
            gh, gw = self._done.shape
            if dx > 0:
                gx1 = min(gw, gx1 + LOOKAHEAD)
            elif dx < 0:
                gx0 = max(0, gx0 - LOOKAHEAD)
            if dy > 0:
                gy1 = min(gh, gy1 + LOOKAHEAD)
            elif dy < 0:
                gy0 = max(0, gy0 - LOOKAHEAD)
        self._last = (x0, y0)
        self._fill(gy0, gy1, gx0, gx1)

    def _lpips_box(self, x0: int, y0: int, x1: int, y1: int) -> float:
        total = 0.0
        for (hl, wl), d in zip(self._sizes, self._maps):
            j0, j1, wy = _axis_weights(y0, y1, self.height, hl)
            k0, k1, wx = _axis_weights(x0, x1, self.width, wl)
            cells = d[0, 0, j0:j1, k0:k1].to("cpu", torch.float64)
            total += float((wy[:, None] * cells * wx[None, :]).sum() / (wy.sum() * wx.sum()))
        return total

    # --------------------------------------------------------------- public

    def _clip(self, box) -> tuple[int, int, int, int]:
        try:
            x0, y0, x1, y1 = (int(v) for v in box)
        except (TypeError, ValueError):
            raise ValueError(f"box must be (x0, y0, x1, y1) integers, got {box!r}") from None
        x0, x1 = max(0, x0), min(self.width, x1)
        y0, y1 = max(0, y0), min(self.height, y1)
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"box {tuple(box)} does not overlap the {self.width}x{self.height} image")
        return x0, y0, x1, y1

    def region(self, box) -> dict[str, float]:
        """Metrics of the pixels in ``box`` (method: module docstring).

        Args:
            box: (x0, y0, x1, y1) integer pixel coordinates in image space, x1/y1
                exclusive; clipped to the image.

        Returns:
            ``psnr`` (dB, higher is better, ``inf`` if the box is identical),
            ``ssim`` (higher is better, <= 1), ``lpips_alex`` (lower is better, >= 0).

        Raises:
            ValueError: ``box`` is malformed or does not overlap the image.
        """
        x0, y0, x1, y1 = self._clip(box)
        with self._lock:
            self._ensure_box(x0, y0, x1, y1)
            lp = self._lpips_box(x0, y0, x1, y1)
            with torch.inference_mode():
                p = float(psnr(self.x[..., y0:y1, x0:x1], self.y[..., y0:y1, x0:x1]))
                # SSIM windows centred in the box, clipped to the valid centres [5, size - 5).
                cy0, cy1, cx0, cx1 = self._centres(y0, y1, x0, x1)
                s = float(self._ssim[cy0 - _HALF:cy1 - _HALF, cx0 - _HALF:cx1 - _HALF].mean())
        return {"psnr": p, "ssim": s, "lpips_alex": lp}

    def whole(self, *, full: bool = False) -> dict[str, float]:
        """Whole-image metrics, same meaning as :func:`restorer.metrics.compare` (cached).

        Fills the whole LPIPS-Alex cache (so every later :meth:`region` call is fast).

        Args:
            full: also compute ``lpips_vgg`` and ``dists`` (VGG16: about 20x the
                cost of LPIPS-Alex).

        Returns:
            ``psnr``, ``ssim``, ``lpips_alex`` (+ ``lpips_vgg``, ``dists`` when ``full``), floats.
        """
        key = "full" if full else "fast"
        with self._lock:
            if key in self._whole:
                return dict(self._whole[key])
            with torch.inference_mode():
                if "fast" not in self._whole:  # computed once, also when ``full`` comes first
                    self._fill(0, self._done.shape[0], 0, self._done.shape[1])
                    self._whole["fast"] = {
                        "psnr": float(psnr(self.x, self.y)),
                        "ssim": float(ssim_tiled(self.x, self.y)[0]),
                        "lpips_alex": float(combine_stage_maps(self._maps)[0]),
                    }
                if full:
                    self._whole["full"] = {
                        **self._whole["fast"],
                        "lpips_vgg": float(lpips_tiled(get_lpips("vgg16", self.device), self.x, self.y)[0]),
                        "dists": float(dists_tiled(get_dists(self.device), self.x, self.y)[0])}
            return dict(self._whole[key])

    def lpips_map(self) -> torch.Tensor:
        """The per-pixel LPIPS-Alex map, as :func:`lpips_map` (cached).

        Returns:
            (H, W) float32 tensor on this object's device, >= 0, lower is better.
        """
        with self._lock:
            if self._map is None:
                self._fill(0, self._done.shape[0], 0, self._done.shape[1])
                with torch.inference_mode():
                    self._map = combine_stage_maps(self._maps, (self.height, self.width))[0, 0]
            return self._map


def consistency(restored: torch.Tensor, lr_input: torch.Tensor, device: str | torch.device = "cpu") -> dict[str, float]:
    """No-reference readout: how faithful a restored image is to the input it was made from.

    The restored image is resampled to the input's size (antialiased bicubic,
    PyTorch's ``interpolate(antialias=True)``, Keys a = -0.5 as Pillow's
    BICUBIC; clamped to [0, 1]) and compared with the input. High PSNR / low
    LPIPS mean the restoration kept what the input showed; they say nothing
    about detail the input could not show.

    Args:
        restored: (1, C, H, W) tensor in [0, 1] (C = 3; 1 and 4 by the channel rule).
        lr_input: (1, C, h, w) tensor in [0, 1], the image that was restored; h, w >= 31.
        device: where to compute (fp32).

    Returns:
        ``psnr`` (dB, higher is better), ``ssim`` (higher is better) and
        ``lpips_alex`` (lower is better) of the downscaled restored image against
        ``lr_input``.

    Raises:
        ValueError: bad shapes, or ``lr_input`` smaller than 31x31 pixels.
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.
    """
    dev = torch.device(device)
    r = as_rgb(restored, "restored").to(dev, torch.float32)
    lr = as_rgb(lr_input, "input").to(dev, torch.float32)
    h, w = lr.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise ValueError(f"input is {w}x{h}; the consistency readout needs at least {MIN_SIDE}x{MIN_SIDE} pixels")
    with torch.inference_mode():
        if tuple(r.shape[-2:]) != (h, w):
            r = F.interpolate(r, size=(h, w), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        return {
            "psnr": float(psnr(r, lr)),
            "ssim": float(ssim_tiled(r, lr)[0]),
            "lpips_alex": float(lpips_tiled(get_lpips("alex", dev), r, lr)[0]),
        }
