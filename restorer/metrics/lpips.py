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

from ..facts import MIN_SIDE
from ..weights import backbone_state_dict, lpips_linear_weights
from ._checks import check_pair

__all__ = ["LPIPS", "get_lpips", "combine_stage_maps", "MIN_SIZE"]

# torchvision ``features`` index just after each tapped ReLU, as the slices of
# the reference ``pretrained_networks.py``: alex relu1..relu5 are features
# 1, 4, 7, 9, 11; vgg16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 are
# features 3, 8, 15, 22, 29.
_SLICE_ENDS = {"alex": (2, 5, 8, 10, 12), "vgg16": (4, 9, 16, 23, 30)}
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg16": (64, 128, 256, 512, 512)}
_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg16", "vgg16": "vgg16"}

#: Smallest height/width each backbone accepts (the last tapped stage must be >= 1 pixel);
#: alex's 31 is the metrics' :data:`restorer.facts.MIN_SIDE`.
MIN_SIZE = {"alex": MIN_SIDE, "vgg16": 16}

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
        # channels_last: oneDNN's convolutions and max pooling run without layout
        # reorders (about 25% faster for AlexNet on the CPU); values are unchanged.
        self.features = features.to(memory_format=torch.channels_last)

        lins = lpips_linear_weights(self.net_name)
        if [w.shape[1] for w in lins] != list(_CHANNELS[self.net_name]):
            raise ValueError(f"LPIPS linear weights for {self.net_name} have unexpected shapes")
        self.lins = nn.ParameterList([nn.Parameter(w.detach().clone().float()) for w in lins])

        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        # The scaling layer applied to 2x - 1 in one fused step: x * a + b.
        self.register_buffer("in_mul", 2.0 / self.scale)
        self.register_buffer("in_add", (-1.0 - self.shift) / self.scale)
        self.requires_grad_(False)
        self.eval()

    def _stage_iter(self, x: torch.Tensor):
        """Yield the backbone activations at the five tapped ReLUs for ``x`` in [0, 1]
        (the reference's ``2x - 1`` then ``ScalingLayer``, fused), one at a time."""
        h = torch.addcmul(self.in_add, x.contiguous(memory_format=torch.channels_last), self.in_mul)
        start = 0
        for end in _SLICE_ENDS[self.net_name]:
            for i in range(start, end):
                h = self.features[i](h)
            yield h
            start = end

    @staticmethod
    def _unit(f: torch.Tensor) -> torch.Tensor:
        return f * (1.0 / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + _EPS))

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"LPIPS needs (N, 3, H, W) RGB tensors, got {shape}")
        h, w = x.shape[-2:]
        m = MIN_SIZE[self.net_name]
        if min(h, w) < m:
            raise ValueError(f"LPIPS-{self.net_name} needs images of at least {m}x{m} pixels, got {w}x{h}")

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised backbone features of ``x``, one tensor per stage.

        These are what LPIPS compares: caching them for a fixed image (e.g. the
        reference) halves the cost of every later comparison against it (see
        :meth:`distance_maps`).

        Args:
            x: (N, 3, H, W) tensor, RGB in [0, 1]; cast to float32 on this module's
                device; H, W >= ``MIN_SIZE[net]``.

        Returns:
            Five float32 tensors (N, C_l, h_l, w_l) (C_l = 64, 192, 384, 256, 256
            for alex; 64, 128, 256, 512, 512 for vgg16), each with unit L2 norm
            over channels at every position (``normalize_tensor`` of the
            reference package, eps 1e-10).

        Raises:
            ValueError: not (N, 3, H, W), or smaller than ``MIN_SIZE[net]``.
        """
        self._check(x)
        device = self.shift.device
        x = x.to(device=device, dtype=torch.float32)
        with _fp32_context(device):
            return [self._unit(f) for f in self._stage_iter(x)]

    def distance_maps(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per-stage LPIPS distance maps from two sets of :meth:`stage_features`.

        Args:
            fx, fy: outputs of :meth:`stage_features` for two images of the same size
                (or two equally placed crops of them).

        Returns:
            Five float32 tensors (N, 1, h_l, w_l): ``w_l . (fx_l - fy_l)^2`` (the
            learned non-negative 1x1 layer applied to the squared difference of
            the normalised features), >= 0. LPIPS is the sum over stages of
            their spatial means (:func:`combine_stage_maps`).
        """
        with _fp32_context(self.shift.device):
            out = []
            for a, b, lin in zip(fx, fy, self.lins):
                d = a - b
                out.append(F.conv2d(d * d, lin))
            return out

    def pair_distance_maps(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """Per-stage LPIPS distance maps of two images, computed stage by stage.

        Same values as ``distance_maps(stage_features(x), stage_features(y))``,
        but both backbones advance together and each stage's features are freed
        once its map is made: peak memory is about one stage of both images
        instead of all five (what keeps large blocks affordable).

        Args:
            x, y: (N, 3, H, W) tensors, RGB in [0, 1], same shape, at least
                ``MIN_SIZE[net]`` pixels; cast to float32 on this module's device.

        Returns:
            Five float32 tensors (N, 1, h_l, w_l), as :meth:`distance_maps`.

        Raises:
            ValueError: not (N, 3, H, W), shapes differ, or too small.
        """
        check_pair(x, y, channels=3)
        self._check(x)
        device = self.shift.device
        x = x.to(device=device, dtype=torch.float32)
        y = y.to(device=device, dtype=torch.float32)
        out = []
        with _fp32_context(device):
            for fx, fy, lin in zip(self._stage_iter(x), self._stage_iter(y), self.lins):
                d = self._unit(fx) - self._unit(fy)
                out.append(F.conv2d(d * d, lin))
                del d, fx, fy
        return out

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        spatial: bool = False,
        *,
        y_features: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Compute LPIPS between ``x`` and ``y``.

        Args:
            x: (N, 3, H, W) tensor, RGB in [0, 1] (mapped to [-1, 1] inside).
                Cast to float32 and moved to this module's device; H, W at least
                ``MIN_SIZE[net]`` (31 for alex, 16 for vgg16).
            y: same shape as ``x`` (the metric is symmetric).
            spatial: if True, return the per-pixel map instead of the mean.
            y_features: ``self.stage_features(y)`` computed earlier (then only ``x``
                goes through the backbone; ``y`` is used for its shape only).

        Returns:
            ``spatial=False``: (N,) float32 tensor, unitless distance >= 0
            (0 = identical; typically below 1). ``spatial=True``:
            (N, 1, H, W) float32 map, each stage's map upsampled bilinearly
            (``align_corners=False``) to (H, W) and summed, as the reference
            ``lpips.LPIPS(spatial=True)``. The map's mean is close to, but not
            exactly, the scalar value (the bilinear upsampling weighs border
            cells slightly differently; below 1e-3 relative on photos).

        Raises:
            ValueError: shapes differ, are not (N, 3, H, W), or are too small.
        """
        check_pair(x, y, channels=3)
        if y_features is None:
            maps = self.pair_distance_maps(x, y)
        else:
            maps = self.distance_maps(self.stage_features(x), y_features)
        return combine_stage_maps(maps, tuple(x.shape[-2:]) if spatial else None)


def combine_stage_maps(maps: list[torch.Tensor], size: tuple[int, int] | None = None) -> torch.Tensor:
    """Turn per-stage LPIPS distance maps into the LPIPS value or its spatial map.

    Args:
        maps: (N, 1, h_l, w_l) float32 tensors from :meth:`LPIPS.distance_maps`
            (or stitched from tiles, :mod:`restorer.metrics.tiled`).
        size: None for the scalar; (H, W) of the image for the per-pixel map.

    Returns:
        ``size=None``: (N,) float32, the sum over stages of each map's mean
        (the reference's ``spatial_average``). Else (N, 1, H, W) float32, the sum
        of the maps upsampled bilinearly (``align_corners=False``), as the
        reference's ``spatial=True``.

    Source: ``lpips/lpips.py`` (``spatial_average``, ``upsample``) of ``lpips==0.1.4``.
    """
    total = None
    for d in maps:
        if size is None:
            d = d.mean(dim=(2, 3), keepdim=True)
        else:
            d = F.interpolate(d, size=size, mode="bilinear", align_corners=False)
        total = d if total is None else total + d
    return total.view(-1) if size is None else total


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
