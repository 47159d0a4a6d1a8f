"""DISTS (Ding et al., "Image Quality Assessment: Unifying Structure and Texture
Similarity", IEEE TPAMI 2020), our own implementation.

Same computation as the authors' reference ``DISTS_pytorch`` (PyPI
``dists-pytorch==0.1``, ``DISTS_pt.py``): the image itself and five VGG16 stages
(relu1_2 ... relu5_3), where max pooling is replaced by L2 pooling (a 3x3 Hann
window ``[0.5, 1, 0.5]`` outer product, normalised, stride 2, padding 1, on the
squared features, then a square root); per channel, a texture term from the
global means and a structure term from the global (co)variances, weighted by
learned non-negative ``alpha``/``beta`` (normalised to sum to 1):

``DISTS = 1 - sum_k sum_c [alpha_kc (2 mx my + c1)/(mx^2 + my^2 + c1)
                         + beta_kc (2 cov + c2)/(vx + vy + c2)]``, c1 = c2 = 1e-6.

Backbone weights come from :func:`restorer.weights.backbone_state_dict`, and
``alpha``/``beta`` from :func:`restorer.weights.dists_weights`; nothing is
downloaded. Full resolution, no resizing (the reference's optional resize to 256
is not applied).
"""
from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import backbone_state_dict, dists_weights
from ._checks import check_pair

__all__ = ["DISTS", "get_dists"]

#: torchvision vgg16 ``features`` ranges of the five stages; each max pool (4, 9, 16, 23)
#: is replaced by L2 pooling.
_STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))
_CHANNELS = (3, 64, 128, 256, 512, 512)
_C1 = _C2 = 1e-6
#: Smallest side DISTS accepts: four stride-2 L2 poolings leave the last stage 1 pixel wide
#: (a term of :data:`restorer.facts.MIN_SIDE`).
MIN_SIZE = 16
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class DISTS(nn.Module):
    """Deep Image Structure and Texture Similarity. Lower is better (0 = identical).

    A frozen module in eval mode; gradients still flow to the inputs.

    Raises:
        restorer.weights.WeightsNotFoundError: VGG16 or alpha/beta weights are
            unavailable offline.
    """

    def __init__(self) -> None:
        super().__init__()
        from torchvision import models

        with torch.device("meta"):
            features = models.vgg16(weights=None).features[:30]
        features = features.to_empty(device="cpu")
        state = {k.removeprefix("features."): v for k, v in backbone_state_dict("vgg16").items()}
        features.load_state_dict(state, strict=True)
        # channels_last: oneDNN runs the convolutions without layout reorders
        # (about 20% faster on the CPU); values are unchanged.
        self.features = features.to(memory_format=torch.channels_last)
        hann = torch.tensor([0.5, 1.0, 0.5])
        g = hann[:, None] * hann[None, :]
        self.register_buffer("l2_filter", (g / g.sum()).view(1, 1, 3, 3))
        alpha, beta = dists_weights()
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", alpha / total)
        self.register_buffer("beta", beta / total)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _l2pool(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        out = F.conv2d(x * x, self.l2_filter.expand(c, 1, 3, 3), stride=2, padding=1, groups=c)
        return (out + 1e-12).sqrt()

    def _stage_iter(self, x: torch.Tensor):
        """Yield the image, then the five stage activations, one at a time."""
        yield x
        h = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        for i, (start, end) in enumerate(_STAGES):
            if i:
                h = self._l2pool(h)
            for j in range(start, end):
                h = self.features[j](h)
            yield h

    def _stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self._stage_iter(x))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """DISTS between ``x`` and ``y``.

        Args:
            x, y: (N, 3, H, W) tensors, RGB in [0, 1] (cast to float32 on this
                module's device); H, W >= 16 (five halvings leave >= 1 pixel).

        Returns:
            (N,) float32 tensor; 0 for identical images, typically below 0.6.

        Raises:
            ValueError: shapes differ, are not (N, 3, H, W), or are smaller than 16x16.
        """
        check_pair(x, y, channels=3)
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"DISTS needs images of at least {MIN_SIZE}x{MIN_SIZE} pixels, "
                             f"got {x.shape[-1]}x{x.shape[-2]}")
        dev = self.mean.device
        fx = self._stages(x.to(dev, torch.float32))
        fy = self._stages(y.to(dev, torch.float32))
        alphas = torch.split(self.alpha, list(_CHANNELS), dim=1)
        betas = torch.split(self.beta, list(_CHANNELS), dim=1)
        score = torch.zeros(x.shape[0], device=dev)
        for a, b, alpha, beta in zip(fx, fy, alphas, betas):
            mx, my = a.mean((2, 3), keepdim=True), b.mean((2, 3), keepdim=True)
            texture = (2 * mx * my + _C1) / (mx**2 + my**2 + _C1)
            vx = ((a - mx) ** 2).mean((2, 3), keepdim=True)
            vy = ((b - my) ** 2).mean((2, 3), keepdim=True)
            cov = (a * b).mean((2, 3), keepdim=True) - mx * my
            structure = (2 * cov + _C2) / (vx + vy + _C2)
            score = score + (alpha * texture + beta * structure).sum(1).flatten()
        return 1 - score


_CACHE: dict[str, DISTS] = {}
_LOCK = threading.Lock()


def get_dists(device: str | torch.device = "cpu") -> DISTS:
    """Return the process-wide :class:`DISTS` module on ``device`` (built once, thread-safe).

    Raises:
        restorer.weights.WeightsNotFoundError: weights unavailable offline.
    """
    dev = torch.device(device)
    with _LOCK:
        model = _CACHE.get(str(dev))
        if model is None:
            with torch.inference_mode(False):
                model = DISTS().to(dev)
            _CACHE[str(dev)] = model
        return model
