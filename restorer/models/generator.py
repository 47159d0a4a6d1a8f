"""Restorer's own super-resolution generator, ``RestorerCompact``.

A plain VGG-style convolutional body run at LR resolution, in the family of
SRVGGNetCompact (Wang et al., "Real-ESRGAN", ICCVW 2021, realesr-general-x4v3)
and ESPCN (Shi et al., CVPR 2016): a 3x3 head convolution, ``num_conv`` 3x3
convolutions with PReLU, a 3x3 tail producing ``3 * scale**2`` channels, a
pixel shuffle, and a global residual: the output is the bicubic upsampling of
the input plus the learned detail. The bicubic base makes the network learn only
the missing high frequencies, which speeds up training on small budgets.

Cost per LR pixel (defaults, 48 features, 12 body convolutions, x4):
``9*3*48 + 12*9*48*48 + 9*48*48 = 0.27 MMAC``, against about 1.2 MMAC for
SRVGGNetCompact at realesr-general-x4v3 size (64 features, 32 convolutions).

Receptive field: ``num_conv + 2`` stacked 3x3 convolutions give a radius of
``num_conv + 2`` LR pixels, plus 2 for the bicubic base; see
:meth:`RestorerCompact.receptive_radius`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RestorerCompact"]


class RestorerCompact(nn.Module):
    """Compact x1/x2/x4 SR generator with a bicubic global residual.

    Args:
        in_ch: input channels (3 for RGB).
        out_ch: output channels (3 for RGB).
        num_feat: feature width of the body.
        num_conv: number of 3x3 convolutions in the body.
        scale: upscaling factor, 1, 2, 3 or 4.

    Input: float32/float16/bfloat16 tensor (N, in_ch, H, W), values in [0, 1].
    Output: tensor (N, out_ch, H*scale, W*scale), same dtype, values roughly in
    [0, 1] (not clamped; clamp before display or saving).

    The state dict carries a ``restorer_arch`` buffer ``[num_feat, num_conv,
    scale, in_ch, out_ch]`` so that the spandrel loader can rebuild the model
    from a weights file alone.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, num_feat: int = 48, num_conv: int = 12, scale: int = 4):
        super().__init__()
        if scale not in (1, 2, 3, 4):
            raise ValueError(f"scale must be 1, 2, 3 or 4, got {scale}")
        self.scale = scale
        self.in_ch = in_ch
        self.out_ch = out_ch
        self.num_feat = num_feat
        self.num_conv = num_conv
        self.register_buffer(
            "restorer_arch", torch.tensor([num_feat, num_conv, scale, in_ch, out_ch], dtype=torch.int64)
        )
        self.head = nn.Conv2d(in_ch, num_feat, 3, padding=1)
        self.head_act = nn.PReLU(num_feat)
        layers: list[nn.Module] = []
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, padding=1), nn.PReLU(num_feat)]
        self.trunk = nn.Sequential(*layers)
        self.tail = nn.Conv2d(num_feat, out_ch * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        # Start as (almost) pure bicubic: small tail weights.
        nn.init.normal_(self.tail.weight, std=1e-3)
        nn.init.zeros_(self.tail.bias)

    def receptive_radius(self) -> int:
        """Return the receptive-field radius in LR pixels (an int >= 1).

        Tile padding of at least this many LR pixels makes tiled output equal
        to whole-image output.
        """
        return self.num_conv + 2 + 2

    def macs_per_pixel(self) -> int:
        """Return multiply-accumulates per LR input pixel (convolutions only)."""
        f = self.num_feat
        return 9 * self.in_ch * f + self.num_conv * 9 * f * f + 9 * f * self.out_ch * self.scale**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale ``x`` (N, C, H, W) in [0, 1] to (N, C, H*scale, W*scale)."""
        feat = self.head_act(self.head(x))
        feat = self.trunk(feat)
        detail = self.shuffle(self.tail(feat))
        if self.scale == 1:
            base = x
        else:
            base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        if self.in_ch != self.out_ch:
            base = base[:, : self.out_ch] if self.in_ch > self.out_ch else base.mean(1, keepdim=True).expand_as(detail)
        return base + detail
