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

from PySide6.QtCore import QRectF

from .pyramid import ImagePyramid
from .views.canvas import Layer

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
        notes: one-line warnings from decoding (animated file, ICC profile ignored...),
            shown in the status bar when the image is shown.
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
    notes: list[str] = field(default_factory=list)

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

    def layers(self, running_scale: int | None = None, running_label: str = "",
               tiles: list[tuple[QRectF, Any]] = ()) -> tuple[list[Layer], str | None, str | None, tuple[int, int]]:
        """What the views show for this document.

        Args:
            running_scale, running_label: a whole-image run of this document in
                progress (its scale and result label), or None.
            tiles: pieces laid over the "after" picture (live tiles of the
                run, or crop previews), rectangles in input (LR) pixels.

        Returns:
            ``(layers, before_key, after_key, (width, height))``: the layers in
            grid order -- the "before" picture (bicubic at the current
            result's size; the input itself, enlarged, during a run or before
            any), every result, the running preview or "not restored yet"
            pane, the reference -- each scaled to the viewport's image size
            (the running output's size, else the current result's, else the
            input's); and the keys of the two pictures compared.

        Raises:
            AttributeError: the document is not decoded yet (``image`` None).
        """
        w, h = self.image.size
        result = self.result
        layers: list[Layer] = []
        if running_scale is not None:
            s = running_scale
            size = (round(w * s), round(h * s))
            before = Layer("input", f"Input (×{s}, preview)", self.pyramid, scale=size[0] / w, smooth=True)
            after = Layer("running", f"Restoring with {running_label}…", self.pyramid, scale=size[0] / w, smooth=True)
        elif result is not None:
            size = result.size
            bic = self.befores.get((size[1], size[0]))
            before = Layer("bicubic", f"Before: bicubic ×{result.scale:g}", bic[1]) if bic else None
            after = None
        else:
            size = (w, h)
            before = Layer("input", f"Input  {self.path.name}", self.pyramid)
            after = Layer("pending", "Not restored yet: press Restore", self.pyramid)
        if before is not None:
            layers.append(before)
        for r in self.results.values():
            title = f"{r.label} ({r.architecture})"
            layer = Layer(r.label, f"After: {title}" if r is result else title, r.pyramid, scale=size[0] / r.size[0])
            layers.append(layer)
            if r is result and running_scale is None:
                after = layer
        if after is not None and after not in layers:
            layers.append(after)
        if self.reference_pyramid is not None:
            layers.append(Layer("reference", f"Reference  {self.reference_path.name}", self.reference_pyramid,
                                scale=size[0] / self.reference.size[0]))
        k = size[0] / w
        if after is not None:
            after.tiles = [(QRectF(r.x() * k, r.y() * k, r.width() * k, r.height() * k), img) for r, img in tiles]
        return layers, (before.key if before else None), (after.key if after else None), size
