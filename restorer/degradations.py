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

Second-order model (:func:`degrade_second_order`, ranges in
:class:`SecondOrderConfig`): Real-ESRGAN's "high-order" degradation, two passes
of blur -> resize -> noise -> JPEG, then a final 2-D sinc filter and JPEG in
random order. Its blur kernels are :func:`mixed_kernel` (isotropic/anisotropic
Gaussian, generalized Gaussian, plateau) and :func:`sinc_kernel`.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = ["DegradationConfig", "degrade", "bicubic_downscale", "gaussian_kernel", "jpeg",
           "SecondOrderConfig", "degrade_second_order", "generalized_gaussian_kernel", "plateau_kernel",
           "sinc_kernel", "mixed_kernel", "filter2d", "add_gaussian_noise", "add_poisson_noise",
           "FAMILIES", "MixConfig", "degrade_family", "degrade_mix"]


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


# ---------------------------------------------------------------------------
# Second-order degradation (Real-ESRGAN)
# ---------------------------------------------------------------------------
#
# Every range below is Real-ESRGAN's, from the paper (Wang, Xie, Dong, Shan,
# "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic
# Data", ICCVW 2021, section 3) and its training options
# ``options/train_realesrgan_x4plus.yml`` (first pass: keys without suffix;
# second pass: keys ending in ``2``), with the kernel sampling of
# ``realesrgan/data/realesrgan_dataset.py`` and the pass order of
# ``realesrgan/models/realesrgan_model.py`` (``feed_data``). Our additions
# (``p_clean``) and differences are marked as such.

#: Kernel families of Real-ESRGAN's ``kernel_list`` and their ``kernel_prob``.
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


@dataclass(frozen=True)
class SecondOrderConfig:
    """Ranges of the second-order degradation (Real-ESRGAN's x4plus options).

    Units: blur sigmas in pixels of the image being blurred, noise sigma on
    the 0..255 scale, Poisson scale unitless, JPEG quality on the 1..95 scale
    (Real-ESRGAN's DiffJPEG; we use Pillow's encoder with the rounded quality),
    resize factors relative to the current image, sinc cutoff in radians per
    pixel. Values are not validated.

    Attributes (option name in ``train_realesrgan_x4plus.yml`` in brackets):
        scale: SR factor (``scale``: 4).
        p_clean: OUR ADDITION, not in Real-ESRGAN: probability that a sample is
            the plain antialiased bicubic downscale, so the model keeps working
            on clean inputs (the standard benchmark degradation). 0 gives
            Real-ESRGAN's pipeline.
        kernel_range: odd kernel sides to draw from (dataset: ``2*v+1`` for
            v in 3..10, i.e. 7..21); kernels are zero-padded to 21.
        kernel_probs: probabilities of :data:`KERNEL_TYPES` (``kernel_prob``:
            0.45, 0.25, 0.12, 0.03, 0.12, 0.03).
        sinc_prob, sinc_prob2: probability that a pass's blur is a sinc
            kernel instead (``sinc_prob``, ``sinc_prob2``: 0.1).
        blur_sigma, blur_sigma2: Gaussian sigma range per axis (``blur_sigma``
            [0.2, 3], ``blur_sigma2`` [0.2, 1.5]).
        betag_range, betap_range: shape exponents of the generalized Gaussian
            [0.5, 4] and plateau [1, 2] kernels (``betag_range``, ``betap_range``,
            same in both passes).
        p_blur2: probability of the second pass's blur (``second_blur_prob``: 0.8);
            the first pass always blurs.
        resize_probs, resize_probs2: probabilities of up / down / keep
            (``resize_prob`` [0.2, 0.7, 0.1], ``resize_prob2`` [0.3, 0.4, 0.3]).
        resize_range, resize_range2: factor range; "up" draws from
            [1, high], "down" from [low, 1] (``resize_range`` [0.15, 1.5],
            ``resize_range2`` [0.3, 1.2]).
        p_gaussian_noise, p_gaussian_noise2: Gaussian noise probability, else
            Poisson (``gaussian_noise_prob``, ``gaussian_noise_prob2``: 0.5).
        noise_range, noise_range2: Gaussian sigma on the 0..255 scale
            (``noise_range`` [1, 30], ``noise_range2`` [1, 25]).
        poisson_scale_range, poisson_scale_range2: Poisson noise scale
            (``poisson_scale_range`` [0.05, 3], ``poisson_scale_range2`` [0.05, 2.5]).
        p_grey_noise: probability that noise is the same on all channels
            (``gray_noise_prob``, ``gray_noise_prob2``: 0.4).
        jpeg_range, jpeg_range2: JPEG quality (``jpeg_range``, ``jpeg_range2``: [30, 95]).
        final_sinc_prob: probability of the final sinc filter (``final_sinc_prob``: 0.8),
            cutoff in [pi/3, pi] (dataset code).
    """

    scale: int = 4
    p_clean: float = 0.0
    kernel_range: tuple[int, ...] = tuple(2 * v + 1 for v in range(3, 11))
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sinc_prob: float = 0.1
    sinc_prob2: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    p_blur2: float = 0.8
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_probs2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    p_gaussian_noise: float = 0.5
    p_gaussian_noise2: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    p_grey_noise: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)
    jpeg_range2: tuple[int, int] = (30, 95)
    final_sinc_prob: float = 0.8


#: Side of every padded blur kernel (``blur_kernel_size``: 21).
KERNEL_PAD_TO = 21


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> torch.Tensor:
    """``d^T Sigma^-1 d`` on a (size, size) grid centred at ((size-1)/2, (size-1)/2),
    float64, with Sigma = R(theta) diag(sigma_x^2, sigma_y^2) R(theta)^T."""
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy
    v = -s * xx + c * yy
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> torch.Tensor:
    """Normalised generalized Gaussian kernel ``exp(-0.5 * (d^T Sigma^-1 d)^beta)``.

    Args:
        size: kernel side in pixels (odd).
        sigma_x, sigma_y: scale along the rotated axes, pixels (> 0).
        theta: rotation in radians.
        beta: shape exponent (1 = Gaussian; < 1 heavier tails, > 1 flatter top).

    Returns:
        float32 tensor (size, size), non-negative, summing to 1.

    Source: Liu et al., "Estimating generalized Gaussian blur kernels for
    out-of-focus image deblurring" (IEEE TCSVT 2020), as used by Real-ESRGAN
    (BasicSR ``bivariate_generalized_Gaussian``).
    """
    k = torch.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta) ** beta)
    return (k / k.sum()).float()


def plateau_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> torch.Tensor:
    """Normalised plateau-shaped kernel ``1 / (1 + (d^T Sigma^-1 d)^beta)``.

    Args: as :func:`generalized_gaussian_kernel` (``beta`` in [1, 2] in Real-ESRGAN).

    Returns:
        float32 tensor (size, size), non-negative, summing to 1.

    Source: Real-ESRGAN, section 3.1 / BasicSR ``bivariate_plateau``.
    """
    k = 1.0 / (1.0 + _quadratic_form(size, sigma_x, sigma_y, theta) ** beta)
    return (k / k.sum()).float()


def sinc_kernel(size: int, cutoff: float) -> torch.Tensor:
    """Normalised 2-D sinc (ideal circular low-pass) kernel.

    ``k(r) = cutoff * J1(cutoff * r) / (2 pi r)`` with ``r`` the distance to the
    centre and ``k(0) = cutoff^2 / (4 pi)``: the impulse response of a filter
    that passes spatial frequencies below ``cutoff`` (radians per pixel) and
    stops those above, truncated to ``size`` pixels (so with ringing, which is
    the point: it simulates ringing and overshoot artefacts).

    Args:
        size: kernel side in pixels (odd).
        cutoff: cutoff frequency in radians per pixel, in (0, pi].

    Returns:
        float32 tensor (size, size) summing to 1 (it has negative lobes).

    Source: Real-ESRGAN, section 3.1 / BasicSR ``circular_lowpass_kernel``.
    """
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    r = torch.sqrt(xx**2 + yy**2)
    safe = torch.where(r == 0, torch.ones_like(r), r)
    k = cutoff * torch.special.bessel_j1(cutoff * safe) / (2 * math.pi * safe)
    k = torch.where(r == 0, torch.full_like(r, cutoff**2 / (4 * math.pi)), k)
    return (k / k.sum()).float()


def _pad_kernel(k: torch.Tensor, size: int = KERNEL_PAD_TO) -> torch.Tensor:
    p = (size - k.shape[-1]) // 2
    return F.pad(k, (p, p, p, p)) if p > 0 else k


def _beta(rng: np.random.Generator, low: float, high: float) -> float:
    """Real-ESRGAN's beta draw: half the time in [low, 1], else in [1, high]."""
    return float(rng.uniform(low, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, high))


def mixed_kernel(rng: np.random.Generator, size: int, sigma_range: tuple[float, float],
                 betag_range: tuple[float, float], betap_range: tuple[float, float],
                 probs: tuple[float, ...]) -> tuple[torch.Tensor, str]:
    """Draw one blur kernel from Real-ESRGAN's mixture.

    Family by ``probs`` over :data:`KERNEL_TYPES`; sigmas uniform in
    ``sigma_range`` (both axes equal and no rotation for ``*iso``; independent
    and rotated by a uniform angle in [-pi, pi] for ``*aniso``); beta drawn half
    the time below 1 and half above (BasicSR ``random_mixed_kernels``).

    Args:
        rng: the random source.
        size: odd kernel side in pixels.
        sigma_range, betag_range, betap_range: see :class:`SecondOrderConfig`.
        probs: one probability per entry of :data:`KERNEL_TYPES` (sum 1).

    Returns:
        ``(kernel, family)``: float32 (size, size) kernel summing to 1, and its
        family name.
    """
    family = KERNEL_TYPES[int(rng.choice(len(KERNEL_TYPES), p=np.asarray(probs) / np.sum(probs)))]
    sx = float(rng.uniform(*sigma_range))
    if family.endswith("aniso"):
        sy = float(rng.uniform(*sigma_range))
        theta = float(rng.uniform(-math.pi, math.pi))
    else:
        sy, theta = sx, 0.0
    if family.startswith("generalized"):
        k = generalized_gaussian_kernel(size, sx, sy, theta, _beta(rng, *betag_range))
    elif family.startswith("plateau"):
        k = plateau_kernel(size, sx, sy, theta, _beta(rng, *betap_range))
    else:
        k = gaussian_kernel(size, sx, sy, theta)
    return k, family


def _draw_blur_kernel(rng: np.random.Generator, cfg: SecondOrderConfig, second: bool) -> torch.Tensor:
    """One pass's blur kernel, padded to 21 (Real-ESRGAN dataset code): a sinc
    with probability ``sinc_prob`` (cutoff in [pi/3, pi] for sides < 13, else
    [pi/5, pi]), otherwise :func:`mixed_kernel`."""
    size = int(rng.choice(cfg.kernel_range))
    if rng.random() < (cfg.sinc_prob2 if second else cfg.sinc_prob):
        low = math.pi / 3 if size < 13 else math.pi / 5
        return _pad_kernel(sinc_kernel(size, float(rng.uniform(low, math.pi))))
    sigma = cfg.blur_sigma2 if second else cfg.blur_sigma
    k, _ = mixed_kernel(rng, size, sigma, cfg.betag_range, cfg.betap_range, cfg.kernel_probs)
    return _pad_kernel(k)


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve every channel of ``x`` with one 2-D kernel, same size out.

    Args:
        x: float32 (N, C, H, W).
        kernel: float32 (k, k), k odd.

    Returns:
        float32 (N, C, H, W). Borders are reflect-padded (Real-ESRGAN's
        ``filter2D``), or replicate-padded when the image is too small to reflect.
        Strictly a correlation; every kernel used here is point-symmetric, so it
        equals the convolution.
    """
    pad = kernel.shape[-1] // 2
    c = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    return F.conv2d(F.pad(x, (pad,) * 4, mode=mode), kernel.to(x.dtype).expand(c, 1, -1, -1), groups=c)


def add_gaussian_noise(x: torch.Tensor, rng: np.random.Generator, sigma: float, grey: bool) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``sigma`` (0..255 scale) and clamp to [0, 1].

    Args:
        x: float32 (N, C, H, W) in [0, 1].
        rng: the random source.
        sigma: standard deviation on the 0..255 scale.
        grey: one noise field shared by all channels (luminance-only noise).

    Returns:
        float32 tensor like ``x``, clamped to [0, 1] (not rounded, as Real-ESRGAN).

    Source: BasicSR ``random_add_gaussian_noise_pt``.
    """
    shape = (x.shape[0], 1, *x.shape[-2:]) if grey else tuple(x.shape)
    noise = torch.from_numpy(rng.standard_normal(shape).astype(np.float32)) * (sigma / 255.0)
    return (x + noise).clamp(0, 1)


def add_poisson_noise(x: torch.Tensor, rng: np.random.Generator, scale: float, grey: bool) -> torch.Tensor:
    """Add signal-dependent Poisson (shot) noise, scaled by ``scale``, and clamp to [0, 1].

    As BasicSR's ``add_poisson_noise_pt``: with ``v`` the number of distinct
    8-bit levels in the image rounded up to a power of two, the noise is
    ``(Poisson(x * v) / v - x) * scale``, computed on the BT.601 luma for
    ``grey`` noise (then added to all channels).

    Args:
        x: float32 (N, C, H, W) in [0, 1].
        rng: the random source.
        scale: noise multiplier (Real-ESRGAN: 0.05..3).
        grey: luminance-only noise.

    Returns:
        float32 tensor like ``x``, clamped to [0, 1].
    """
    base = x
    if grey and x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
        base = (x * w).sum(1, keepdim=True)
    levels = len(np.unique(np.round(base.numpy() * 255.0)))
    vals = float(2 ** math.ceil(math.log2(max(levels, 2))))
    lam = np.clip(base.numpy().astype(np.float64) * vals, 0, None)
    noisy = torch.from_numpy((rng.poisson(lam) / vals).astype(np.float32))
    return (x + (noisy - base) * scale).clamp(0, 1)


_RESIZE_MODES = ("area", "bilinear", "bicubic")


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to ``size`` (h, w) as Real-ESRGAN does: ``F.interpolate`` without
    antialiasing (so downscales alias, one of the simulated artefacts)."""
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def _noise(x: torch.Tensor, rng: np.random.Generator, cfg: SecondOrderConfig, second: bool) -> torch.Tensor:
    if rng.random() < (cfg.p_gaussian_noise2 if second else cfg.p_gaussian_noise):
        sigma = float(rng.uniform(*(cfg.noise_range2 if second else cfg.noise_range)))
        return add_gaussian_noise(x, rng, sigma, bool(rng.random() < cfg.p_grey_noise))
    scale = float(rng.uniform(*(cfg.poisson_scale_range2 if second else cfg.poisson_scale_range)))
    return add_poisson_noise(x, rng, scale, bool(rng.random() < cfg.p_grey_noise))


def _jpeg_batch(x: torch.Tensor, rng: np.random.Generator, qrange: tuple[int, int]) -> torch.Tensor:
    q = int(round(rng.uniform(qrange[0], qrange[1])))
    return torch.stack([jpeg(im, q) for im in x.clamp(0, 1)])


def degrade_second_order(hr: torch.Tensor, rng: np.random.Generator,
                         cfg: SecondOrderConfig = SecondOrderConfig()) -> torch.Tensor:
    """Degrade one HR image into its LR counterpart with Real-ESRGAN's second-order model.

    Steps (Real-ESRGAN ``feed_data``; every draw from ``rng``):

    0. OUR ADDITION: with probability ``cfg.p_clean``, return the plain
       antialiased bicubic downscale (:func:`bicubic_downscale`).
    1. First pass: blur with a kernel from :func:`mixed_kernel` or a sinc;
       resize up/down/keep with area/bilinear/bicubic; Gaussian or Poisson
       noise (grey or colour); JPEG (quality 30..95).
    2. Second pass: blur with probability 0.8 (narrower sigmas); resize to
       ``HR / scale * factor``; noise; then, in random order (p 0.5 each),
       either [resize to ``HR / scale``, final sinc filter, JPEG] or
       [JPEG, resize to ``HR / scale``, final sinc filter]. The final sinc
       filter is applied with probability 0.8 (cutoff in [pi/3, pi]), else
       the identity.
    3. Clamp and round to 8 bits (Real-ESRGAN rounds ``* 255`` at the end).

    Differences from Real-ESRGAN: runs per image on the CPU (not on a GPU
    batch); Pillow JPEG with integer quality instead of DiffJPEG; the HR
    target is not unsharp-masked.

    Args:
        hr: CPU float32 tensor (3, H, W) in [0, 1], H and W divisible by
            ``cfg.scale``.
        rng: numpy random generator, the only source of randomness (same state
            -> same output).
        cfg: ranges (:class:`SecondOrderConfig`).

    Returns:
        float32 tensor (3, H // scale, W // scale) in [0, 1], multiples of 1/255
        (except in the ``p_clean`` branch, which is not rounded).

    Raises:
        TypeError: ``hr`` does not have 3 channels (JPEG).
    """
    x = hr.unsqueeze(0)
    h, w = x.shape[-2:]
    s = cfg.scale
    if cfg.p_clean and rng.random() < cfg.p_clean:
        return bicubic_downscale(x, s)[0]
    # the three kernels are drawn first, in the dataset's order (kernel1, kernel2, sinc)
    k1 = _draw_blur_kernel(rng, cfg, second=False)
    k2 = _draw_blur_kernel(rng, cfg, second=True)
    if rng.random() < cfg.final_sinc_prob:
        size = int(rng.choice(cfg.kernel_range))
        k_final = _pad_kernel(sinc_kernel(size, float(rng.uniform(math.pi / 3, math.pi))))
    else:
        k_final = None
    # ---- first pass
    x = filter2d(x, k1)
    kind = int(rng.choice(3, p=np.asarray(cfg.resize_probs)))
    f = rng.uniform(1, cfg.resize_range[1]) if kind == 0 else rng.uniform(cfg.resize_range[0], 1) if kind == 1 else 1.0
    mode = _RESIZE_MODES[int(rng.integers(3))]
    x = _resize(x, (x.shape[-2] * f, x.shape[-1] * f), mode)
    x = _noise(x, rng, cfg, second=False)
    x = _jpeg_batch(x, rng, cfg.jpeg_range)
    # ---- second pass
    if rng.random() < cfg.p_blur2:
        x = filter2d(x, k2)
    kind = int(rng.choice(3, p=np.asarray(cfg.resize_probs2)))
    f = rng.uniform(1, cfg.resize_range2[1]) if kind == 0 else rng.uniform(cfg.resize_range2[0], 1) if kind == 1 else 1.0
    mode = _RESIZE_MODES[int(rng.integers(3))]
    x = _resize(x, (h / s * f, w / s * f), mode)
    x = _noise(x, rng, cfg, second=True)
    # ---- final sinc + JPEG, in random order
    mode = _RESIZE_MODES[int(rng.integers(3))]
    if rng.random() < 0.5:
        x = _resize(x, (h // s, w // s), mode)
        if k_final is not None:
            x = filter2d(x, k_final)
        x = _jpeg_batch(x, rng, cfg.jpeg_range2)
    else:
        x = _jpeg_batch(x, rng, cfg.jpeg_range2)
        x = _resize(x, (h // s, w // s), mode)
        if k_final is not None:
            x = filter2d(x, k_final)
    return (torch.round(x.clamp(0, 1) * 255.0) / 255.0)[0]


# ---------------------------------------------------------------------------
# Mixture of degradation families (issue 11)
# ---------------------------------------------------------------------------

#: Degradation families of :func:`degrade_family`, in the order of ``MixConfig.probs``.
FAMILIES = ("clean", "web_jpeg", "phone", "second")


@dataclass(frozen=True)
class MixConfig:
    """A mixture of the degradations users bring (:func:`degrade_mix`).

    Families (:data:`FAMILIES`), each drawn with probability ``probs``:

    * ``clean``: downscaled screenshots and renders: antialiased bicubic,
      bilinear or area downscale, nothing else.
    * ``web_jpeg``: a web image: antialiased downscale, JPEG quality
      ``jpeg_quality`` (4:2:0), with ``p_double_jpeg`` a second save at
      ``jpeg2_quality`` (re-uploads).
    * ``phone``: a phone shot: Gaussian blur (sigma ``blur_sigma`` HR pixels,
      anisotropic with p 0.5), antialiased downscale, sensor noise at LR
      resolution (Gaussian sigma ``noise_sigma`` on the 0..255 scale, grey
      with p 0.3, or with ``p_poisson`` Poisson noise of scale
      ``poisson_scale``), then JPEG ``phone_jpeg``.
    * ``second``: Real-ESRGAN's second-order model (:func:`degrade_second_order`,
      ``p_clean`` 0), for breadth.

    Ranges lie inside Real-ESRGAN's (Wang et al., ICCVW 2021) and BSRGAN's
    (Zhang et al., ICCV 2021) except the web-JPEG quality, which goes down to
    20 (Real-ESRGAN: 30) because web thumbnails do.
    """

    scale: int = 4
    probs: tuple[float, float, float, float] = (0.15, 0.3, 0.3, 0.25)
    jpeg_quality: tuple[int, int] = (20, 90)
    p_double_jpeg: float = 0.3
    jpeg2_quality: tuple[int, int] = (60, 95)
    blur_sigma: tuple[float, float] = (0.3, 2.0)
    noise_sigma: tuple[float, float] = (1.0, 20.0)
    p_poisson: float = 0.3
    poisson_scale: tuple[float, float] = (0.05, 2.0)
    phone_jpeg: tuple[int, int] = (50, 95)


def _aa_downscale(x: torch.Tensor, scale: int, rng: np.random.Generator) -> torch.Tensor:
    """Antialiased downscale by ``scale`` with a random kernel (bicubic, bilinear or area)."""
    h, w = x.shape[-2:]
    mode = ("bicubic", "bilinear", "area")[int(rng.integers(3))]
    if mode == "area":
        return F.interpolate(x, size=(h // scale, w // scale), mode="area")
    return F.interpolate(x, size=(h // scale, w // scale), mode=mode, antialias=True, align_corners=False).clamp(0, 1)


def degrade_family(hr: torch.Tensor, rng: np.random.Generator, family: str,
                   cfg: MixConfig = MixConfig()) -> torch.Tensor:
    """Degrade one HR image with one family of :class:`MixConfig`.

    Args:
        hr: CPU float32 tensor (3, H, W) in [0, 1], H and W divisible by ``cfg.scale``.
        rng: the only source of randomness.
        family: one of :data:`FAMILIES`.
        cfg: ranges.

    Returns:
        float32 tensor (3, H // scale, W // scale) in [0, 1], rounded to 8 bits.

    Raises:
        ValueError: unknown ``family``.
    """
    x = hr.unsqueeze(0)
    s = cfg.scale
    if family == "second":
        return degrade_second_order(hr, rng, SecondOrderConfig(scale=s, p_clean=0.0))
    if family == "clean":
        x = _aa_downscale(x, s, rng)
    elif family == "web_jpeg":
        x = _aa_downscale(x, s, rng)
        x = jpeg(x[0], int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))[None]
        if rng.random() < cfg.p_double_jpeg:
            x = jpeg(x[0], int(rng.integers(cfg.jpeg2_quality[0], cfg.jpeg2_quality[1] + 1)))[None]
    elif family == "phone":
        sx = rng.uniform(*cfg.blur_sigma)
        sy = rng.uniform(*cfg.blur_sigma) if rng.random() < 0.5 else sx
        x = filter2d(x, gaussian_kernel(KERNEL_PAD_TO, sx, sy, rng.uniform(0, math.pi)))
        x = _aa_downscale(x, s, rng)
        if rng.random() < cfg.p_poisson:
            x = add_poisson_noise(x, rng, float(rng.uniform(*cfg.poisson_scale)), bool(rng.random() < 0.3))
        else:
            x = add_gaussian_noise(x, rng, float(rng.uniform(*cfg.noise_sigma)), bool(rng.random() < 0.3))
        x = jpeg(x[0], int(rng.integers(cfg.phone_jpeg[0], cfg.phone_jpeg[1] + 1)))[None]
    else:
        raise ValueError(f"unknown degradation family {family!r}; expected one of {', '.join(FAMILIES)}")
    return (torch.round(x.clamp(0, 1) * 255.0) / 255.0)[0]


def degrade_mix(hr: torch.Tensor, rng: np.random.Generator, cfg: MixConfig = MixConfig()) -> torch.Tensor:
    """Degrade one HR image with a family drawn from ``cfg.probs`` (:func:`degrade_family`).

    Same arguments and result as :func:`degrade_family`, without ``family``.
    """
    family = FAMILIES[int(rng.choice(len(FAMILIES), p=np.asarray(cfg.probs) / sum(cfg.probs)))]
    return degrade_family(hr, rng, family, cfg)
