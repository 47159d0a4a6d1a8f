"""Restore runs of the open documents: what goes into the run queue, and what a
finished run adds to its document.

The queue itself (:mod:`ui.run_queue`) runs items one after another; this
module decides what an item is (the image, the chosen model and scale, a crop
for a quick preview), binds the run options to the worker, keeps the loaded
models for later runs, lays live tiles over the "after" picture, turns an
outcome into a :class:`~ui.session.Result` (or a crop preview) of its
document, and owns the run controls: the Restore, Preview and Cancel buttons,
the tile progress bar, and the status bar's device and time. A run's engine
warnings (precision fallback, tile shrunk...) end its status line.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, QObject, QRectF, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QProgressBar, QPushButton, QToolBar, QWidget

from .jobs import Job
from .operations import Operations
from .pyramid import ImagePyramid
from .qimage import tensor_to_qimage
from .run_options import RunOptions
from .run_queue import QueueItem, RestoreOutcome, RunQueue, restore_work
from .session import Coords, Document, Result, Session
from .views import ComparisonWorkbench

__all__ = ["Runs"]


class Runs(QObject):
    """The session's restore runs.

    Args:
        session: the documents (results are added to them).
        options: model, scale, tile, device and precision of new runs.
        workbench: where live tiles are drawn and the visible region is read.
        ops: where the runs execute.

    Attributes:
        queue: the :class:`~ui.run_queue.RunQueue` (its signals tell the window
            about starts, progress and ends; this object is connected first).
        last_device: the device of the last finished run, or None.
        restore_button, preview_button, cancel_button, progress_bar: run controls
            (:meth:`add_to` a toolbar).
        queue_list: the queue's items and their status, one line each.
        device_label, time_label: the device of the last run, and the running
            run's elapsed time or the last run's duration, for the status bar.

    Signals:
        message(text, ms): a status-bar line.
    """

    message = Signal(str, int)

    def __init__(self, session: Session, options: RunOptions, workbench: ComparisonWorkbench, ops: Operations,
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.session, self.options, self.workbench = session, options, workbench
        self.queue = RunQueue(self._make_work, ops, self)
        self.queue.started.connect(self._on_started)
        self.queue.progress.connect(self._on_progress)
        self.queue.tile.connect(self._on_tile)
        self.queue.finished.connect(self._on_finished)
        self.queue.changed.connect(self._update_queue_list)
        self.queue_list = QListWidget(parent)
        self.queue_list.setWordWrap(True)
        self.restore_button = QPushButton("Restore", parent)
        self.restore_button.setDefault(True)
        self.restore_button.clicked.connect(self.restore)
        self.preview_button = QPushButton("Preview crop", parent)
        self.preview_button.setToolTip("Restore only the visible part of the image (quick look)")
        self.preview_button.clicked.connect(self.preview_crop)
        self.cancel_button = QPushButton("Cancel", parent)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_bar = QProgressBar(parent)
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.setFormat("%v / %m tiles")
        self._set_progress_idle()
        self.device_label = QLabel("Device: auto", parent)
        self.time_label = QLabel("Last run: –", parent)
        self._elapsed = QElapsedTimer()
        self.last_device: str | None = None
        self._models: dict[str | None, Any] = {}  # loaded models by model key, reused by later runs
        self._live_tiles: list[tuple[QRectF, Any]] = []  # the running item's tiles, input pixels
        self._previews: dict[Path, list[tuple[QRectF, Any]]] = {}  # crop previews by document, input pixels

    def add_to(self, bar: QToolBar) -> None:
        """Put the Restore, Preview crop and Cancel buttons and the progress bar on a toolbar."""
        for widget in (self.restore_button, self.preview_button, self.cancel_button, self.progress_bar):
            bar.addWidget(widget)

    def update_status(self) -> None:
        """Refresh the labels: the running run's elapsed time, else the device runs go to."""
        if self.queue.is_running():
            if self._elapsed.isValid():
                self.time_label.setText(f"Elapsed: {self._elapsed.elapsed() / 1000:.1f} s")
        else:
            self.device_label.setText(f"Device: {self.last_device or self.options.device}")

    # ------------------------------------------------------------------ queue
    def item(self, doc: Document, model: tuple[str, str] | None = None,
             crop: tuple[int, int, int, int] | None = None) -> QueueItem:
        """A run of ``doc`` with ``model`` ((key, label); default the chosen one) at the chosen scale."""
        key, label = model if model is not None else self.options.model
        return QueueItem(path=doc.path, model_key=key, model_label=label, scale=self.options.scale,
                         image=doc.image, crop=crop)

    def restore(self) -> None:
        """Queue the shown image with the chosen model and scale (runs at once when the
        queue is idle). Without an image the status bar says so."""
        if self._need_image():
            self.queue.add(self.item(self.session.doc))

    def queue_all_images(self) -> None:
        """Queue every open image with the chosen model and scale."""
        for doc in list(self.session.documents.values()):
            self.queue.add(self.item(doc))

    def queue_all_models(self) -> None:
        """Queue the shown image once with every model in the model list."""
        if self._need_image():
            for model in self.options.model_choices():
                self.queue.add(self.item(self.session.doc, model))

    def preview_crop(self) -> None:
        """Restore only the part of the input under the visible region (ahead of
        waiting runs); the piece appears in place on the "after" picture."""
        if not self._need_image() or self.session.image is None:
            return
        box = self.workbench.visible_region()
        if box is not None:
            crop = self._coords().view_box_to_input(box)
            self.queue.add(self.item(self.session.doc, crop=crop), first=True)

    def cancel(self) -> bool:
        """Ask the running item to stop (between tiles); waiting runs go on. False when none runs."""
        if not self.queue.is_running():
            return False
        self.queue.cancel_current()
        self.message.emit("Cancelling…", 0)
        return True

    # ---------------------------------------------------------------- display
    def running_full(self) -> QueueItem | None:
        """The whole-image run of the shown document in progress, or None."""
        item = self.queue.running
        if item is not None and item.crop is None and self.session.is_current(item.path):
            return item
        return None

    def tiles(self, doc: Document) -> list[tuple[QRectF, Any]]:
        """The pieces to lay over ``doc``'s "after" picture, in input pixels: the running
        run's live tiles, else its crop previews."""
        if self.running_full() is not None:
            return list(self._live_tiles)
        return list(self._previews.get(doc.path.resolve(), []))

    # --------------------------------------------------------------- internal
    def _need_image(self) -> bool:
        if self.session.doc is None:
            self.message.emit("Open an image first.", 5000)
            return False
        return True

    def _coords(self) -> Coords:
        return self.session.coords(self.workbench.viewport.image_size.width())

    def _make_work(self, item: QueueItem):
        """The worker function of ``item``, with the model and options of now bound."""
        model = self._models.get(item.model_key)
        doc = self.session.document_at(item.path)
        tile, device, precision = self.options.tile, self.options.device, self.options.precision

        def work(job: Job) -> RestoreOutcome:
            need_before = True
            if doc is not None and doc.image is not None and item.crop is None:
                h, w = doc.image.rgb.shape[-2:]
                need_before = (round(h * item.scale), round(w * item.scale)) not in doc.befores
            return restore_work(job, item, model, tile, device, precision, need_before=need_before)

        return work

    def _update_queue_list(self) -> None:
        self.queue_list.clear()
        for item in self.queue.items:
            QListWidgetItem(item.describe(), self.queue_list).setToolTip(item.describe())

    def _on_started(self, item: QueueItem) -> None:
        self._live_tiles = []
        self._elapsed.start()
        self.progress_bar.setRange(0, 0)  # busy until the first tile reports
        self.progress_bar.setTextVisible(True)
        self.message.emit(f"Restoring {item.path.name} with {item.label}…", 0)

    def _on_progress(self, item: QueueItem, done: int, total: int) -> None:
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(done)

    def _set_progress_idle(self) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)

    def _on_tile(self, item: QueueItem, payload) -> None:
        if not self.session.is_current(item.path):
            return
        rect, image = payload
        piece = Coords.output_to_input(rect, item.scale)
        self._live_tiles.append((piece, image))
        self.workbench.add_tile(self.workbench.after_key, self._coords().input_to_view(piece), image)

    def _on_finished(self, item: QueueItem, outcome) -> None:
        self._live_tiles = []
        self._set_progress_idle()
        doc = self.session.document_at(item.path)
        if item.status == "done" and doc is not None:
            self._add(doc, item, outcome)
        elif item.status == "cancelled":
            self.message.emit("Cancelled.", 5000)
        elif item.status == "failed":
            self.message.emit("Restore failed.", 5000)

    def _add(self, doc: Document, item: QueueItem, outcome: RestoreOutcome) -> None:
        """A finished run: a crop preview, or a result that becomes the document's current one."""
        self._models[item.model_key] = outcome.model
        self.last_device = outcome.device
        self.device_label.setText(f"Device: {outcome.device}")
        self.time_label.setText(f"Last run: {outcome.seconds:.2f} s")
        if doc.image is None:
            doc.image = outcome.image
            doc.pyramid = ImagePyramid(tensor_to_qimage(outcome.image.rgb, outcome.image.alpha))
        if item.crop is not None:
            piece = Coords.output_to_input(outcome.tile_rect, item.scale)
            self._previews.setdefault(doc.path.resolve(), []).append((piece, outcome.tile_image))
            self.message.emit(f"Preview of the visible crop in {outcome.seconds:.2f} s" + _noted(outcome), 5000)
            return
        if outcome.before is not None:
            doc.befores[tuple(outcome.rgb.shape[-2:])] = (outcome.before, outcome.before_pyramid)
        doc.results[item.label] = Result(
            label=item.label, rgb=outcome.rgb, alpha=outcome.alpha, scale=outcome.scale, pyramid=outcome.pyramid,
            architecture=outcome.model.architecture.name, device=outcome.device, seconds=outcome.seconds)
        doc.current = item.label
        self._previews.pop(doc.path.resolve(), None)
        self.message.emit(f"Restored {item.path.name} ({item.label}) in {outcome.seconds:.2f} s" + _noted(outcome),
                          5000)


def _noted(outcome: RestoreOutcome) -> str:
    """The engine's warnings of a run for the status line: `` (fp16 requested on the CPU: running in fp32)``."""
    return f" ({'; '.join(outcome.notes)})" if outcome.notes else ""
