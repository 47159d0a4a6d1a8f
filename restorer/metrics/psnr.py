"""Peak signal-to-noise ratio."""
from __future__ import annotations

import torch

from ._checks import check_pair

__all__ = ["psnr", "rgb_to_luma"]

# ITU-R BT.601 luma as in MATLAB's rgb2ycbcr, the convention of SR papers
# (e.g. EDSR, ESRGAN, SwinIR evaluation code): Y = 16 + (65.481 R + 128.553 G + 24.966 B)
# for R, G, B in [0, 1] and Y in [0, 255]; divided by 255 here to stay in [0, 1] units.
_BT601 = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)
_BT601_OFFSET = 16.0 / 255.0


def rgb_to_luma(x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Convert RGB to BT.601 luma Y as used in super-resolution papers.

    Args:
        x: (N, 3, H, W) float tensor, RGB in [0, ``data_range``].
        data_range: the value of white (1.0 for our [0, 1] convention).

    Returns:
        (N, 1, H, W) float32 tensor, Y in [16/255, 235/255] * ``data_range``
        (MATLAB ``rgb2ycbcr`` scaled to the input's range).

    Raises:
        ValueError: ``x`` does not have 3 channels.

    Source: ITU-R BT.601; MATLAB ``rgb2ycbcr``.
    """
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"luma needs (N, 3, H, W) RGB input, got {tuple(x.shape)}")
    x = x.float()
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _BT601[0] * r + _BT601[1] * g + _BT601[2] * b + _BT601_OFFSET * data_range


def psnr(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    *,
    luma: bool = False,
) -> torch.Tensor:
    """Peak signal-to-noise ratio, in dB. Higher is better.

    ``PSNR = 10 * log10(data_range**2 / MSE)``, with the mean squared error taken
    over all channels and pixels of each image (RGB PSNR), or over the BT.601
    luma channel only when ``luma=True`` (the "Y channel" PSNR of SR papers;
    unlike most paper code there is no rounding to 8 bits and no border crop).

    Args:
        x: (N, C, H, W) tensor, values in [0, ``data_range``]; computed in float32.
        y: reference, same shape as ``x``.
        data_range: the value of white (1.0 for our [0, 1] float32 convention).
        reduction: ``"mean"`` returns a 0-dim tensor, the mean of the per-image
            PSNRs; ``"none"`` returns the (N,) per-image values.
        luma: compute on Y = BT.601 luma of RGB inputs (needs C == 3).

    Returns:
        float32 tensor in dB, shape () or (N,). Identical images give ``inf``
        (MSE = 0); a mean over a batch containing an identical pair is ``inf`` too.

    Raises:
        ValueError: shapes differ or are not (N, C, H, W); unknown ``reduction``;
            ``luma=True`` without 3 channels.

    Source: standard definition (e.g. Wang et al., "Image quality assessment:
    from error visibility to structural similarity", IEEE TIP 2004, section I).
    """
    check_pair(x, y)
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    x = x.float()
    y = y.float()
    if luma:
        x = rgb_to_luma(x, data_range)
        y = rgb_to_luma(y, data_range)
    mse = (x - y).pow(2).mean(dim=(1, 2, 3))
    value = 10.0 * torch.log10(data_range**2 / mse)  # mse == 0 -> +inf
    return value.mean() if reduction == "mean" else value
