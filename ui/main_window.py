"""The "Restorer" main window.

Open an image (menu, Ctrl+O, drag and drop, or the command line), pick a model
and a scale, press Restore: the engine runs on a worker thread
(:class:`ui.jobs.Job`), tile by tile, with a progress bar, a live preview and a
Cancel button. Then the before (input, bicubic to the output size) and after
(restored) panes show the same region at the same zoom, and the metrics panel
reads LPIPS / PSNR / SSIM, also against a reference image when one is loaded.

The engine (``restorer``, which imports torch) is imported lazily, so the window
appears before torch has loaded.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, Qt, Signal, Slot
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QToolBar,
    QWidget,
)

from .compare_view import BeforeAfterView
from .jobs import Job
from .metrics_panel import MetricsPanel
from .qimage import tensor_to_qimage

__all__ = ["MainWindow"]

# File-dialog filters.
OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
SAVE_FILTER = "PNG (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff)"
MODEL_FILTER = "Model files (*.safetensors *.pth *.pt *.ckpt);;All files (*)"
_OPEN_MODEL = "__open_model_file__"


@dataclass
class RestoreOutcome:
    """What a restore job hands back to the GUI thread.

    Attributes:
        model_key: the model combo's data (None = bundled, else a file path).
        model: the loaded spandrel ``ImageModelDescriptor`` (cached for the next run).
        device: the device it ran on (``"cpu"``, ``"cuda"``, ``"mps"``).
        result: the ``restorer.inference.RestoreResult``.
        before: the input resized to the output size (antialiased bicubic),
            float32 (1, 3, H', W') in [0, 1].
        before_image, after_image: QImages of ``before`` and the result (with alpha).
        seconds: wall time of the restore call, seconds.
    """

    model_key: str | None
    model: Any  # spandrel ImageModelDescriptor, cached for the next run
    device: str
    result: Any  # restorer.inference.RestoreResult
    before: Any  # input resized (bicubic) to the output size, (1, 3, H, W)
    before_image: Any  # QImage
    after_image: Any  # QImage
    seconds: float


def _restore_work(job: Job, model_key, model, rgb, alpha, scale, tile, device, precision) -> RestoreOutcome:
    """Worker thread: load the model (unless cached), restore, build the bicubic "before"."""
    from restorer.inference import pick_device, resize, restore
    from restorer.models import load_model

    if model is None:
        model = load_model(model_key)
    dev = str(pick_device(device))
    piece_scale = float(scale) / float(model.scale)  # native output px -> displayed px

    def on_tile(box, tile_rgb) -> None:
        x0, y0 = box[0], box[1]
        job.tile_ready.emit(job, (QPointF(x0 * piece_scale, y0 * piece_scale), tensor_to_qimage(tile_rgb), piece_scale))

    start = time.perf_counter()
    result = restore(
        model,
        rgb,
        alpha,
        scale=scale,
        tile=tile,
        device=dev,
        precision=precision,
        progress=lambda done, total: job.progress.emit(job, done, total),
        cancel=job.cancel_event,
        on_tile=on_tile,
    )
    seconds = time.perf_counter() - start
    before = resize(rgb, tuple(result.rgb.shape[-2:]), mode="bicubic")
    return RestoreOutcome(
        model_key=model_key,
        model=model,
        device=dev,
        result=result,
        before=before,
        before_image=tensor_to_qimage(before, result.alpha),
        after_image=tensor_to_qimage(result.rgb, result.alpha),
        seconds=seconds,
    )


def _metrics_work(job: Job, pairs: dict[str, tuple[Any, Any]], device: str) -> dict[str, dict[str, float]]:
    """Worker thread: ``restorer.metrics.compare`` for each (image, reference) pair."""
    from restorer.metrics import compare

    out = {}
    for key, (image, reference) in pairs.items():
        if job.cancel_event.is_set():
            break
        out[key] = compare(image, reference, device=device)
    return out


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class MainWindow(QMainWindow):
    """The Restorer desktop window.

    Signals (for tests and scripting):
        restore_finished(str): ``"done"``, ``"cancelled"`` or ``"failed"``.
        metrics_finished(): a metrics computation ended (values or message shown).
    """

    restore_finished = Signal(str)
    metrics_finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restorer")
        self.setAcceptDrops(True)
        self.resize(1200, 800)

        #: Engine options (tile side in LR pixels, device, precision).
        self.tile = 256
        self.device = "auto"
        self.precision = "auto"

        self.image = None  # restorer.io.LoadedImage
        self.image_path: Path | None = None
        self.result = None  # restorer.inference.RestoreResult
        self.before = None  # tensor: input, bicubic to the output size
        self.reference = None  # restorer.io.LoadedImage
        self.reference_path: Path | None = None
        self.last_device: str | None = None
        self.last_seconds: float | None = None

        self._input_qimage = None
        self._models: dict[str | None, Any] = {}
        self._restore_job: Job | None = None
        self._metrics_job: Job | None = None
        self._retired: list[Job] = []  # stopped jobs still returning (metrics cannot be interrupted)
        self._metrics_device = "cpu"
        self._closing = False

        self.view = BeforeAfterView(self)
        self.setCentralWidget(self.view)
        self.metrics_panel = MetricsPanel(self)
        dock = QDockWidget("Metrics", self)
        dock.setObjectName("metrics_dock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        dock.setWidget(self.metrics_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.metrics_dock = dock

        self._build_actions()
        self._build_toolbar()
        self._build_status_bar()
        self.view.zoom_changed.connect(self._on_zoom_changed)
        self._update_controls()
        self.metrics_panel.set_message("Open an image (File ▸ Open…, or drop a file here), then press Restore.")

    # ================================================================== UI setup
    def _build_actions(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.open_action = QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open, triggered=self.open_dialog)
        self.reference_action = QAction("Load &reference…", self, triggered=self.reference_dialog)
        self.save_action = QAction("&Save As…", self, shortcut=QKeySequence("Ctrl+S"), triggered=self.save_dialog)
        self.quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit, triggered=self.close)
        for action in (self.open_action, self.reference_action, self.save_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.quit_action)

        self.restore_action = QAction("&Restore", self, shortcut=QKeySequence("Ctrl+R"), triggered=self.start_restore)
        self.cancel_action = QAction("&Cancel", self, shortcut=QKeySequence("Esc"), triggered=self.cancel_restore)
        run_menu = self.menuBar().addMenu("&Run")
        run_menu.addAction(self.restore_action)
        run_menu.addAction(self.cancel_action)

        view_menu = self.menuBar().addMenu("&View")
        self.fit_action = QAction("&Fit", self, shortcut=QKeySequence("Ctrl+0"), triggered=self.view.fit)
        self.actual_action = QAction("&1:1", self, shortcut=QKeySequence("Ctrl+1"), triggered=self.view.actual_size)
        self.zoom_in_action = QAction("Zoom &in", self, shortcut=QKeySequence.StandardKey.ZoomIn, triggered=self.view.zoom_in)
        self.zoom_out_action = QAction("Zoom &out", self, shortcut=QKeySequence.StandardKey.ZoomOut, triggered=self.view.zoom_out)
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        view_menu.addAction(self.metrics_dock.toggleViewAction())

    def _build_toolbar(self) -> None:
        bar = QToolBar("Controls", self)
        bar.setObjectName("controls")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addAction(self.open_action)
        bar.addSeparator()

        bar.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox(self)
        self.model_combo.addItem("Bundled (restorer-x4)", None)
        self.model_combo.addItem("Open model file…", _OPEN_MODEL)
        self.model_combo.setToolTip("Generator to run: the bundled model, or any model file spandrel can load")
        self._model_index = 0
        self.model_combo.activated.connect(self._on_model_activated)
        bar.addWidget(self.model_combo)

        bar.addWidget(QLabel("  Scale "))
        self.scale_combo = QComboBox(self)
        self.scale_combo.addItem("×2", 2)
        self.scale_combo.addItem("×4", 4)
        self.scale_combo.setCurrentIndex(1)
        bar.addWidget(self.scale_combo)
        bar.addWidget(QLabel(" "))

        self.restore_button = QPushButton("Restore", self)
        self.restore_button.setDefault(True)
        self.restore_button.clicked.connect(self.start_restore)
        bar.addWidget(self.restore_button)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_restore)
        bar.addWidget(self.cancel_button)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(220)
        self.progress_bar.setFormat("%v / %m tiles")
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        bar.addWidget(self.progress_bar)
        bar.addSeparator()

        for action, text in ((self.fit_action, "Fit"), (self.actual_action, "1:1"), (self.zoom_out_action, "−"), (self.zoom_in_action, "+")):
            action.setIconText(text)
            bar.addAction(action)
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(60)
        bar.addWidget(self.zoom_label)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.size_label = QLabel("No image", self)
        self.model_label = QLabel(f"Model: {self.model_combo.currentText()}", self)
        self.device_label = QLabel("Device: auto", self)
        self.time_label = QLabel("Last run: –", self)
        for label in (self.size_label, self.model_label, self.device_label, self.time_label):
            status.addPermanentWidget(label)

    # ============================================================== open / save
    def open_dialog(self) -> None:
        """Ask for an image file (File ▸ Open…) and open it."""
        start = str(self.image_path.parent) if self.image_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Open image", start, OPEN_FILTER)
        if path:
            self.open_image(path)

    def open_image(self, path: str | Path) -> bool:
        """Load ``path`` and show it in both panes; an error shows a message box.

        A run in progress is cancelled first (only once the file has decoded).
        Returns True on success, False after an error box (nothing is raised).
        """
        from restorer.io import load_image

        path = Path(path)
        try:
            with _wait_cursor():
                loaded = load_image(path)
                qimage = tensor_to_qimage(loaded.rgb, loaded.alpha)
        except Exception as exc:  # noqa: BLE001 - ImageError and anything else
            self.show_error("Cannot open image", _one_line(exc))
            return False
        self._stop_jobs()
        self.image, self.image_path, self._input_qimage = loaded, path, qimage
        self.result = self.before = None
        self.view.fit()
        self.view.set_images(qimage, before_title=f"Input  {path.name}", after_title="Not restored yet: press Restore")
        self.metrics_panel.clear()
        self.progress_bar.setValue(0)
        self.setWindowTitle(f"Restorer – {path.name}")
        self._update_reference_message()
        self._update_controls()
        self.statusBar().showMessage(f"Opened {path}", 5000)
        return True

    def reference_dialog(self) -> None:
        """Ask for a reference image (File ▸ Load reference…) and load it."""
        start = str(self.image_path.parent) if self.image_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Load reference image", start, OPEN_FILTER)
        if path:
            self.load_reference(path)

    def load_reference(self, path: str | Path) -> bool:
        """Load a ground-truth image to compare the restored (and bicubic) image against.

        It must have the output's size; otherwise the metrics panel says so.
        Returns True when it was read, False after an error box (nothing is raised).
        """
        from restorer.io import load_image

        path = Path(path)
        try:
            with _wait_cursor():
                reference = load_image(path)
        except Exception as exc:  # noqa: BLE001
            self.show_error("Cannot open reference", _one_line(exc))
            return False
        self.reference, self.reference_path = reference, path
        self.metrics_panel.clear(("after_ref", "before_ref"))
        self._update_reference_message()
        self._update_metrics()
        return True

    def save_dialog(self) -> None:
        """Ask for a file name (suggesting ``{stem}_restored_x{scale}.png`` beside
        the input) and save the restored image there."""
        if self.result is None:
            return
        suggested = ""
        if self.image_path is not None:
            scale = self.result.scale
            tag = f"x{int(scale)}" if float(scale).is_integer() else f"x{scale:g}"
            suggested = str(self.image_path.with_name(f"{self.image_path.stem}_restored_{tag}.png"))
        # The dialog itself asks before replacing an existing file.
        path, _ = QFileDialog.getSaveFileName(self, "Save restored image", suggested, SAVE_FILTER)
        if path:
            self.save_result(path, confirmed=True)

    def save_result(self, path: str | Path, confirmed: bool = False) -> bool:
        """Write the restored image (with the input's alpha, bit depth, ICC and EXIF).

        Never writes over the input or the reference. ``confirmed``: the user
        already agreed to replace ``path`` if it exists (the save dialog asked).
        A name without extension gets ``.png``; the extension picks the format
        (``restorer.io.SAVE_FORMATS``). Returns True when written; False when
        there is nothing to save or after an error box (nothing is raised).
        """
        from restorer.io import save_image

        if self.result is None or self.image is None:
            return False
        path = Path(path)
        if not path.suffix:
            path, confirmed = path.with_suffix(".png"), False  # the dialog did not ask about this name
        protect = tuple(p for p in (self.image_path, self.reference_path) if p is not None)
        try:
            with _wait_cursor():
                written = save_image(
                    path,
                    self.result.rgb,
                    self.result.alpha,
                    bits=self.image.bits,
                    grayscale=self.image.grayscale,
                    icc_profile=self.image.icc_profile,
                    pixels_in_profile=self.image.pixels_in_profile,
                    exif=self.image.exif,
                    overwrite=confirmed,
                    protect=protect,
                )
        except Exception as exc:  # noqa: BLE001
            self.show_error("Cannot save image", _one_line(exc))
            return False
        self.statusBar().showMessage(f"Saved {written}", 5000)
        return True

    # ------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not files:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_image(files[0])

    # ================================================================== models
    def set_model_file(self, path: str | Path) -> None:
        """Use a model file (adds it to the model list and selects it)."""
        path = str(Path(path))
        index = self.model_combo.findData(path)
        if index < 0:
            index = self.model_combo.count() - 1  # before "Open model file…"
            self.model_combo.insertItem(index, Path(path).name, path)
            self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(index)
        self._model_index = index
        self.model_label.setText(f"Model: {self.model_combo.currentText()}")

    def _on_model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) != _OPEN_MODEL:
            self._model_index = index
            self.model_label.setText(f"Model: {self.model_combo.currentText()}")
            return
        self.model_combo.setCurrentIndex(self._model_index)
        path, _ = QFileDialog.getOpenFileName(self, "Open model file", "", MODEL_FILTER)
        if path:
            self.set_model_file(path)

    # ================================================================= restore
    def is_running(self) -> bool:
        """True while a restore job is running."""
        return self._restore_job is not None

    def start_restore(self) -> None:
        """Start restoring the open image on a worker thread, with the selected
        model and scale and the ``tile``/``device``/``precision`` options.

        Does nothing while a restore runs; without an image it says so in the
        status bar. Ends with ``restore_finished`` (see the class docstring).
        """
        if self.image is None:
            self.statusBar().showMessage("Open an image first.", 5000)
            return
        if self._restore_job is not None:
            return
        self._stop_metrics()
        key = self.model_combo.currentData()
        scale = int(self.scale_combo.currentData())
        args = (key, self._models.get(key), self.image.rgb, self.image.alpha, scale, self.tile, self.device, self.precision)
        job = Job(lambda j: _restore_work(j, *args), self)
        job.progress.connect(self._on_restore_progress)
        job.tile_ready.connect(self._on_restore_tile)
        job.succeeded.connect(self._on_restore_done)
        job.failed.connect(self._on_restore_failed)
        job.cancelled.connect(self._on_restore_cancelled)
        self._restore_job = job
        self.result = self.before = None
        self.metrics_panel.clear()
        self.progress_bar.setRange(0, 0)  # busy until the first tile reports
        self.progress_bar.setTextVisible(True)
        # Preview: the input drawn at the output size; restored tiles appear on the right.
        self.view.set_images(
            self._input_qimage, item_scale=scale, smooth=True,
            before_title=f"Input (×{scale}, preview)", after_title="Restoring…",
        )
        self.statusBar().showMessage("Restoring…")
        self._update_controls()
        job.start()

    def cancel_restore(self) -> None:
        """Ask the running restore to stop (between tiles)."""
        if self._restore_job is not None:
            self._restore_job.cancel()
            self.statusBar().showMessage("Cancelling…")

    @Slot(object, int, int)
    def _on_restore_progress(self, job: Job, done: int, total: int) -> None:
        if job is self._restore_job and not self._closing:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)

    @Slot(object, object)
    def _on_restore_tile(self, job: Job, payload) -> None:
        if job is self._restore_job and not self._closing:
            pos, image, scale = payload
            self.view.add_tile(pos, image, scale)

    @Slot(object, object)
    def _on_restore_done(self, job: Job, outcome: RestoreOutcome) -> None:
        if not self._finish_job(job):
            return
        self._models[outcome.model_key] = outcome.model
        self.result, self.before = outcome.result, outcome.before
        self.last_device, self.last_seconds = outcome.device, outcome.seconds
        self._metrics_device = outcome.device
        model = outcome.model
        self.model_label.setText(f"Model: {model.architecture.name} ×{model.scale} ({self.model_combo.currentText()})")
        self.device_label.setText(f"Device: {outcome.device}")
        self.time_label.setText(f"Last run: {outcome.seconds:.2f} s")
        scale = f"{outcome.result.scale:g}"
        self.view.set_images(
            outcome.before_image, outcome.after_image,
            before_title=f"Before: bicubic ×{scale}", after_title=f"After: {model.architecture.name} ×{scale}",
        )
        self.statusBar().showMessage(f"Restored in {outcome.seconds:.2f} s", 5000)
        self._update_controls()
        self._update_reference_message()
        self._update_metrics()
        self.restore_finished.emit("done")

    @Slot(object, object)
    def _on_restore_failed(self, job: Job, exc: BaseException) -> None:
        if not self._finish_job(job):
            return
        self._show_input()
        self._update_controls()
        self.statusBar().showMessage("Restore failed.", 5000)
        self.show_error("Restore failed", _one_line(exc))
        self.restore_finished.emit("failed")

    @Slot(object)
    def _on_restore_cancelled(self, job: Job) -> None:
        if not self._finish_job(job):
            return
        self._show_input()
        self._update_controls()
        self.statusBar().showMessage("Cancelled.", 5000)
        self.restore_finished.emit("cancelled")

    def _finish_job(self, job: Job) -> bool:
        """Common end of a restore job; False when the job is stale or the window closing."""
        if job is not self._restore_job or self._closing:
            return False
        job.wait()  # the thread is returning from run(); this is immediate
        self._restore_job = None
        job.deleteLater()
        self._finish_progress()
        return True

    def _show_input(self) -> None:
        if self._input_qimage is not None:
            self.view.set_images(self._input_qimage, before_title=f"Input  {self.image_path.name}", after_title="Not restored")

    # ================================================================= metrics
    def _reference_matches(self) -> bool:
        return (
            self.reference is not None
            and self.result is not None
            and tuple(self.reference.rgb.shape[-2:]) == tuple(self.result.rgb.shape[-2:])
        )

    def _update_reference_message(self) -> None:
        if self.reference is None:
            if self.result is None and self.image is not None:
                self.metrics_panel.set_message("Press Restore; then load a reference (File ▸ Load reference…) to score against ground truth.")
            elif self.result is not None:
                self.metrics_panel.set_message("No reference: File ▸ Load reference… scores against a ground-truth image of the output's size.")
            return
        rw, rh = self.reference.size
        name = self.reference_path.name
        if self.result is None:
            self.metrics_panel.set_message(f"Reference {name} ({rw}×{rh}) loaded; scores appear after Restore.")
            return
        oh, ow = self.result.rgb.shape[-2:]
        if (rw, rh) != (ow, oh):
            self.metrics_panel.set_message(
                f"Reference {name} is {rw}×{rh} but the output is {ow}×{oh}: load a reference of the output's size.",
                error=True,
            )
        else:
            self.metrics_panel.set_message(f"Reference: {name} ({rw}×{rh}).")

    def _missing_pairs(self) -> dict[str, tuple[Any, Any]]:
        if self.result is None:
            return {}
        pairs = {"after_before": (self.result.rgb, self.before)}
        if self._reference_matches():
            pairs["after_ref"] = (self.result.rgb, self.reference.rgb)
            pairs["before_ref"] = (self.before, self.reference.rgb)
        return {k: v for k, v in pairs.items() if k not in self.metrics_panel.values}

    def _update_metrics(self) -> None:
        """Compute the metrics still missing for the current images, off the GUI thread."""
        if self._metrics_job is not None or self._closing:
            return  # recomputed when the running job ends
        pairs = self._missing_pairs()
        if not pairs:
            return
        device = self._metrics_device
        job = Job(lambda j: _metrics_work(j, pairs, device), self)
        job.snapshot = (self.result, self.reference)
        job.succeeded.connect(self._on_metrics_done)
        job.failed.connect(self._on_metrics_failed)
        self._metrics_job = job
        self.metrics_panel.set_pending(tuple(pairs))
        job.start()

    def _end_metrics_job(self, job: Job) -> bool:
        if job is not self._metrics_job or self._closing:
            return False
        job.wait()
        self._metrics_job = None
        job.deleteLater()
        return True

    @Slot(object, object)
    def _on_metrics_done(self, job: Job, values: dict) -> None:
        if not self._end_metrics_job(job):
            return
        result, reference = job.snapshot
        for pair, numbers in values.items():
            current = result is self.result and (pair == "after_before" or reference is self.reference)
            if current:
                self.metrics_panel.set_values(pair, numbers)
            else:
                self.metrics_panel.clear((pair,))  # the images changed meanwhile
        self._update_metrics()  # anything that changed meanwhile
        if self._metrics_job is None:
            self.metrics_finished.emit()

    @Slot(object, object)
    def _on_metrics_failed(self, job: Job, exc: BaseException) -> None:
        if not self._end_metrics_job(job):
            return
        self.metrics_panel.clear()
        message = _one_line(exc)
        self.metrics_panel.set_message(f"Metrics failed: {message}", error=True)
        self.metrics_finished.emit()
        self.show_error("Metrics failed", message)

    def _stop_metrics(self) -> None:
        """Drop the running metrics job without waiting: its result will be ignored."""
        job, self._metrics_job = self._metrics_job, None
        still_running = []
        for old in self._retired:
            if old.isFinished():
                old.deleteLater()
            else:
                still_running.append(old)
        self._retired = still_running
        if job is not None:
            job.cancel()
            self._retired.append(job)

    # ================================================================== helpers
    def show_error(self, title: str, message: str) -> None:
        """A modal error box; the window stays usable afterwards."""
        QMessageBox.critical(self, title, message)

    def _update_controls(self) -> None:
        running = self._restore_job is not None
        self.restore_button.setEnabled(self.image is not None and not running)
        self.restore_action.setEnabled(self.image is not None and not running)
        self.cancel_button.setEnabled(running)
        self.cancel_action.setEnabled(running)
        self.save_action.setEnabled(self.result is not None and not running)
        self.model_combo.setEnabled(not running)
        self.scale_combo.setEnabled(not running)
        if self.image is None:
            self.size_label.setText("No image")
        else:
            w, h = self.image.size
            text = f"Input {w}×{h}"
            if self.result is not None:
                oh, ow = self.result.rgb.shape[-2:]
                text += f" → output {ow}×{oh}"
            self.size_label.setText(text)

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f" {zoom * 100:.0f} %" if math.isfinite(zoom) else "")

    def _stop_jobs(self) -> None:
        """Cancel a running restore and wait for it (and for metrics)."""
        job, self._restore_job = self._restore_job, None
        if job is not None:
            job.cancel()
            job.wait()
            job.deleteLater()
            self._finish_progress()
        self._stop_metrics()
        self._update_controls()

    def _finish_progress(self) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Closing during a run cancels it and waits for the worker to stop."""
        jobs = [j for j in (self._restore_job, self._metrics_job, *self._retired) if j is not None]
        for job in jobs:
            job.cancel()
        self._closing = True
        for job in jobs:
            job.wait()
        self._restore_job = self._metrics_job = None
        self._retired = []
        super().closeEvent(event)


@contextmanager
def _wait_cursor():
    """A busy cursor for short synchronous work (file decode/encode)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()
