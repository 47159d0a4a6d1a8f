"""Full-reference image quality metrics: PSNR, SSIM, LPIPS, DISTS.

All metrics take (N, C, H, W) float tensors, RGB in [0, 1], and compute in
float32 whatever the caller's precision. ``x`` is the image under test and
``y`` the reference.

==========  =========  ==========  ==========================================
metric      better     unit        source
==========  =========  ==========  ==========================================
psnr        higher     dB          standard; ``luma=True``: BT.601 Y as SR papers
ssim        higher     [-1, 1]     Wang et al., IEEE TIP 2004 (= scikit-image)
lpips       lower      >= 0        Zhang et al., CVPR 2018, v0.1 (= ``lpips`` 0.1.4)
dists       lower      [0, 1]      Ding et al., TPAMI 2020 (= ``DISTS_pytorch`` 0.1)
==========  =========  ==========  ==========================================

Also: per-pixel maps (:func:`lpips_map`, :func:`ssim_map`), viewport metrics
(:class:`RegionMetrics`), the no-reference :func:`consistency` readout
(``region.py``), block-wise computation for large images (``tiled.py``) and
the heat-map rendering (``heatmap.py``).
"""
from __future__ import annotations

import torch

from ..facts import HIGHER_IS_BETTER, MIN_SIDE  # re-exported; names, units, directions: restorer.facts.METRICS
from ._checks import as_rgb, prepare_pair
from .dists import DISTS, get_dists
from .lpips import LPIPS, get_lpips
from .psnr import psnr
from .region import RegionMetrics, consistency, lpips_map
from .ssim import ssim, ssim_map
from .tiled import dists_tiled, lpips_tiled, ssim_tiled

__all__ = ["psnr", "ssim", "ssim_map", "LPIPS", "get_lpips", "DISTS", "get_dists", "compare", "HIGHER_IS_BETTER",
           "lpips_map", "RegionMetrics", "consistency", "MIN_SIDE", "prepare_pair", "as_rgb"]


def compare(image: torch.Tensor, reference: torch.Tensor, device: str | torch.device = "cpu",
            *, luma: bool = False, tile: int | None = None) -> dict[str, float]:
    """All full-reference metrics of ``image`` against ``reference``.

    Input policy (also :func:`restorer.metrics.region.RegionMetrics` and
    ``python main.py compare``): channels: 3 = RGB; 1 = grayscale, repeated on
    three channels; 4 = RGBA, alpha ignored (colours compared as stored). Sizes
    must be equal, never resized automatically (a one-line ``ValueError``
    names both sizes). Smallest size 31x31 pixels (LPIPS-Alex). Any size above
    works (odd sizes such as 1021x767 included): LPIPS, DISTS and SSIM are
    computed in blocks with overlap on large images (:mod:`restorer.metrics.tiled`),
    with the same result as one pass.

    Args:
        image: (1, C, H, W) tensor in [0, 1] (C = 3, 1 or 4, see above).
        reference: the same for the reference, same H and W.
        device: where the metrics run (``"cpu"``, ``"cuda"``, ``"mps"``, ...), in
            float32; the networks are built once per process and device
            (:func:`get_lpips`, :func:`get_dists`).
        luma: also return ``psnr_y``, the PSNR of BT.601 luma (SR papers' Y channel).
        tile: block core side in pixels for LPIPS/DISTS (default per network,
            :data:`restorer.metrics.tiled.DEFAULT_TILE`).

    Returns:
        A dict of Python floats:
        ``psnr`` (RGB PSNR in dB, higher is better; ``inf`` for identical images),
        ``ssim`` (mean SSIM over channels, higher is better, 1 = identical),
        ``lpips_alex`` and ``lpips_vgg`` (LPIPS v0.1 with AlexNet / VGG16,
        lower is better, 0 = identical), ``dists`` (DISTS, lower is better,
        0 = identical); with ``luma``, ``psnr_y`` (dB, higher is better).

    Raises:
        ValueError: the inputs break the policy above (one line: shape, both
            sizes as WIDTHxHEIGHT, or the minimum size).
        RuntimeError: ``device`` is unknown to torch or unavailable
            (AssertionError on a CPU-only torch build).
        restorer.weights.WeightsNotFoundError: LPIPS/DISTS weights unavailable offline.

    Source: see the table in this module's docstring.
    """
    x, y = prepare_pair(image, reference)
    dev = torch.device(device)
    alex = get_lpips("alex", dev)
    vgg = get_lpips("vgg16", dev)
    dists = get_dists(dev)
    with torch.inference_mode():
        xd = x.to(device=dev, dtype=torch.float32)
        yd = y.to(device=dev, dtype=torch.float32)
        out = {
            "psnr": float(psnr(xd, yd)),
            "ssim": float(ssim_tiled(xd, yd)[0]),
            "lpips_alex": float(lpips_tiled(alex, xd, yd, tile=tile)[0]),
            "lpips_vgg": float(lpips_tiled(vgg, xd, yd, tile=tile)[0]),
            "dists": float(dists_tiled(dists, xd, yd, tile=tile)[0]),
        }
        if luma:
            out["psnr_y"] = float(psnr(xd, yd, luma=True))
        return out
