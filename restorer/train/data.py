"""Training data: HR patches cut from a folder of photos, degraded on the fly.

Photos are downscaled by ``prescale`` (antialiased Lanczos, Pillow) when loaded,
because several of the training wallpapers are visibly JPEG-compressed at full
size (DESIGN.md section 4); the generator would otherwise learn the artefacts as
"detail". The downscaled photos are kept in memory as uint8 arrays.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from restorer.degradations import DegradationConfig, degrade
from restorer.io import IMAGE_EXTENSIONS

__all__ = ["PatchSampler"]



class PatchSampler:
    """Samples (LR, HR) training pairs from a folder of photos.

    Photos (files with an extension in ``restorer.io.IMAGE_EXTENSIONS``) are EXIF-rotated,
    converted to 8-bit RGB, downscaled by ``prescale`` (Pillow Lanczos,
    antialiased; DESIGN.md section 4) and kept in memory as uint8 (H, W, 3)
    arrays; photos smaller than ``hr_size`` after that are dropped.

    Args:
        folder: directory searched recursively for images.
        hr_size: HR patch side in pixels (divisible by the scale; not checked).
        cfg: degradation configuration (its ``scale`` is the SR factor).
        prescale: downscale factor applied to every photo once, at load time
            (1 = none).
        seed: seed of the sampler's ``numpy.random.Generator``.

    Raises:
        FileNotFoundError: the folder has no image at least ``hr_size`` pixels
            on each side after prescaling.

    Warns:
        UserWarning: a file with an image extension cannot be decoded; it is skipped.
    """

    def __init__(self, folder: str | Path, hr_size: int = 128, cfg: DegradationConfig = DegradationConfig(),
                 prescale: float = 2.0, seed: int = 0):
        self.hr_size = hr_size
        self.cfg = cfg
        self.rng = np.random.default_rng(seed)
        self.images: list[np.ndarray] = []
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            try:
                with Image.open(path) as im:
                    im = ImageOps.exif_transpose(im).convert("RGB")
            except (OSError, SyntaxError, ValueError) as exc:
                warnings.warn(f"{path}: skipped, cannot decode ({exc})", stacklevel=2)
                continue
            if prescale != 1:
                im = im.resize((round(im.width / prescale), round(im.height / prescale)), Image.LANCZOS)
            if min(im.size) >= hr_size:
                self.images.append(np.asarray(im))
        if not self.images:
            raise FileNotFoundError(f"no training image of at least {hr_size}px found in {folder}")
        areas = np.array([a.shape[0] * a.shape[1] for a in self.images], dtype=np.float64)
        self.weights = areas / areas.sum()

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(lr, hr)``: float32 CPU tensors (B, 3, h, h) and (B, 3, H, H) in
        [0, 1], with ``B = batch``, ``H = hr_size`` and ``h = H // scale``. Photos
        are drawn with probability proportional to their area, the patch position
        uniformly; patches are randomly flipped (p=0.5) and rotated by a multiple
        of 90 degrees, then degraded with :func:`restorer.degradations.degrade`
        using this sampler's generator (so a seed fixes the whole batch)."""
        hrs, lrs = [], []
        s = self.hr_size
        for _ in range(batch):
            img = self.images[self.rng.choice(len(self.images), p=self.weights)]
            y = self.rng.integers(0, img.shape[0] - s + 1)
            x = self.rng.integers(0, img.shape[1] - s + 1)
            patch = img[y : y + s, x : x + s]
            if self.rng.random() < 0.5:
                patch = patch[:, ::-1]
            patch = np.rot90(patch, k=int(self.rng.integers(0, 4)))
            hr = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float() / 255.0
            hrs.append(hr)
            lrs.append(degrade(hr, self.rng, self.cfg))
        return torch.stack(lrs), torch.stack(hrs)

    def state(self) -> dict:
        """Return the sampler's RNG state (for exact resume): numpy's
        ``bit_generator.state`` dict (plain Python ints and strings)."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        """Restore an RNG state returned by :meth:`state`."""
        self.rng.bit_generator.state = state
