"""Colour rendering of per-pixel metric maps (the LPIPS heat map), with a legend.

The colour scale is viridis (perceptually uniform, readable in grey and by
colour-blind viewers): dark purple = 0 (identical), yellow = the top of the
scale. The top is the map's maximum rounded up to 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power
of ten, so tick labels are round numbers.
"""
from __future__ import annotations

import math

import torch

from ..facts import METRICS

__all__ = ["VIRIDIS", "colorize", "nice_ceiling", "render_heatmap"]

#: Viridis sampled at 0, 1/8, ..., 1 (sRGB, 0..255); linear interpolation in between.
#: Source: matplotlib's ``viridis`` (van der Walt and Smith, 2015), nine samples.
VIRIDIS = (
    (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
    (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
)


def nice_ceiling(value: float) -> float:
    """Smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that is >= ``value`` (> 0); 1.0 for value <= 0."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * base >= value * (1 - 1e-9):
            return m * base
    return 10.0 * base


def colorize(values: torch.Tensor, vmax: float) -> torch.Tensor:
    """Map values in [0, vmax] to viridis colours.

    Args:
        values: (H, W) float tensor (any device); values are clipped to [0, vmax].
        vmax: top of the scale (> 0).

    Returns:
        (1, 3, H, W) float32 RGB in [0, 1], on ``values``' device.
    """
    lut = torch.tensor(VIRIDIS, dtype=torch.float32, device=values.device) / 255.0  # (9, 3)
    t = (values.float() / vmax).clamp(0, 1) * (len(VIRIDIS) - 1)
    i0 = t.floor().long().clamp(max=len(VIRIDIS) - 2)
    f = (t - i0).unsqueeze(-1)
    rgb = lut[i0] * (1 - f) + lut[i0 + 1] * f  # (H, W, 3)
    return rgb.permute(2, 0, 1).unsqueeze(0).contiguous()


def render_heatmap(values: torch.Tensor, title: str = METRICS["lpips_alex"].name,
                   note: str = METRICS["lpips_alex"].direction, vmax: float | None = None) -> tuple[torch.Tensor, float]:
    """The map in colour, with a colour bar, tick labels and a title on the right.

    Args:
        values: (H, W) float tensor, >= 0 (e.g. :meth:`RegionMetrics.lpips_map`).
        title: legend title.
        note: second legend line.
        vmax: top of the scale (default: :func:`nice_ceiling` of the map's maximum).

    Returns:
        (image, vmax): image is a (1, 3, H', W + P) float32 RGB tensor in [0, 1]
        on the CPU, the map at the top left (unscaled, one pixel per image pixel),
        the legend panel of width P on the right on a dark grey background;
        H' = max(H, 220) so the legend stays legible on small images.

    Source: text drawn with Pillow's ``ImageDraw`` and its built-in scalable font.
    """
    from PIL import Image, ImageDraw, ImageFont

    from ..io import from_pil

    values = values.detach().float().cpu()
    h, w = values.shape
    if vmax is None:
        vmax = nice_ceiling(float(values.max()) if values.numel() else 0.0)
    font_px = max(12, min(64, h // 40))
    panel = max(130, 9 * font_px)
    out_h = max(h, 220)
    canvas = torch.full((1, 3, out_h, w + panel), 0.16)
    canvas[..., :h, :w] = colorize(values, vmax)
    # Colour bar: top = vmax, bottom = 0.
    bar_top, bar_bottom = int(3.2 * font_px), out_h - font_px
    bar_left, bar_w = w + font_px, max(10, font_px)
    ramp = torch.linspace(vmax, 0, bar_bottom - bar_top).view(-1, 1).expand(-1, bar_w)
    canvas[..., bar_top:bar_bottom, bar_left:bar_left + bar_w] = colorize(ramp, vmax)
    from ..io import to_pil

    im = to_pil(canvas)
    draw = ImageDraw.Draw(im)
    try:
        font = ImageFont.load_default(size=font_px)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        font = ImageFont.load_default()
    draw.text((w + font_px // 2, font_px // 3), title, fill=(240, 240, 240), font=font)
    draw.text((w + font_px // 2, int(1.4 * font_px)), note, fill=(200, 200, 200), font=font)
    for k in range(5):
        v = vmax * k / 4
        yy = bar_bottom - 1 - round((bar_bottom - bar_top - 1) * k / 4)
        draw.line([(bar_left + bar_w, yy), (bar_left + bar_w + font_px // 2, yy)], fill=(240, 240, 240))
        label = f"{v:.3g}" + ("+" if k == 4 else "")
        draw.text((bar_left + bar_w + font_px * 2 // 3, yy - font_px // 2), label, fill=(240, 240, 240), font=font)
    return from_pil(im).rgb, vmax
