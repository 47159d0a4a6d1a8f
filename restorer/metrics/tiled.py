"""Tiled feature computation for LPIPS, DISTS and SSIM on images of any size.

The backbones' activations grow with the image (VGG16's first stage alone holds
64 floats per pixel: 6 GB for a 24-megapixel image), so large images are cut
into *blocks*: a core rectangle plus a context margin on every side. The margin
covers the receptive field of the deepest tapped stage, and block origins are
multiples of the networks' total stride (16), so the feature cells a block
*owns* (those inside its core) are computed exactly as in one whole-image pass:
same inputs under the receptive field, same zero padding at the true image
border, same grid. Each block's owned cells are written into whole-image
per-stage LPIPS distance maps (one channel each, small) or added into
per-channel DISTS statistics (float64 sums); nothing of size C x H x W is kept.

Receptive field R and padding P (in input pixels) of the last stage, with
stride S = 16; the margin must be >= max(P, R - S - P), rounded up to 16:

==========  ====  ====  =========  =======
backbone    R     P     R - S - P  margin
==========  ====  ====  =========  =======
alex relu5  163   66    81         96
vgg16 r5_3  196   90    90         96
DISTS r5_3  211   105   90         112   (L2 pooling 3x3, pad 1, instead of max pooling)
==========  ====  ====  =========  =======

The tiled results equal the untiled ones up to float32 summation order
(tested: LPIPS and DISTS within 1e-5, maps within 1e-5).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "ALIGN", "MARGIN", "STAGE_STRIDES", "DEFAULT_TILE", "blocks", "stage_sizes",
    "lpips_stage_maps", "lpips_tiled", "dists_tiled", "ssim_tiled",
]

#: Total stride of the deepest stage of every backbone here; block origins are multiples of it.
ALIGN = 16
#: Context margin in pixels per backbone (see the module docstring for the derivation).
MARGIN = {"alex": 96, "vgg16": 96, "dists": 112}
#: Stride (input pixels per feature cell) of each tapped stage.
STAGE_STRIDES = {"alex": (4, 8, 16, 16, 16), "vgg16": (1, 2, 4, 8, 16), "dists": (1, 1, 2, 4, 8, 16)}
#: Default block core side in pixels: AlexNet's activations are 16x smaller than VGG16's.
DEFAULT_TILE = {"alex": 2048, "vgg16": 1024, "dists": 1024}


def _acc_dtype(dev: torch.device) -> torch.dtype:
    """float64 for accumulations, except on MPS (no float64 there: float32 per block, float64 across blocks on the CPU)."""
    return torch.float32 if dev.type == "mps" else torch.float64


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def stage_sizes(net: str, h: int, w: int) -> list[tuple[int, int]]:
    """Spatial size (h_l, w_l) of each tapped stage for an (h, w) input.

    Args:
        net: ``"alex"``, ``"vgg16"`` or ``"dists"``.
        h, w: input height and width in pixels.

    Returns:
        One (h_l, w_l) per stage, as torchvision's layers compute them.
    """
    out = []
    if net == "alex":
        a = (_conv_out(h, 11, 4, 2), _conv_out(w, 11, 4, 2))
        b = tuple(_conv_out(n, 3, 2, 0) for n in a)
        c = tuple(_conv_out(n, 3, 2, 0) for n in b)
        out = [a, b, c, c, c]
    elif net == "vgg16":
        size = (h, w)
        for i in range(5):
            if i:
                size = tuple(n // 2 for n in size)
            out.append(size)
    elif net == "dists":
        size = (h, w)
        out.append(size)
        for i in range(5):
            if i:
                size = tuple(_conv_out(n, 3, 2, 1) for n in size)
            out.append(size)
    else:
        raise ValueError(f"unknown network {net!r}")
    return out


def _split(n: int, core: int) -> list[tuple[int, int]]:
    """Cut [0, n) into spans of ``core`` (a multiple of ALIGN); the last one takes the rest."""
    k = max(1, math.ceil(n / core))
    return [(i * core, n if i == k - 1 else (i + 1) * core) for i in range(k)]


def blocks(h: int, w: int, core: int) -> list[tuple[int, int, int, int]]:
    """Block cores covering an (h, w) image.

    Args:
        h, w: image size in pixels.
        core: core side in pixels, rounded down to a multiple of ``ALIGN`` (min ``ALIGN``).

    Returns:
        (y0, y1, x0, x1) cores, row-major, that partition the image; every
        y0/x0 is a multiple of ``ALIGN``.
    """
    core = max(ALIGN, core // ALIGN * ALIGN)
    return [(y0, y1, x0, x1) for y0, y1 in _split(h, core) for x0, x1 in _split(w, core)]


def _owned(feats, core_box, net: str, h: int, w: int, in_origin: tuple[int, int], stages: list[int] | None = None):
    """Crop each stage tensor of a block to the cells its core owns.

    Args:
        feats: per-stage tensors (N, C, h_l', w_l') computed on the block's input
            crop, whose top-left pixel is ``in_origin`` (multiples of ``ALIGN``).
        core_box: (y0, y1, x0, x1) core of the block, in image pixels.
        net: key of ``STAGE_STRIDES``.
        h, w: whole-image size.
        stages: the stage index of each tensor in ``feats`` (default 0, 1, 2, ...).

    Returns:
        A list of (owned tensor, (cy0, cx0)) per stage, offsets in whole-image
        stage cells.
    """
    y0, y1, x0, x1 = core_box
    iy0, ix0 = in_origin
    out = []
    strides, sizes = STAGE_STRIDES[net], stage_sizes(net, h, w)
    for k, f in zip(stages if stages is not None else range(len(feats)), feats):
        s, (hl, wl) = strides[k], sizes[k]
        cy0, cx0 = y0 // s, x0 // s
        cy1 = hl if y1 == h else y1 // s
        cx1 = wl if x1 == w else x1 // s
        ly, lx = iy0 // s, ix0 // s
        out.append((f[..., cy0 - ly:cy1 - ly, cx0 - lx:cx1 - lx], (cy0, cx0)))
    return out


def _input_box(core_box, margin: int, h: int, w: int) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = core_box
    return max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin)


def _check_same(x: torch.Tensor, y: torch.Tensor, what: str) -> None:
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)) or x.shape != y.shape or x.dim() != 4:
        sx = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        sy = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"{what} needs two (N, 3, H, W) images of the same shape, got {sx} and {sy}")


def lpips_stage_maps(model, x: torch.Tensor, y: torch.Tensor, *, tile: int | None = None,
                     boxes: list[tuple[int, int, int, int]] | None = None,
                     maps: list[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """Per-stage LPIPS distance maps of a pair, computed block by block.

    Args:
        model: a :class:`restorer.metrics.lpips.LPIPS` module.
        x, y: (N, 3, H, W) tensors, RGB in [0, 1], same shape (any device; each
            block is moved to the model's device as float32).
        tile: block core side in pixels (default ``DEFAULT_TILE[net]``); an image
            that fits in one block is computed in one pass.
        boxes: optional (y0, y1, x0, x1) cores (y0, x0 multiples of ``ALIGN``;
            y1, x1 multiples of it or the image edge) to compute instead of the
            whole image: with ``maps``, fills part of existing maps (the region cache).
        maps: existing per-stage maps to write into (else new zero maps).

    Returns:
        Five float32 tensors (N, 1, h_l, w_l) on the model's device, equal (to
        float rounding, ~1e-7) to ``model.distance_maps`` of the whole images.

    Raises:
        ValueError: shapes differ, are not (N, 3, H, W), or are smaller than
            LPIPS's minimum (``MIN_SIZE``).
    """
    _check_same(x, y, "LPIPS")
    model._check(x)
    net = model.net_name
    n, _, h, w = x.shape
    dev = model.shift.device
    if maps is None:
        maps = [torch.zeros(n, 1, hl, wl, device=dev) for hl, wl in stage_sizes(net, h, w)]
    if boxes is None:
        boxes = blocks(h, w, tile or DEFAULT_TILE[net])
    for box in boxes:
        iy0, iy1, ix0, ix1 = _input_box(box, MARGIN[net], h, w)
        d = model.pair_distance_maps(x[..., iy0:iy1, ix0:ix1], y[..., iy0:iy1, ix0:ix1])
        for dst, (src, (cy0, cx0)) in zip(maps, _owned(d, box, net, h, w, (iy0, ix0))):
            dst[..., cy0:cy0 + src.shape[-2], cx0:cx0 + src.shape[-1]] = src
    return maps


def lpips_tiled(model, x: torch.Tensor, y: torch.Tensor, *, tile: int | None = None,
                spatial: bool = False) -> torch.Tensor:
    """LPIPS of a pair of any size, via :func:`lpips_stage_maps`.

    Args:
        model: a :class:`restorer.metrics.lpips.LPIPS` module.
        x, y: (N, 3, H, W) tensors, RGB in [0, 1], same shape.
        tile: block core side in pixels (default ``DEFAULT_TILE[net]``).
        spatial: return the (N, 1, H, W) per-pixel map (as the reference's
            ``spatial=True``) instead of the (N,) values.

    Returns:
        (N,) float32 LPIPS values (lower is better, 0 = identical), or the
        (N, 1, H, W) float32 map; on the model's device. Equal to ``model(x, y)``
        within 1e-5 (tested).

    Raises:
        ValueError: as :func:`lpips_stage_maps`.
    """
    from .lpips import combine_stage_maps

    with torch.inference_mode():
        maps = lpips_stage_maps(model, x, y, tile=tile)
        return combine_stage_maps(maps, tuple(x.shape[-2:]) if spatial else None)


def dists_tiled(model, x: torch.Tensor, y: torch.Tensor, *, tile: int | None = None) -> torch.Tensor:
    """DISTS of a pair of any size: per-channel statistics accumulated block by block.

    Each block's owned feature cells add to float64 sums of a, b, a^2, b^2 and
    ab per stage and channel; the means, variances and covariance of
    :class:`restorer.metrics.dists.DISTS` then come from the sums
    (``var = E[a^2] - E[a]^2``, in float64).

    Args:
        model: a :class:`restorer.metrics.dists.DISTS` module.
        x, y: (N, 3, H, W) tensors, RGB in [0, 1], same shape, H, W >= 16.
        tile: block core side in pixels (default ``DEFAULT_TILE["dists"]``).

    Returns:
        (N,) float32 DISTS values on the model's device (lower is better, 0 =
        identical); equal to ``model(x, y)`` within 1e-5 (tested).

    Raises:
        ValueError: shapes differ, are not (N, 3, H, W), or smaller than 16x16.
    """
    from .dists import _C1, _C2, _CHANNELS, MIN_SIZE

    _check_same(x, y, "DISTS")
    n, _, h, w = x.shape
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"DISTS needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, got {w}x{h}")
    dev = model.mean.device
    acc = _acc_dtype(dev)
    stats = [torch.zeros(5, n, c, dtype=torch.float64) for c in _CHANNELS]
    counts = [hl * wl for hl, wl in stage_sizes("dists", h, w)]
    with torch.inference_mode():
        for box in blocks(h, w, tile or DEFAULT_TILE["dists"]):
            iy0, iy1, ix0, ix1 = _input_box(box, MARGIN["dists"], h, w)
            # Both backbones advance stage by stage; each stage is reduced to sums, then freed.
            fa = model._stage_iter(x[..., iy0:iy1, ix0:ix1].to(dev, torch.float32))
            fb = model._stage_iter(y[..., iy0:iy1, ix0:ix1].to(dev, torch.float32))
            for k, (st, a, b) in enumerate(zip(stats, fa, fb)):
                (a, _), = _owned([a], box, "dists", h, w, (iy0, ix0), stages=[k])
                (b, _), = _owned([b], box, "dists", h, w, (iy0, ix0), stages=[k])
                a = a.to(acc)
                b = b.to(acc)
                sums = torch.stack([a.sum((2, 3)), b.sum((2, 3)), (a * a).sum((2, 3)), (b * b).sum((2, 3)),
                                    (a * b).sum((2, 3))])
                st += sums.to("cpu", torch.float64)
                del a, b
        alphas = torch.split(model.alpha.to("cpu", torch.float64), list(_CHANNELS), dim=1)
        betas = torch.split(model.beta.to("cpu", torch.float64), list(_CHANNELS), dim=1)
        score = torch.zeros(n, dtype=torch.float64)
        for st, cnt, alpha, beta in zip(stats, counts, alphas, betas):
            mx, my, exx, eyy, exy = (st / cnt).unbind(0)
            vx, vy, cov = exx - mx * mx, eyy - my * my, exy - mx * my
            texture = (2 * mx * my + _C1) / (mx * mx + my * my + _C1)
            structure = (2 * cov + _C2) / (vx + vy + _C2)
            score = score + (alpha.view(1, -1) * texture + beta.view(1, -1) * structure).sum(1)
        return (1 - score).float().to(dev)


def ssim_tiled(x: torch.Tensor, y: torch.Tensor, *, band: int = 512, data_range: float = 1.0,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Mean SSIM of a pair of any size, computed in horizontal bands.

    Each band of ``band`` map rows is computed from ``band + 10`` image rows
    (the 11x11 window), so the result is :func:`restorer.metrics.ssim.ssim` of
    the whole images (same channel-centring offset, float64 accumulation).

    Args:
        x, y: (N, C, H, W) tensors in [0, ``data_range``], same shape, H, W >= 11.
        band: map rows per band (>= 1).
        data_range: the value of white.
        device: where to compute (default: ``x``'s device).

    Returns:
        (N,) float32 mean SSIM (higher is better, 1 = identical), on ``device``.

    Raises:
        ValueError: as :func:`restorer.metrics.ssim.ssim_map`.
    """
    from .ssim import WINDOW_SIZE, _ssim_map, check_pair

    check_pair(x, y)
    n, c, h, w = x.shape
    if h < WINDOW_SIZE or w < WINDOW_SIZE:
        raise ValueError(f"SSIM needs images of at least {WINDOW_SIZE}x{WINDOW_SIZE} pixels, got {w}x{h}")
    dev = torch.device(device) if device is not None else x.device
    with torch.inference_mode():
        acc = _acc_dtype(x.device)
        offset = torch.zeros(n, c, 1, 1, dtype=torch.float64)
        for r0 in range(0, h, 4096):  # global per-channel offset
            part = x[..., r0:r0 + 4096, :].to(acc) + y[..., r0:r0 + 4096, :].to(acc)
            offset += part.sum((2, 3), keepdim=True).to("cpu", torch.float64)
        offset = (offset / (2 * h * w)).float().to(dev)
        rows = h - WINDOW_SIZE + 1
        total = torch.zeros(n, dtype=torch.float64)
        for r0 in range(0, rows, max(1, band)):
            r1 = min(rows, r0 + band)
            xs = x[..., r0:r1 + WINDOW_SIZE - 1, :].to(dev, torch.float32)
            ys = y[..., r0:r1 + WINDOW_SIZE - 1, :].to(dev, torch.float32)
            total += _ssim_map(xs, ys, data_range, offset).to(_acc_dtype(dev)).sum((1, 2, 3)).to("cpu", torch.float64)
        return (total / (rows * (w - WINDOW_SIZE + 1))).float().to(dev)
