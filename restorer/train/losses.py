"""Training losses: pixel (L1), perceptual (VGG16 features, LPIPS or DISTS), GAN and LDL's artefact term.

The combination and default weights follow Real-ESRGAN (Wang et al., ICCVW 2021):
``L = 1.0 * L1 + 1.0 * L_percep + 0.1 * L_GAN``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from restorer.weights import BACKBONE_LAYERS, backbone_state_dict

__all__ = ["VGGPerceptualLoss", "LPIPSLoss", "DISTSLoss", "make_perceptual_loss", "PERCEPTUAL_LOSSES", "gan_loss",
           "ldl_loss", "IMAGENET_MEAN", "IMAGENET_STD"]

#: ImageNet normalisation (RGB mean and std of inputs in [0, 1]) used by
#: torchvision's pretrained backbones.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class _FrozenLoss(nn.Module):
    """A loss around a frozen network: ``train()`` (e.g. from the training loop) keeps it in eval mode."""

    def train(self, mode: bool = True):
        return super().train(False)


class VGGPerceptualLoss(_FrozenLoss):
    """L1 distance between VGG16 features of SR and HR (Johnson et al., ECCV 2016).

    Features are taken before the ReLU ("pre-activation", as ESRGAN, Wang et al.
    2018, and Real-ESRGAN do) at conv1_2, conv2_2, conv3_3, conv4_3 and conv5_3 with
    weights 0.1, 0.1, 1, 1, 1 (Real-ESRGAN's per-layer weights for VGG19 mapped to
    the matching VGG16 stages). ImageNet weights come from :mod:`restorer.weights`.

    Args:
        layer_weights: one weight per tapped layer (5; extra or missing entries
            are silently ignored by ``zip``).

    Input: float32 tensors (N, 3, H, W) in [0, 1]: SR, HR and optionally a teacher's
    output (see :meth:`forward`). Output: scalar tensor.
    The backbone is frozen (``requires_grad=False``) and always in eval mode.

    Raises:
        restorer.weights.WeightsNotFoundError: VGG16 weights unavailable offline.
    """

    #: torchvision ``vgg16.features`` indices of conv1_2, conv2_2, conv3_3, conv4_3, conv5_3.
    LAYERS = (2, 7, 14, 21, 28)

    def __init__(self, layer_weights: tuple[float, ...] = (0.1, 0.1, 1.0, 1.0, 1.0)):
        super().__init__()
        from torchvision.models import vgg16

        features = vgg16(weights=None).features[: self.LAYERS[-1] + 1]
        state = {k.removeprefix("features."): v for k, v in backbone_state_dict("vgg16").items()
                 if int(k.split(".")[1]) <= self.LAYERS[-1]}
        features.load_state_dict(state)
        for p in features.parameters():
            p.requires_grad_(False)
        self.features = features.eval()
        self.layer_weights = layer_weights
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        assert all(i in BACKBONE_LAYERS["vgg16"] for i in self.LAYERS)

    def _feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.LAYERS:
                out.append(x)
        return out

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, teacher: torch.Tensor | None = None,
                w_teacher: float = 1.0) -> torch.Tensor:
        """Return the weighted sum of per-layer mean absolute feature differences.

        Args:
            sr: generator output (N, 3, H, W), float32, in [0, 1]; gradients flow.
            hr: target, same shape; its features are computed without gradients.
            teacher: optional second target (same shape), added with weight ``w_teacher``;
                ``sr``'s features are computed once for both.

        Returns:
            0-dim float32 tensor >= 0 (unitless).
        """
        with torch.no_grad():
            target_feats = self._feats(hr if teacher is None else torch.cat([hr, teacher]))
        sr_feats = self._feats(sr)
        n = sr.shape[0]
        loss = sr.new_zeros(())
        for w, a, b in zip(self.layer_weights, sr_feats, target_feats):
            loss = loss + w * F.l1_loss(a, b[:n])
            if teacher is not None:
                loss = loss + w_teacher * w * F.l1_loss(a, b[n:])
        return loss


class LPIPSLoss(_FrozenLoss):
    """LPIPS v0.1 (Zhang et al., CVPR 2018) as a training loss: the batch mean of
    :class:`restorer.metrics.LPIPS` between SR and HR.

    Args:
        net: ``"vgg16"`` or ``"alex"``.

    Input: float32 tensors (N, 3, H, W) in [0, 1] (SR, HR, optionally a teacher's output), H and W at least 16
    (VGG) or 31 (Alex). Output: 0-dim tensor >= 0; gradients flow to ``sr``;
    the network is frozen.

    Raises:
        restorer.weights.WeightsNotFoundError: LPIPS weights unavailable offline.
    """

    def __init__(self, net: str = "vgg16"):
        super().__init__()
        from restorer.metrics.lpips import LPIPS

        self.lpips = LPIPS(net)

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, teacher: torch.Tensor | None = None,
                w_teacher: float = 1.0) -> torch.Tensor:
        """Return mean LPIPS(sr, hr) over the batch (0-dim float32 tensor), plus
        ``w_teacher`` * mean LPIPS(sr, teacher) when a teacher target is given (``sr``'s
        features computed once)."""
        if teacher is None:
            return self.lpips(sr, hr).mean()
        from restorer.metrics.lpips import combine_stage_maps

        with torch.no_grad():
            f_targets = self.lpips.stage_features(torch.cat([hr, teacher]))
        f_sr = self.lpips.stage_features(sr)
        n = sr.shape[0]
        d_hr = combine_stage_maps(self.lpips.distance_maps(f_sr, [f[:n] for f in f_targets]))
        d_t = combine_stage_maps(self.lpips.distance_maps(f_sr, [f[n:] for f in f_targets]))
        return d_hr.mean() + w_teacher * d_t.mean()


class DISTSLoss(_FrozenLoss):
    """DISTS (Ding et al., TPAMI 2020, which also optimises with it) as a training loss: the batch mean of
    :class:`restorer.metrics.dists.DISTS` between SR and HR.

    Input: float32 tensors (N, 3, H, W) in [0, 1] (SR, HR, optionally a teacher's output), H and W at
    least 16. Output: 0-dim tensor >= 0; gradients flow to ``sr``; the network is frozen.

    Raises:
        restorer.weights.WeightsNotFoundError: VGG16 or DISTS weights unavailable offline.
    """

    def __init__(self):
        super().__init__()
        from restorer.metrics.dists import DISTS

        self.dists = DISTS()

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, teacher: torch.Tensor | None = None,
                w_teacher: float = 1.0) -> torch.Tensor:
        """Return mean DISTS(sr, hr), plus ``w_teacher`` * mean DISTS(sr, teacher) with a teacher."""
        loss = self.dists(sr, hr).mean()
        if teacher is not None:
            loss = loss + w_teacher * self.dists(sr, teacher).mean()
        return loss


#: Names accepted by :func:`make_perceptual_loss` (``--perceptual``).
PERCEPTUAL_LOSSES = ("vgg", "lpips-vgg", "lpips-alex", "dists")


def make_perceptual_loss(name: str) -> nn.Module:
    """Build the perceptual term of the GAN stage.

    Args:
        name: ``"vgg"`` (:class:`VGGPerceptualLoss`, per-layer weights 0.1, 0.1,
            1, 1, 1), ``"lpips-vgg"`` or ``"lpips-alex"`` (:class:`LPIPSLoss`), ``"dists"``
            (:class:`DISTSLoss`).

    Returns:
        A frozen module ``(sr, hr[, teacher, w_teacher]) -> 0-dim loss``, on the CPU.

    Raises:
        ValueError: unknown ``name``.
        restorer.weights.WeightsNotFoundError: weights unavailable offline.
    """
    if name == "vgg":
        return VGGPerceptualLoss()
    if name in ("lpips-vgg", "lpips-alex"):
        return LPIPSLoss("vgg16" if name == "lpips-vgg" else "alex")
    if name == "dists":
        return DISTSLoss()
    raise ValueError(f"unknown perceptual loss {name!r}; expected one of {', '.join(PERCEPTUAL_LOSSES)}")


def gan_loss(logits: torch.Tensor, target_is_real: bool) -> torch.Tensor:
    """Vanilla (non-saturating) GAN loss: binary cross-entropy on logits.

    Args:
        logits: discriminator output, any shape, float32.
        target_is_real: the label the logits are pushed towards.

    Returns:
        0-dim tensor >= 0, the mean over all elements of
        ``BCEWithLogits(logits, 1 or 0)`` (Goodfellow et al., NeurIPS 2014;
        Real-ESRGAN's ``gan_type: vanilla``).
    """
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def ldl_loss(sr: torch.Tensor, sr_ema: torch.Tensor, hr: torch.Tensor, ksize: int = 7) -> torch.Tensor:
    """LDL's artefact term: L1 between ``M * sr`` and ``M * hr`` (Liang et al., "Details or Artifacts",
    CVPR 2022; its reference ``get_refined_artifact_map``, ksize 7).

    ``M`` is the residual ``r = sum_c |hr - sr|``'s local variance (``ksize``² window, reflect padding,
    unbiased) times the patch's variance of ``r`` to the power 1/5, set to 0 where the EMA generator's
    residual is larger (there the raw generator is more faithful: detail, not artefact). As in the
    reference, ``M`` is not detached, so the term also flattens the residual locally.

    Args:
        sr: the generator's output, (N, 3, H, W) float in about [0, 1], with grad.
        sr_ema: the EMA generator's output on the same LR, same shape (no grad needed).
        hr: the target, same shape.
        ksize: odd local window side, < H and W (reflect padding).

    Returns:
        0-dim tensor >= 0.
    """
    res = (hr - sr).abs().sum(1, keepdim=True)
    res_ema = (hr - sr_ema).abs().sum(1, keepdim=True)
    pad = ksize // 2
    windows = F.pad(res, [pad] * 4, mode="reflect").unfold(2, ksize, 1).unfold(3, ksize, 1)
    weight = windows.var(dim=(-1, -2)) * res.var(dim=(1, 2, 3), keepdim=True) ** 0.2
    weight = weight * (res >= res_ema)
    return F.l1_loss(weight * sr, weight * hr)
