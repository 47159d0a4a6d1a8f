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
"""
from __future__ import annotations

import torch

from .dists import DISTS, get_dists
from .lpips import LPIPS, get_lpips
from .psnr import psnr
from .ssim import ssim, ssim_map

__all__ = ["psnr", "ssim", "ssim_map", "LPIPS", "get_lpips", "DISTS", "get_dists", "compare", "HIGHER_IS_BETTER"]

#: For each key of :func:`compare`'s result: True when a higher value is better.
HIGHER_IS_BETTER = {"lpips_alex": False, "lpips_vgg": False, "dists": False, "psnr": True, "ssim": True}


def compare(image: torch.Tensor, reference: torch.Tensor, device: str | torch.device = "cpu") -> dict[str, float]:
    """All full-reference metrics of ``image`` against ``reference``.

    Args:
        image: (1, 3, H, W) float32 tensor, RGB in [0, 1].
        reference: (1, 3, H, W) float32 tensor, RGB in [0, 1], same size.
        device: where LPIPS runs (``"cpu"``, ``"cuda"``, ``"mps"``, ...); the
            LPIPS networks are built once per process and device (:func:`get_lpips`).

    Returns:
        A dict of Python floats:
        ``psnr`` (RGB PSNR in dB, higher is better; ``inf`` for identical images),
        ``ssim`` (mean SSIM over channels, higher is better, 1 = identical),
        ``lpips_alex`` and ``lpips_vgg`` (LPIPS v0.1 with AlexNet / VGG16,
        lower is better, 0 = identical), ``dists`` (DISTS, lower is better,
        0 = identical).

    Raises:
        ValueError: the inputs are not (1, 3, H, W) tensors, or their sizes differ
            (one-line message naming both sizes as WIDTHxHEIGHT); also when the
            image is smaller than 31x31 pixels (LPIPS-Alex's minimum).
        RuntimeError: ``device`` is unknown to torch or unavailable
            (AssertionError on a CPU-only torch build).
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.

    Source: see the table in this module's docstring.
    """
    for name, t in (("image", image), ("reference", reference)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a (1, 3, H, W) RGB tensor, got {shape}")
    if image.shape != reference.shape:
        (ih, iw), (rh, rw) = image.shape[-2:], reference.shape[-2:]
        raise ValueError(f"image is {iw}x{ih} but reference is {rw}x{rh}; sizes must match")
    dev = torch.device(device)
    x = image.to(device=dev, dtype=torch.float32)
    y = reference.to(device=dev, dtype=torch.float32)
    alex = get_lpips("alex", dev)
    vgg = get_lpips("vgg16", dev)
    dists = get_dists(dev)
    with torch.inference_mode():
        return {
            "psnr": float(psnr(x, y)),
            "ssim": float(ssim(x, y)[0]),
            "lpips_alex": float(alex(x, y)[0]),
            "lpips_vgg": float(vgg(x, y)[0]),
            "dists": float(dists(x, y)[0]),
        }
