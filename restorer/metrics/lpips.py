"""LPIPS v0.1 (Zhang et al., CVPR 2018), our own implementation.

Same computation as the reference ``lpips`` package (``lpips/lpips.py`` and
``lpips/pretrained_networks.py``): torchvision backbone features at five ReLU
outputs, each unit-normalised over channels, squared difference, a learned
non-negative 1x1 linear layer per stage, spatial average, sum over stages.
Backbone weights come from :func:`restorer.weights.backbone_state_dict` and the
linear layers from :func:`restorer.weights.lpips_linear_weights`; nothing is
downloaded.
"""
from __future__ import annotations

import contextlib
import threading

import torch
import torch.nn.functional as F
from torch import nn

from ..weights import backbone_state_dict, lpips_linear_weights
from ._checks import check_pair

__all__ = ["LPIPS", "get_lpips", "MIN_SIZE"]

# torchvision ``features`` index just after each tapped ReLU, as the slices of
# the reference ``pretrained_networks.py``: alex relu1..relu5 are features
# 1, 4, 7, 9, 11; vgg16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 are
# features 3, 8, 15, 22, 29.
_SLICE_ENDS = {"alex": (2, 5, 8, 10, 12), "vgg16": (4, 9, 16, 23, 30)}
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg16": (64, 128, 256, 512, 512)}
_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg16", "vgg16": "vgg16"}

#: Smallest height/width each backbone accepts (the last tapped stage must be >= 1 pixel).
MIN_SIZE = {"alex": 31, "vgg16": 16}

# ScalingLayer of the reference package (``lpips/lpips.py``), applied to inputs
# in [-1, 1]: the ImageNet mean/std expressed in [-1, 1] units.
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_EPS = 1e-10  # ``normalize_tensor``'s eps in the reference package


def _canonical(net: str) -> str:
    try:
        return _ALIASES[net]
    except KeyError:
        raise ValueError(f"unknown LPIPS network {net!r}; expected 'alex' or 'vgg16' ('vgg')") from None


def _fp32_context(device: torch.device):
    """Disable autocast so the metric runs in float32 even inside an autocast region."""
    try:
        return torch.autocast(device_type=device.type, enabled=False)
    except (RuntimeError, ValueError):
        return contextlib.nullcontext()


class LPIPS(nn.Module):
    """Learned Perceptual Image Patch Similarity, version 0.1. Lower is better.

    A frozen module in eval mode (parameters have ``requires_grad=False``);
    gradients still flow to the inputs, so it can serve as a loss.

    Args:
        net: ``"alex"`` (AlexNet, the variant usually reported as LPIPS) or
            ``"vgg16"`` (alias ``"vgg"``).

    Built on the CPU in float32; move it with ``.to(device)`` (or use
    :func:`get_lpips`). See :meth:`forward` for inputs and outputs.

    Raises:
        ValueError: unknown ``net``, or linear weights of unexpected shape.
        restorer.weights.WeightsNotFoundError: backbone or linear weights are not
            available offline (the message says how to provide them).

    Source: R. Zhang, P. Isola, A. A. Efros, E. Shechtman, O. Wang, "The
    Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
    CVPR 2018; reference implementation ``lpips==0.1.4`` (PyPI), whose results
    this module reproduces to about 1e-6.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        from torchvision import models

        self.net_name = _canonical(net)
        state = {k.removeprefix("features."): v for k, v in backbone_state_dict(self.net_name).items()}
        builder = models.alexnet if self.net_name == "alex" else models.vgg16
        # Build on the meta device: skips the random init of the unused classifier
        # (~1.5 s for VGG16); every kept parameter is then loaded (strict).
        with torch.device("meta"):
            features = builder(weights=None).features[: _SLICE_ENDS[self.net_name][-1]]
        features = features.to_empty(device="cpu")
        features.load_state_dict(state, strict=True)
        self.features = features

        lins = lpips_linear_weights(self.net_name)
        if [w.shape[1] for w in lins] != list(_CHANNELS[self.net_name]):
            raise ValueError(f"LPIPS linear weights for {self.net_name} have unexpected shapes")
        self.lins = nn.ParameterList([nn.Parameter(w.detach().clone().float()) for w in lins])

        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        ends = _SLICE_ENDS[self.net_name]
        h = (x - self.shift) / self.scale
        start = 0
        for end in ends:
            for i in range(start, end):
                h = self.features[i](h)
            outs.append(h)
            start = end
        return outs

    def forward(self, x: torch.Tensor, y: torch.Tensor, spatial: bool = False) -> torch.Tensor:
        """Compute LPIPS between ``x`` and ``y``.

        Args:
            x: (N, 3, H, W) tensor, RGB in [0, 1] (mapped to [-1, 1] inside).
                Cast to float32 and moved to this module's device; H, W at least
                ``MIN_SIZE[net]`` (31 for alex, 16 for vgg16).
            y: same shape as ``x`` (the metric is symmetric).
            spatial: if True, return the per-pixel map instead of the mean.

        Returns:
            ``spatial=False``: (N,) float32 tensor, unitless distance >= 0
            (0 = identical; typically below 1). ``spatial=True``:
            (N, 1, H, W) float32 map, each stage's map upsampled bilinearly
            (``align_corners=False``) to (H, W) and summed, as the reference
            ``lpips.LPIPS(spatial=True)``. The map's mean is close to, but not
            exactly, the scalar value.

        Raises:
            ValueError: shapes differ, are not (N, 3, H, W), or are too small.
        """
        check_pair(x, y, channels=3)
        h, w = x.shape[-2:]
        if min(h, w) < MIN_SIZE[self.net_name]:
            raise ValueError(
                f"LPIPS-{self.net_name} needs images of at least "
                f"{MIN_SIZE[self.net_name]}x{MIN_SIZE[self.net_name]} pixels, got {w}x{h}"
            )
        device = self.shift.device
        x = x.to(device=device, dtype=torch.float32)
        y = y.to(device=device, dtype=torch.float32)
        with _fp32_context(device):
            feats_x = self._stages(2 * x - 1)
            feats_y = self._stages(2 * y - 1)
            total = None
            for fx, fy, lin in zip(feats_x, feats_y, self.lins):
                fx = fx / (torch.sqrt(torch.sum(fx * fx, dim=1, keepdim=True)) + _EPS)
                fy = fy / (torch.sqrt(torch.sum(fy * fy, dim=1, keepdim=True)) + _EPS)
                d = F.conv2d((fx - fy) ** 2, lin)  # (N, 1, h_l, w_l)
                if spatial:
                    d = F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)
                else:
                    d = d.mean(dim=(2, 3), keepdim=True)
                total = d if total is None else total + d
        return total if spatial else total.view(-1)


_CACHE: dict[tuple[str, str], LPIPS] = {}
_CACHE_LOCK = threading.Lock()


def get_lpips(net: str = "alex", device: str | torch.device = "cpu") -> LPIPS:
    """Return the process-wide :class:`LPIPS` module for ``net`` on ``device``.

    Built on first use (weights read once), then reused; thread-safe. The
    returned module is shared: do not modify it.

    Args:
        net: ``"alex"`` or ``"vgg16"`` (alias ``"vgg"``).
        device: a torch device or its name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Returns:
        An :class:`LPIPS` module in eval mode, float32, on ``device``.

    Raises:
        ValueError: unknown ``net``.
        RuntimeError: ``device`` is not a device string torch can parse, or
            names an unavailable device (AssertionError on a CPU-only torch build).
        restorer.weights.WeightsNotFoundError: weights are not available offline.
    """
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    key = (_canonical(net), str(dev))
    with _CACHE_LOCK:
        model = _CACHE.get(key)
        if model is None:
            # Build outside any inference_mode region of the caller, so the shared
            # module stays usable where autograd is on (e.g. as a training loss).
            with torch.inference_mode(False):
                model = LPIPS(key[0]).to(dev)
            _CACHE[key] = model
        return model
