"""What the window holds: open images (documents) and their restored results.

A :class:`Document` is one input image; every finished run adds a
:class:`Result` to it (one per model and scale), so the grid can compare
several models on one image. All tensors are float32 (1, C, H, W) in [0, 1] on
the CPU; the pyramids are what the views draw.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .pyramid import ImagePyramid

__all__ = ["Result", "Document"]


@dataclass
class Result:
    """One finished restore of a document.

    Attributes:
        label: unique name within the document, e.g. ``"restorer-x4 ×4"``.
        rgb, alpha: the restored image (1, 3, H', W') and alpha (1, 1, H', W') or None.
        scale: the output scale applied.
        pyramid: its display pyramid.
        architecture: the model's architecture name (spandrel).
        device: where it ran; seconds: wall time of the run.
        metrics: whole-image readouts, ``{pair: {metric: value}}``.
    """

    label: str
    rgb: Any
    alpha: Any
    scale: float
    pyramid: ImagePyramid
    architecture: str = ""
    device: str = ""
    seconds: float = 0.0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])


@dataclass
class Document:
    """One input image and everything computed from it.

    Attributes:
        path: the file.
        image: the decoded ``restorer.io.LoadedImage`` (None until opened).
        pyramid: the input's display pyramid (None until opened).
        results: label -> :class:`Result`, in the order they finished.
        current: the label of the result compared in side-by-side/slider/... views.
        befores: (H', W') -> (bicubic tensor, pyramid): the input resized to an output size.
        reference, reference_path, reference_pyramid: an optional ground truth.
    """

    path: Path
    image: Any = None
    pyramid: ImagePyramid | None = None
    results: dict[str, Result] = field(default_factory=dict)
    current: str | None = None
    befores: dict[tuple[int, int], tuple[Any, ImagePyramid]] = field(default_factory=dict)
    reference: Any = None
    reference_path: Path | None = None
    reference_pyramid: ImagePyramid | None = None

    @property
    def result(self) -> Result | None:
        """The current result, or None."""
        return self.results.get(self.current) if self.current is not None else None

    def before_for(self, result: Result | None):
        """The bicubic "before" tensor at ``result``'s size, or None."""
        if result is None:
            return None
        entry = self.befores.get(tuple(result.rgb.shape[-2:]))
        return entry[0] if entry else None
