"""Training data: HR patches cut from a folder of photos, degraded on the fly in data-loader workers.

Photos are downscaled by ``prescale`` (antialiased Lanczos, Pillow) when loaded,
because several of the training wallpapers are visibly JPEG-compressed at full
size (DESIGN.md section 4); the generator would otherwise learn the artefacts as
"detail". The downscaled photos are kept in memory as uint8 arrays (shared with
forked worker processes, copy-on-write).

Reproducibility: sample number ``i`` of a run is a pure function of
``(seed, i)`` (its own ``numpy.random.Generator`` seeded with ``[seed, i]``), so
the batches do not depend on the number of data-loader workers, and a resumed
run continues with the same samples as an uninterrupted one. :class:`StepSampler`
hands each distributed rank its own disjoint indices (rank ``r`` of ``W`` takes
``i = (step * W + r) * batch + j``), as ``torch.utils.data.DistributedSampler``
splits a dataset between ranks.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image, ImageOps

from restorer.degradations import (DegradationConfig, MixConfig, SecondOrderConfig, degrade, degrade_mix,
                                   degrade_second_order)
from restorer.io import IMAGE_EXTENSIONS

__all__ = ["load_photos", "PatchDataset", "StepSampler", "make_loader"]


def load_photos(folder: str | Path, min_size: int, prescale: float = 2.0) -> list[np.ndarray]:
    """Load every photo of a folder (recursively) for training.

    Files with an extension in ``restorer.io.IMAGE_EXTENSIONS`` are
    EXIF-rotated, converted to 8-bit RGB and downscaled by ``prescale`` (Pillow
    Lanczos, antialiased; DESIGN.md section 4); photos smaller than
    ``min_size`` on either side after that are dropped.

    Args:
        folder: directory searched recursively, in sorted path order.
        min_size: minimum side in pixels after prescaling (the HR patch side).
        prescale: downscale factor applied once at load time (1 = none).

    Returns:
        List of uint8 arrays (H, W, 3).

    Raises:
        FileNotFoundError: no image of at least ``min_size`` pixels on each side.

    Warns:
        UserWarning: a file with an image extension cannot be decoded; it is skipped.
    """
    images: list[np.ndarray] = []
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
        if min(im.size) >= min_size:
            images.append(np.asarray(im))
    if not images:
        raise FileNotFoundError(f"no training image of at least {min_size}px found in {folder}")
    return images


class PatchDataset(torch.utils.data.Dataset):
    """Index -> (LR, HR) training pair; every index is its own seeded random draw.

    Sample ``i``: a ``numpy.random.default_rng([seed, i])`` picks a photo
    (probability proportional to its area), a uniformly placed ``hr_size``
    square, a random horizontal flip (p 0.5) and a rotation by a multiple of 90
    degrees, then degrades the patch with :func:`restorer.degradations.degrade`
    (a :class:`~restorer.degradations.DegradationConfig`),
    :func:`restorer.degradations.degrade_second_order` (a
    :class:`~restorer.degradations.SecondOrderConfig`) or
    :func:`restorer.degradations.degrade_mix` (a :class:`~restorer.degradations.MixConfig`).

    Args:
        photos: uint8 arrays (H, W, 3), each at least ``hr_size`` on both sides
            (:func:`load_photos`).
        hr_size: HR patch side in pixels, divisible by the scale.
        cfg: degradation configuration; its ``scale`` is the SR factor.
        seed: run seed.

    ``len()`` is 2**62 (an endless stream; use :class:`StepSampler`).
    ``dataset[i]`` returns ``(lr, hr)``: float32 CPU tensors (3, h, h) and
    (3, H, H) in [0, 1] with ``H = hr_size`` and ``h = H // scale``.

    Raises:
        ValueError: ``hr_size`` not divisible by ``cfg.scale``, or a photo is
            smaller than ``hr_size``.
    """

    def __init__(self, photos: list[np.ndarray], hr_size: int,
                 cfg: DegradationConfig | SecondOrderConfig | MixConfig = SecondOrderConfig(), seed: int = 0):
        if hr_size % cfg.scale:
            raise ValueError(f"hr_size {hr_size} is not divisible by the scale {cfg.scale}")
        if any(min(p.shape[:2]) < hr_size for p in photos):
            raise ValueError(f"every photo must be at least {hr_size}px on each side")
        self.photos = photos
        self.hr_size = hr_size
        self.cfg = cfg
        self.seed = seed
        areas = np.array([p.shape[0] * p.shape[1] for p in photos], dtype=np.float64)
        self.weights = areas / areas.sum()

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        img = self.photos[int(rng.choice(len(self.photos), p=self.weights))]
        s = self.hr_size
        y = int(rng.integers(0, img.shape[0] - s + 1))
        x = int(rng.integers(0, img.shape[1] - s + 1))
        patch = img[y : y + s, x : x + s]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = np.rot90(patch, k=int(rng.integers(0, 4)))
        hr = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float() / 255.0
        if isinstance(self.cfg, MixConfig):
            lr = degrade_mix(hr, rng, self.cfg)
        elif isinstance(self.cfg, SecondOrderConfig):
            lr = degrade_second_order(hr, rng, self.cfg)
        else:
            lr = degrade(hr, rng, self.cfg)
        return lr, hr


class StepSampler(torch.utils.data.Sampler):
    """Endless index stream for one rank: the indices of steps ``start_step, start_step + 1, ...``.

    At step ``t`` rank ``r`` of ``world`` takes indices ``(t * world + r) * batch
    + j`` for ``j < batch``: disjoint between ranks and steps, independent of
    the number of workers, and resumable from any step.

    Args:
        batch: samples per step per rank.
        start_step: first step (the resumed step count).
        rank, world: this process's rank and the number of processes.
    """

    def __init__(self, batch: int, start_step: int = 0, rank: int = 0, world: int = 1):
        self.batch, self.start_step, self.rank, self.world = batch, start_step, rank, world

    def __iter__(self) -> Iterator[int]:
        t = self.start_step
        while True:
            base = (t * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)
            t += 1

    def __len__(self) -> int:  # endless
        return 2**62


def make_loader(dataset: PatchDataset, batch: int, start_step: int = 0, rank: int = 0, world: int = 1,
                workers: int = 0) -> torch.utils.data.DataLoader:
    """Return a ``DataLoader`` yielding ``(lr, hr)`` batches (B, 3, h, h), (B, 3, H, H)
    (``(lr, hr, teacher)`` from a pool with a teacher) for steps ``start_step, start_step + 1, ...``
    of this rank (:class:`StepSampler`).

    Args:
        dataset: the :class:`PatchDataset`.
        batch: samples per step on this rank.
        start_step, rank, world: see :class:`StepSampler`.
        workers: data-loader worker processes (0 = degrade in the main
            process). Workers run torch with one thread each (PyTorch's default
            in workers); the output does not depend on their number.
    """
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch, sampler=StepSampler(batch, start_step, rank, world), num_workers=workers,
        persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None)
