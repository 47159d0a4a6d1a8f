"""What the window holds: open images (documents), their restored results, and
the one set of conversions between the pixel spaces they are drawn in.

A :class:`Document` is one input image; every finished run adds a
:class:`Result` to it (one per model and scale), so the grid can compare
several models on one image. The :class:`Session` holds the documents and the
one shown, and answers what the window asks of it: the current result, its
reference, which image pairs can be scored. All tensors are float32
(1, C, H, W) in [0, 1] on the CPU; the pyramids are what the views draw.

Three pixel spaces (:class:`Coords`): *input* pixels (the low-resolution file),
*output* pixels of a run at scale ``s`` (input × ``s``), and *view* pixels (the
viewport's image size: the shown output's size, or the input's before any
result). Live tiles arrive in output pixels, crop previews are asked for in
input pixels, and everything is drawn in view pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF

from restorer.facts import AFTER_BEFORE, AFTER_REF, BEFORE_REF, CONSISTENCY, MIN_SIDE

from .pyramid import ImagePyramid
from .readouts import ConsistencyMetrics, PairMetrics
from .views.canvas import Layer

__all__ = ["Result", "Document", "Session", "Coords", "scale_rect"]


def scale_rect(rect: QRectF, k: float) -> QRectF:
    """``rect`` with every coordinate multiplied by ``k`` (a change of pixel space)."""
    return QRectF(rect.x() * k, rect.y() * k, rect.width() * k, rect.height() * k)


@dataclass(frozen=True)
class Coords:
    """Conversions between one document's input, output and view pixels (module docstring).

    The same rectangle used to be converted by hand in five places; each
    conversion is written here once.
    """

    input_width: float  #: the input's width in input pixels
    view_width: float  #: the viewport's image width in view pixels

    @staticmethod
    def output_to_input(rect: QRectF, scale: float) -> QRectF:
        """A rectangle of a run's output at ``scale`` in input pixels."""
        return scale_rect(rect, 1.0 / scale)

    def input_to_view(self, rect: QRectF) -> QRectF:
        """A rectangle in input pixels in view pixels."""
        return scale_rect(rect, self.view_width / self.input_width)

    def view_box_to_input(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A view box ``(x0, y0, x1, y1)`` as the smallest input box covering it (whole pixels)."""
        k = self.input_width / self.view_width
        return math.floor(box[0] * k), math.floor(box[1] * k), math.ceil(box[2] * k), math.ceil(box[3] * k)


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
        pairs: the :class:`~ui.readouts.PairMetrics` of its image pairs (their
            caches: region features, heat map), so they go when the result goes.
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
    pairs: dict[str, PairMetrics | ConsistencyMetrics] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[-1]), int(self.rgb.shape[-2])

    def pair(self, key: str, image, reference) -> PairMetrics | ConsistencyMetrics:
        """The metrics of pair ``key`` (``image`` against ``reference``), made on first use;
        they run where the result was restored."""
        if key not in self.pairs:
            kind = ConsistencyMetrics if key == CONSISTENCY else PairMetrics
            self.pairs[key] = kind(key, image, reference, self.device or "cpu")
        return self.pairs[key]

    def forget_reference(self) -> None:
        """Drop the scores and caches of the pairs with the reference (it changed)."""
        for key in (AFTER_REF, BEFORE_REF):
            self.metrics.pop(key, None)
            self.pairs.pop(key, None)


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

    def set_reference(self, path: Path, reference, pyramid: ImagePyramid) -> None:
        """Attach a decoded ground truth; the scores against the previous one are dropped."""
        self.reference, self.reference_path, self.reference_pyramid = reference, path, pyramid
        for result in self.results.values():
            result.forget_reference()

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
        if after is not None:
            coords = Coords(w, size[0])
            after.tiles = [(coords.input_to_view(r), img) for r, img in tiles]
        return layers, (before.key if before else None), (after.key if after else None), size


class Session:
    """The open documents and the one shown, and the questions the window asks about it.

    Attributes:
        documents: resolved path -> :class:`Document`, in the order opened.
        doc: the shown document, or None.
    """

    def __init__(self) -> None:
        self.documents: dict[Path, Document] = {}
        self.doc: Document | None = None

    # ---------------------------------------------------------------- documents
    def document_for(self, path: str | Path) -> Document:
        """The document of ``path`` (the same for any spelling of the path), added when new."""
        key = Path(path).resolve()
        if key not in self.documents:
            self.documents[key] = Document(path=Path(path))
        return self.documents[key]

    def document_at(self, path: str | Path) -> Document | None:
        """The document of ``path`` if it is open, else None."""
        return self.documents.get(Path(path).resolve())

    def drop_undecoded(self, path: str | Path) -> None:
        """Forget the document of a file that could not be decoded (unless it is the one shown)."""
        doc = self.document_at(path)
        if doc is not None and doc.image is None and doc is not self.doc:
            del self.documents[Path(path).resolve()]

    def is_current(self, path: str | Path) -> bool:
        """True when ``path`` is the shown document's file."""
        return self.doc is not None and Path(path).resolve() == self.doc.path.resolve()

    # ------------------------------------------------------ the shown document
    @property
    def image(self):
        """The shown input (``restorer.io.LoadedImage``), or None."""
        return self.doc.image if self.doc is not None else None

    @property
    def path(self) -> Path | None:
        """The shown input's path, or None."""
        return self.doc.path if self.doc is not None else None

    @property
    def result(self) -> Result | None:
        """The shown result, or None."""
        return self.doc.result if self.doc is not None else None

    @property
    def before(self):
        """The bicubic "before" tensor at the shown result's size, or None."""
        return self.doc.before_for(self.doc.result) if self.doc is not None else None

    @property
    def reference(self):
        """The shown document's reference ``LoadedImage``, or None."""
        return self.doc.reference if self.doc is not None else None

    @property
    def reference_path(self) -> Path | None:
        """The shown document's reference path, or None."""
        return self.doc.reference_path if self.doc is not None else None

    def protected_paths(self) -> tuple[Path, ...]:
        """The files a save or export must never replace: the input and its reference."""
        return tuple(p for p in (self.path, self.reference_path) if p is not None)

    def coords(self, view_width: float) -> Coords:
        """Pixel-space conversions of the shown document for a viewport ``view_width`` wide.

        Raises:
            AttributeError: no document is shown or it is not decoded yet.
        """
        return Coords(self.doc.image.size[0], view_width)

    # ------------------------------------------------------------- image pairs
    def too_small(self) -> bool:
        """True when the shown result is under ``MIN_SIDE`` pixels a side: no metric,
        readout or heat map can be computed (a message says so; no error box)."""
        return self.result is not None and min(self.result.rgb.shape[-2:]) < MIN_SIDE

    def reference_matches(self) -> bool:
        """True when a reference of the shown result's size is loaded."""
        return (self.reference is not None and self.result is not None
                and tuple(self.reference.rgb.shape[-2:]) == tuple(self.result.rgb.shape[-2:]))

    def pairs(self) -> dict[str, PairMetrics]:
        """The scored pairs of the shown result, which the region readouts and the heat map
        also use: the result against bicubic, and with a matching reference, the result and
        bicubic against it. Empty when there is no result or it is too small."""
        result, before = self.result, self.before
        if result is None or before is None or self.too_small():
            return {}
        pairs = {AFTER_BEFORE: result.pair(AFTER_BEFORE, result.rgb, before)}
        if self.reference_matches():
            pairs[AFTER_REF] = result.pair(AFTER_REF, result.rgb, self.reference.rgb)
            pairs[BEFORE_REF] = result.pair(BEFORE_REF, before, self.reference.rgb)
        return pairs

    def whole_pairs(self) -> dict[str, PairMetrics | ConsistencyMetrics]:
        """:meth:`pairs` plus the consistency readout (the result against its input),
        the columns of the whole-image table."""
        if self.result is None:
            return {}
        return {**self.pairs(), CONSISTENCY: self.result.pair(CONSISTENCY, self.result.rgb, self.image.rgb)}
