"""Runs: a queue of restore jobs (several images, several models, quick crop
previews) executed one at a time on a worker thread.

Each :class:`QueueItem` names an image, a model and a scale (and, for a quick
preview, a crop of the input). :class:`RunQueue` starts them in order on
:class:`~ui.jobs.Job` threads and relays progress, live tiles and the outcome.
:func:`restore_work` is what runs on the worker: load (if needed), refuse an
output that cannot fit in memory (the engine's
:func:`restorer.batch.check_output_memory`), restore, build the bicubic "before"
and the display pyramids -- no Qt widgets, only QImages, so the GUI thread only
swaps finished pictures in.
"""
from __future__ import annotations

import itertools
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRectF, Signal

from restorer.facts import first_line

from .jobs import Job, quiet_gc
from .operations import Op, Operations
from .pyramid import ImagePyramid
from .qimage import tensor_to_qimage

__all__ = ["QueueItem", "RestoreOutcome", "RunQueue", "restore_work", "held_bytes"]

_ids = itertools.count(1)


@dataclass
class QueueItem:
    """One run.

    Attributes:
        path: the image file (its document's key).
        model_key: None = the bundled default, a bundled name, or a model file path.
        model_label: the model's display name.
        scale: output scale (2 or 4).
        image: the already decoded ``LoadedImage`` (else the worker loads ``path``).
        crop: for a quick preview, ``(x0, y0, x1, y1)`` of the input in LR
            pixels; None = the whole image.
        status: ``waiting``, ``running``, ``done``, ``failed`` or ``cancelled``.
        done, total: tiles finished / all tiles.
        message: the error, for a failed item.
        id: unique number.
    """

    path: Path
    model_key: str | None
    model_label: str
    scale: int
    image: Any = None
    crop: tuple[int, int, int, int] | None = None
    status: str = "waiting"
    done: int = 0
    total: int = 0
    message: str = ""
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def label(self) -> str:
        """The result label, e.g. ``"restorer-x4 ×4"``."""
        return f"{self.model_label} ×{self.scale}"

    def describe(self) -> str:
        """One line for the queue list."""
        kind = " (preview of the visible crop)" if self.crop else ""
        progress = f" {self.done}/{self.total} tiles" if self.status == "running" and self.total else ""
        extra = f": {self.message}" if self.message else ""
        return f"{self.path.name} — {self.label}{kind} — {self.status}{progress}{extra}"


@dataclass
class RestoreOutcome:
    """What a finished item hands back to the GUI thread.

    Attributes:
        item: the queue item.
        model: the loaded spandrel ``ImageModelDescriptor`` (cached for later runs).
        image: the input ``LoadedImage`` (loaded by the worker when needed).
        device: the device it ran on; seconds: wall time of the restore call.
        rgb, alpha: the restored image (crop previews: only the crop), float32 (1, C, H, W).
        scale: the scale applied.
        pyramid: display pyramid of ``rgb`` (None for a crop preview).
        before, before_pyramid: the input resized (antialiased bicubic) to the
            output size and its pyramid (None for a crop preview).
        tile_rect, tile_image: for a crop preview, where it goes (output pixels) and the picture.
        notes: the engine's warnings during the restore, one line each (precision fallback,
            tile shrunk to the memory budget...).
    """

    item: QueueItem
    model: Any
    image: Any
    device: str
    seconds: float
    rgb: Any
    alpha: Any
    scale: float
    pyramid: ImagePyramid | None = None
    before: Any = None
    before_pyramid: ImagePyramid | None = None
    tile_rect: QRectF | None = None
    tile_image: Any = None
    notes: list[str] = field(default_factory=list)


def held_bytes(width: int, height: int, alpha: bool, before: bool) -> int:
    """Bytes a finished run keeps for a ``width`` x ``height`` output: the float32 result
    (3 samples a pixel, 4 with alpha) and its 8-bit display pyramid (the smaller levels add
    a third), and with ``before`` the float32 bicubic "before" and its pyramid."""
    samples = 4 if alpha else 3
    picture = samples * 4 // 3
    return width * height * (4 * samples + picture + ((4 * 3 + picture) if before else 0))


def restore_work(job: Job, item: QueueItem, model, tile: int | None, device: str, precision: str,
                 need_before: bool = True) -> RestoreOutcome:
    """Worker thread: run one queue item.

    Args:
        job: the running job (progress, live tiles, cancel).
        item: what to run.
        model: the cached ``ImageModelDescriptor`` for ``item.model_key``, or None to load it.
        tile: tile side in LR pixels (0 = whole image, None = automatic), as
            ``restorer.inference.restore_into``.
        device, precision: as ``restorer.inference.restore_into``.
        need_before: also build the bicubic "before" (skipped when the
            document has one at that size).

    Returns:
        :class:`RestoreOutcome`. Live tiles are emitted as ``tile_ready(job,
        (QRectF in output pixels, QImage))``.

    Raises:
        InsufficientMemoryError: the output (:func:`held_bytes`) cannot fit in the available
            RAM, checked before the model is loaded; one line naming the file and both figures.
        Whatever else the engine raises (``ImageError``, ``ModelLoadError``,
        ``Cancelled``, ``ValueError``, ``RuntimeError``), reported by the job.
    """
    with quiet_gc():  # first use imports the engine (see quiet_gc)
        from restorer.batch import check_output_memory
        from restorer.device import pick_device
        from restorer.inference import clip_region, output_size, restore
        from restorer.io import load_image
        from restorer.models import load_model
        from restorer.resample import resize
        from restorer.tiling import available_memory

    image = item.image if item.image is not None else load_image(item.path)
    scale = int(item.scale)
    width, height = image.size
    x0, y0, x1, y1 = (0, 0, width, height) if item.crop is None else clip_region(item.crop, width, height)
    out_w, out_h = output_size((x1 - x0, y1 - y0), scale)
    need = held_bytes(out_w, out_h, image.alpha is not None, need_before and item.crop is None)
    check_output_memory(item.path, out_w, out_h, need, available_memory("cpu"))
    if model is None:
        with quiet_gc():  # the first load imports spandrel's architectures
            model = load_model(item.model_key)
    dev = str(pick_device(device))
    piece = float(scale) / float(model.scale)  # native output px -> displayed px

    def on_tile(box, tile_rgb) -> None:
        rect = QRectF(box[0] * piece, box[1] * piece, (box[2] - box[0]) * piece, (box[3] - box[1]) * piece)
        job.tile_ready.emit(job, (rect, tensor_to_qimage(tile_rgb)))

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = restore(model, image.rgb, image.alpha, scale=scale, region=item.crop, tile=tile, device=dev,
                         precision=precision, progress=lambda done, total: job.progress.emit(job, done, total),
                         cancel=job.cancel_event, on_tile=on_tile)
    seconds = time.perf_counter() - start
    notes = list(dict.fromkeys(first_line(w.message) for w in caught if issubclass(w.category, UserWarning)))
    out = RestoreOutcome(item=item, model=model, image=image, device=dev, seconds=seconds,
                         rgb=result.rgb, alpha=result.alpha, scale=result.scale, notes=notes)
    if result.region is not None:  # a crop preview: the engine restored the crop with its context
        out.alpha = None
        out.tile_rect = QRectF(result.region[0] * scale, result.region[1] * scale, result.rgb.shape[-1],
                               result.rgb.shape[-2])
        out.tile_image = tensor_to_qimage(result.rgb)
        return out
    out.pyramid = ImagePyramid(tensor_to_qimage(result.rgb, result.alpha))
    if need_before:
        out.before = resize(image.rgb, tuple(result.rgb.shape[-2:]), mode="bicubic")
        out.before_pyramid = ImagePyramid(tensor_to_qimage(out.before, result.alpha))
    return out


class RunQueue(QObject):
    """Runs :class:`QueueItem` s one after another on worker threads.

    The window supplies ``make_work(item) -> fn(job)`` (the worker function
    with the current options bound) and connects to the signals.

    Signals:
        changed(): the list or an item's status/progress changed.
        started(item): an item began.
        progress(item, done, total): tiles done.
        tile(item, payload): a live tile ``(QRectF output pixels, QImage)``.
        finished(item, outcome): ``item.status`` is ``done`` (``outcome`` is a
            :class:`RestoreOutcome`), ``failed`` (``outcome`` is the exception)
            or ``cancelled`` (``outcome`` None).
        drained(): nothing is running and nothing waits.
    """

    changed = Signal()
    started = Signal(object)
    progress = Signal(object, int, int)
    tile = Signal(object, object)
    finished = Signal(object, object)
    drained = Signal()

    def __init__(self, make_work, ops: Operations, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._make_work = make_work
        self._ops = ops  # the window's: its drain() on close waits for the running item too
        self.items: list[QueueItem] = []
        self.running: QueueItem | None = None
        self._op: Op | None = None

    @property
    def job(self) -> Job | None:
        """The running item's job (None when idle)."""
        return self._op.job if self._op is not None else None

    def add(self, item: QueueItem, first: bool = False) -> QueueItem:
        """Append ``item`` (or put it first among the waiting ones) and start if idle."""
        waiting = [i for i in self.items if i.status == "waiting"]
        if first and waiting:
            self.items.insert(self.items.index(waiting[0]), item)
        else:
            self.items.append(item)
        self.changed.emit()
        self._next()
        return item

    def pending(self) -> list[QueueItem]:
        """The waiting items, in the order they will run."""
        return [i for i in self.items if i.status == "waiting"]

    def is_running(self) -> bool:
        """True from an item's start until its outcome is handled (the Cancel button's state)."""
        return self._op is not None

    def cancel_current(self) -> None:
        """Ask the running item to stop between tiles (the queue then goes on)."""
        if self._op is not None:
            self._op.cancel()

    def clear_pending(self) -> None:
        """Drop the waiting items and the finished ones from the list."""
        self.items = [i for i in self.items if i is self.running]
        self.changed.emit()

    def stop(self) -> None:
        """Cancel everything (window closing / new document): the waiting items are marked
        cancelled and the running one is asked to stop (``Operations.drain`` waits for it)."""
        for i in self.pending():
            i.status = "cancelled"
        self.cancel_current()

    def _next(self) -> None:
        if self._op is not None:
            return
        waiting = self.pending()
        if not waiting:
            self.drained.emit()
            return
        item = waiting[0]
        item.status = "running"
        op = (self._ops.op(self._make_work(item))
              .progress(lambda done, total: self._on_progress(item, done, total))
              .tile(lambda payload: self.tile.emit(item, payload))
              .success(lambda outcome: self._end(op, item, "done", outcome))
              .failure(lambda exc: self._end(op, item, "failed", exc))
              .cancelled(lambda: self._end(op, item, "cancelled", None)))
        self._op, self.running = op, item
        op.run()
        self.started.emit(item)
        self.changed.emit()

    def _on_progress(self, item: QueueItem, done: int, total: int) -> None:
        item.done, item.total = done, total
        self.progress.emit(item, done, total)
        self.changed.emit()

    def _end(self, op: Op, item: QueueItem, status: str, outcome) -> None:
        if op is not self._op:
            return
        self._op, self.running = None, None
        item.status = status
        if status == "failed":
            item.message = first_line(outcome)
        self.changed.emit()
        self.finished.emit(item, outcome)
        self._next()
