"""U-Net discriminator with spectral normalisation.

After ``UNetDiscriminatorSN`` in Real-ESRGAN (Wang et al., ICCVW 2021,
``basicsr/archs/discriminator_arch.py``): a three-level encoder/decoder with skip
connections, spectral norm (Miyato et al., ICLR 2018) on every convolution but
the first and the last, and one realness logit per pixel, which gives the generator per-pixel
feedback on local textures.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

__all__ = ["UNetDiscriminatorSN"]


class UNetDiscriminatorSN(nn.Module):
    """Per-pixel U-Net discriminator.

    Args:
        in_ch: input channels (3).
        num_feat: base width (Real-ESRGAN uses 64; 32 is enough for CPU training).

    Input: float32 (N, in_ch, H, W) in [0, 1], H and W divisible by 8.
    Output: float32 logits (N, 1, H, W); positive means "real".

    Raises (from :meth:`forward`):
        RuntimeError: H or W not divisible by 8 (the skip connections' sizes
            differ), or wrong channel count.

    Source: Real-ESRGAN ``UNetDiscriminatorSN`` (``skip_connection=True``),
    LeakyReLU slope 0.2.
    """

    def __init__(self, in_ch: int = 3, num_feat: int = 64):
        super().__init__()
        sn = spectral_norm
        f = num_feat
        self.conv0 = nn.Conv2d(in_ch, f, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(f, f * 2, 4, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(f * 2, f * 4, 4, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(f * 4, f * 8, 4, 2, 1, bias=False))
        self.conv4 = sn(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return per-pixel realness logits (N, 1, H, W), float32, for images
        (N, in_ch, H, W) in [0, 1] with H and W divisible by 8."""
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        x0 = act(self.conv0(x))
        x1 = act(self.conv1(x0))
        x2 = act(self.conv2(x1))
        x3 = act(self.conv3(x2))
        up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)  # noqa: E731
        x4 = act(self.conv4(up(x3))) + x2
        x5 = act(self.conv5(up(x4))) + x1
        x6 = act(self.conv6(up(x5))) + x0
        out = act(self.conv7(x6))
        out = act(self.conv8(out))
        return self.conv9(out)
