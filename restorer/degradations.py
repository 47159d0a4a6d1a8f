"""Synthetic degradation pipeline: HR patch -> LR input, for training and self-checks.

A first-order version of the classical SR degradation model
``y = JPEG(downscale(x * k) + n)`` (Zhang et al., "Designing a Practical
Degradation Model for Deep Blind Image Super-Resolution", ICCV 2021; Wang et al.,
"Real-ESRGAN", ICCVW 2021), with narrower ranges than Real-ESRGAN's so that a
small generator trained for an hour still handles clean bicubic inputs well.

Per sample, with probability ``p_clean`` the LR image is the plain antialiased
bicubic downscale (the standard x4 benchmark degradation); otherwise:

* blur, p=0.7: Gaussian kernel, isotropic or anisotropic (p=0.5), sigma in
  [0.2, 2.0] HR pixels per axis, random rotation; kernel size 21 (Real-ESRGAN's
  range is 7..21 with sigma in [0.2, 3]).
* downscale by ``scale`` with a random mode among area, bilinear, bicubic
  (antialiased), as in Real-ESRGAN's resize step.
* noise, p=0.5: Gaussian with sigma in [1, 12] on the 0..255 scale, grey (same
  on all channels) with p=0.3 (Real-ESRGAN: sigma 1..30, grey p=0.4).
* JPEG, p=0.6: quality in [40, 95] (Real-ESRGAN: 30..95), with Pillow's encoder.

Everything is driven by an explicit ``numpy.random.Generator`` so a seed gives
the same LR image on every run.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["DegradationConfig", "degrade", "bicubic_downscale", "gaussian_kernel", "jpeg"]


@dataclass(frozen=True)
class DegradationConfig:
    """Ranges of the degradation pipeline (probabilities in [0, 1], sigmas in HR pixels,
    noise on the 0..255 scale, JPEG quality in Pillow's 1..95 scale).

    Attributes:
        scale: integer SR factor (HR side / LR side).
        p_clean: probability of the plain bicubic downscale (no other step).
        p_blur, blur_sigma, p_aniso, kernel_size: Gaussian blur probability,
            sigma range (HR pixels), probability of an anisotropic kernel, and
            kernel side (odd, pixels).
        p_noise, noise_sigma, p_grey_noise: Gaussian noise probability, sigma
            range (0..255 scale), probability of grey (channel-shared) noise.
        p_jpeg, jpeg_quality: JPEG probability and inclusive quality range.

    Values are not validated. Ranges are narrowed from Real-ESRGAN's first
    degradation stage (Wang et al., ICCVW 2021, ``options/train_realesrgan_x4plus.yml``);
    see the module docstring.
    """

    scale: int = 4
    p_clean: float = 0.5
    p_blur: float = 0.7
    blur_sigma: tuple[float, float] = (0.2, 2.0)
    p_aniso: float = 0.5
    kernel_size: int = 21
    p_noise: float = 0.5
    noise_sigma: tuple[float, float] = (1.0, 12.0)
    p_grey_noise: float = 0.3
    p_jpeg: float = 0.6
    jpeg_quality: tuple[int, int] = (40, 95)


def bicubic_downscale(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Antialiased bicubic downscale by an integer factor.

    Args:
        x: float tensor (N, C, H, W) in [0, 1]; H and W divisible by ``scale``.
        scale: integer factor >= 1.

    Returns:
        float tensor (N, C, H // scale, W // scale), clamped to [0, 1] (same
        dtype and device as ``x``; ``x`` itself, unclamped, when ``scale`` is
        1). Matches Pillow's ``Image.resize(..., BICUBIC)`` (antialiased,
        a = -0.5; PyTorch's ``antialias=True`` kernel) to within rounding, i.e.
        the usual ``x4 bicubic`` SR benchmark degradation.
    """
    if scale == 1:
        return x
    h, w = x.shape[-2:]
    return F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """Return a normalised 2-D anisotropic Gaussian kernel.

    Args:
        size: kernel side in pixels (odd for a centred kernel).
        sigma_x, sigma_y: standard deviations in pixels along the rotated axes
            (> 0; 0 gives NaN).
        theta: rotation of the x axis in radians.

    Returns:
        float32 tensor (size, size), non-negative, summing to 1, centred at
        ((size - 1) / 2, (size - 1) / 2).

    Source: Real-ESRGAN / BasicSR ``bivariate_Gaussian``
    (``basicsr/data/degradations.py``).
    """
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy
    v = -s * xx + c * yy
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG-compress one image with Pillow's encoder and decode it again.

    Args:
        x: CPU float tensor (3, H, W), RGB in [0, 1] (clamped, then rounded to
            8 bits); must not require grad.
        quality: Pillow JPEG quality, 1..95 (4:2:0 chroma subsampling, Pillow's
            default).

    Returns:
        float32 tensor (3, H, W) in [0, 1], multiples of 1/255, on the CPU.

    Raises:
        TypeError: ``x`` does not have 3 channels (Pillow cannot build the image).
        RuntimeError: ``x`` is on a GPU or requires grad (``.numpy()`` fails).
    """
    arr = (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


def degrade(hr: torch.Tensor, rng: np.random.Generator, cfg: DegradationConfig = DegradationConfig()) -> torch.Tensor:
    """Degrade one HR image into its LR counterpart.

    Args:
        hr: CPU float32 tensor (C, H, W) in [0, 1], H and W divisible by
            ``cfg.scale`` and larger than ``cfg.kernel_size // 2`` (reflect
            padding of the blur); C = 3 whenever JPEG may be applied.
        rng: numpy random generator (the only source of randomness).
        cfg: ranges; see the module docstring.

    Returns:
        float32 tensor (C, H // scale, W // scale) in [0, 1].

    Raises:
        RuntimeError: the image is too small for the blur's reflect padding.
        TypeError: JPEG was drawn and C != 3 (see :func:`jpeg`).

    Source: first-order version of Real-ESRGAN's degradation (Wang et al.,
    ICCVW 2021) and BSRGAN's (Zhang et al., ICCV 2021); see the module docstring.
    """
    x = hr.unsqueeze(0)
    s = cfg.scale
    if rng.random() < cfg.p_clean:
        return bicubic_downscale(x, s)[0]
    if rng.random() < cfg.p_blur:
        sx = rng.uniform(*cfg.blur_sigma)
        sy = rng.uniform(*cfg.blur_sigma) if rng.random() < cfg.p_aniso else sx
        k = gaussian_kernel(cfg.kernel_size, sx, sy, rng.uniform(0, math.pi))
        pad = cfg.kernel_size // 2
        c = x.shape[1]
        x = F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), k.expand(c, 1, -1, -1), groups=c)
    h, w = x.shape[-2:]
    mode = rng.choice(["area", "bilinear", "bicubic"])
    if mode == "area":
        x = F.interpolate(x, size=(h // s, w // s), mode="area")
    else:
        x = F.interpolate(x, size=(h // s, w // s), mode=mode, antialias=True, align_corners=False)
    x = x.clamp(0, 1)
    if rng.random() < cfg.p_noise:
        sigma = rng.uniform(*cfg.noise_sigma) / 255.0
        shape = (1, 1, *x.shape[-2:]) if rng.random() < cfg.p_grey_noise else x.shape
        noise = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) * sigma
        x = (x + noise).clamp(0, 1)
    if rng.random() < cfg.p_jpeg:
        x = jpeg(x[0], int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))).unsqueeze(0)
    return x[0]
