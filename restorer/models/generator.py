"""Restorer's own super-resolution generator, ``RestorerCompact``.

A small convolutional body run at LR resolution, in the family of EDSR (Lim et
al., CVPRW 2017), SRVGGNetCompact (Wang et al., "Real-ESRGAN", ICCVW 2021,
realesr-general-x4v3) and ESPCN (Shi et al., CVPR 2016): a 3x3 head
convolution, ``num_conv // 2`` residual blocks (conv-LeakyReLU-conv) with a long
skip, a 3x3 tail producing ``3 * scale**2`` channels, a pixel shuffle, and a
global residual: the output is the bicubic upsampling of the input plus the
learned detail. The bicubic base makes the network learn only
the missing high frequencies, which speeds up training on small budgets.

Cost per LR pixel (defaults, 48 features, 16 body convolutions, x4):
``9*3*48 + 16*9*48*48 + 9*48*48 = 0.35 MMAC``, against about 1.2 MMAC for
SRVGGNetCompact at realesr-general-x4v3 size (64 features, 32 convolutions).

Receptive field: ``num_conv + 2`` stacked 3x3 convolutions give a radius of
``num_conv + 2`` LR pixels, plus 2 for the bicubic base; see
:meth:`RestorerCompact.receptive_radius`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RestorerCompact", "RestorerCascade"]


class _ResBlock(nn.Module):
    """conv3x3 - LeakyReLU(0.2) - conv3x3 plus identity (EDSR's block, no batch norm)."""

    def __init__(self, num_feat: int):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, padding=1)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class RestorerCompact(nn.Module):
    """Compact x1/x2/x3/x4 SR generator with a bicubic global residual.

    Args:
        in_ch: input channels (3 for RGB).
        out_ch: output channels (3 for RGB).
        num_feat: feature width of the body.
        num_conv: number of 3x3 convolutions in the body (even; ``num_conv // 2``
            residual blocks).
        scale: upscaling factor, 1, 2, 3 or 4.

    Input: float32/float16/bfloat16 tensor (N, in_ch, H, W), values in [0, 1].
    Output: tensor (N, out_ch, H*scale, W*scale), same dtype, values roughly in
    [0, 1] (not clamped; clamp before display or saving).

    Raises:
        ValueError: unsupported scale or odd ``num_conv``.

    The state dict carries a ``restorer_arch`` buffer ``[num_feat, num_conv,
    scale, in_ch, out_ch]`` (int64) so that the spandrel loader can rebuild the
    model from a weights file alone.

    Source: residual blocks without batch norm from EDSR (Lim et al., CVPRW
    2017), sub-pixel upsampling from ESPCN (Shi et al., CVPR 2016), 0.1-scaled
    residual initialisation from ESRGAN (Wang et al., ECCVW 2018); see the
    module docstring.
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, num_feat: int = 48, num_conv: int = 16, scale: int = 4):
        super().__init__()
        if scale not in (1, 2, 3, 4):
            raise ValueError(f"scale must be 1, 2, 3 or 4, got {scale}")
        if num_conv % 2:
            raise ValueError(f"num_conv must be even (two convolutions per residual block), got {num_conv}")
        self.scale = scale
        self.in_ch = in_ch
        self.out_ch = out_ch
        self.num_feat = num_feat
        self.num_conv = num_conv
        self.register_buffer(
            "restorer_arch", torch.tensor([num_feat, num_conv, scale, in_ch, out_ch], dtype=torch.int64)
        )
        self.head = nn.Conv2d(in_ch, num_feat, 3, padding=1)
        self.trunk = nn.Sequential(*[_ResBlock(num_feat) for _ in range(num_conv // 2)])
        self.tail = nn.Conv2d(num_feat, out_ch * scale * scale, 3, padding=1)
        self.shuffle = nn.PixelShuffle(scale)
        # A plain stack of 16 convolutions (SRVGG-style) did not train here: its
        # activations and gradients collapsed and the output stayed at bicubic.
        # Residual blocks whose last convolution starts scaled by 0.1 (ESRGAN's
        # initialisation, Wang et al. 2018) start near identity and train at once.
        for block in self.trunk:
            nn.init.kaiming_normal_(block.conv1.weight, a=0.2, nonlinearity="leaky_relu")
            nn.init.kaiming_normal_(block.conv2.weight, a=0.2, nonlinearity="leaky_relu")
            block.conv2.weight.data.mul_(0.1)
            for conv in (block.conv1, block.conv2):
                nn.init.zeros_(conv.bias)
        self.tail.weight.data.mul_(0.1)
        nn.init.zeros_(self.tail.bias)

    def receptive_radius(self) -> int:
        """Return the receptive-field radius in LR pixels (an int >= 4).

        ``num_conv + 2`` stacked 3x3 convolutions, plus 2 for the bicubic base
        (a safe upper bound: the learned and bicubic paths are summed, so the
        true radius is their maximum, ``num_conv + 2``). Tile padding of at
        least this many LR pixels makes tiled output equal to whole-image output
        (used by :func:`restorer.tiling.default_tile_pad`).
        """
        return self.num_conv + 2 + 2

    def macs_per_pixel(self) -> int:
        """Return multiply-accumulates per LR input pixel (convolutions only;
        biases, activations, pixel shuffle and the bicubic base are not counted).

        ``9 * in_ch * F + num_conv * 9 * F**2 + 9 * F * out_ch * scale**2``
        with F = ``num_feat``; 353,808 (0.35 MMAC) at the defaults.
        """
        f = self.num_feat
        return 9 * self.in_ch * f + self.num_conv * 9 * f * f + 9 * f * self.out_ch * self.scale**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale ``x`` (N, in_ch, H, W) in [0, 1] to (N, out_ch, H*scale, W*scale).

        Output = bicubic upsampling of ``x`` (PyTorch, a = -0.75, not
        antialiased; channels sliced or averaged when ``in_ch != out_ch``) plus
        the learned detail; same dtype as ``x``, not clamped.

        Raises:
            RuntimeError: ``x`` does not have ``in_ch`` channels, or its dtype or
                device differs from the weights'.
        """
        feat = self.head(x)
        feat = self.trunk(feat) + feat
        detail = self.shuffle(self.tail(feat))
        if self.scale == 1:
            base = x
        else:
            base = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        if self.in_ch != self.out_ch:
            base = base[:, : self.out_ch] if self.in_ch > self.out_ch else base.mean(1, keepdim=True).expand_as(detail)
        return base + detail


class RestorerCascade(nn.Module):
    """Two :class:`RestorerCompact` stages in series: ``stage2(stage1(x))``.

    Stage 1 runs at LR resolution (e.g. restorer-x2's body, which removes the
    JPEG blocks and noise); stage 2 is a second, usually smaller, generator at
    stage 1's output resolution that adds the rest of the detail. Why: restorer-x2
    applied twice lies off the front of clean detail against cleaning that every
    one-stage x4 model we trained lies on (docs/TRAINING.md, "restorer-x4 grown
    from restorer-x2"); its second pass spends compute at 2x LR resolution. The interface between the stages is
    an RGB image, not clamped, so the cascade trains end to end.

    Args:
        stage1, stage2: the stages; ``stage1.out_ch == stage2.in_ch``.

    Input and output: as :class:`RestorerCompact`, with ``scale = stage1.scale * stage2.scale``.

    Raises:
        ValueError: the stages' channels do not chain.

    The state dict holds each stage's tensors under ``stage1.``/``stage2.``, each
    with its own ``restorer_arch`` buffer, so the spandrel loader rebuilds both.
    """

    def __init__(self, stage1: RestorerCompact, stage2: RestorerCompact):
        super().__init__()
        if stage1.out_ch != stage2.in_ch:
            raise ValueError(f"stage 1 gives {stage1.out_ch} channels, stage 2 takes {stage2.in_ch}")
        self.stage1 = stage1
        self.stage2 = stage2
        self.scale = stage1.scale * stage2.scale
        self.in_ch = stage1.in_ch
        self.out_ch = stage2.out_ch

    def receptive_radius(self) -> int:
        """Receptive-field radius in LR pixels: stage 1's plus stage 2's, which counts in
        stage 1's output pixels, divided by stage 1's scale (rounded up)."""
        return self.stage1.receptive_radius() + -(-self.stage2.receptive_radius() // self.stage1.scale)

    def macs_per_pixel(self) -> int:
        """Multiply-accumulates per LR input pixel: stage 1's plus ``stage1.scale**2`` times stage 2's
        (it runs on that many pixels per LR pixel)."""
        return self.stage1.macs_per_pixel() + self.stage1.scale**2 * self.stage2.macs_per_pixel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale ``x`` (N, in_ch, H, W) in [0, 1] to (N, out_ch, H*scale, W*scale), not clamped."""
        return self.stage2(self.stage1(x))
