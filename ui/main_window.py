"""The "Restorer" main window: the comparison workbench.

Open images (menu, recent files, drag and drop of files and folders, the
command line), pick a model, scale, tile and device, press Restore: runs go
through a queue (:mod:`ui.run_queue`) on worker threads, with per-tile
progress, live tiles, Cancel and a quick preview of just the visible crop. The
results are compared in one of the views of :mod:`ui.views` (side by side,
slider, toggle, loupe, grid), all over one shared viewport; the metrics panel
reads the whole image and, live, the visible region (:mod:`ui.readouts`), and an
LPIPS heat map can be laid over the result.

The engine (``restorer``, which imports torch) is imported lazily, so the
window appears before torch has loaded; a background warm-up then imports it
and lists the devices and bundled models.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, QRectF, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolBar,
    QWidget,
)

from restorer.facts import (AFTER_BEFORE, AFTER_REF, BEFORE_REF, CONSISTENCY, METRICS, MIN_SIDE, OPEN_EXTENSIONS,
                            PAIRS, SAVE_FORMATS, first_line, format_value, output_name)

from .export import compose_side_by_side, compose_slider, save_png_atomic
from .jobs import Job, quiet_gc
from .metrics_panel import MetricsPanel
from .pyramid import ImagePyramid
from .qimage import tensor_to_qimage
from .readouts import ReadoutController
from .run_queue import QueueItem, RestoreOutcome, RunQueue, restore_work
from .session import Document, Result
from .settings import Settings
from .shortcuts import ShortcutOverlay
from .status import gpu_memory_mb, process_memory_mb
from .views import MODES, ComparisonWorkbench

__all__ = ["MainWindow"]

# File-dialog filters, from the extensions the engine opens and writes (restorer.facts).
OPEN_FILTER = f"Images ({' '.join('*' + ext for ext in sorted(OPEN_EXTENSIONS))});;All files (*)"
#: One filter per output format, in ``SAVE_FORMATS`` order: ``PNG (*.png)``, ``JPEG (*.jpg *.jpeg)``...
SAVE_FILTERS = {fmt: f"{fmt} ({' '.join('*' + e for e, f in SAVE_FORMATS.items() if f == fmt)})"
                for fmt in dict.fromkeys(SAVE_FORMATS.values())}
SAVE_FILTER = ";;".join(SAVE_FILTERS.values())
MODEL_FILTER = "Model files (*.safetensors *.pth *.pt *.ckpt);;All files (*)"
MODEL_SUFFIXES = {".safetensors", ".pth", ".pt", ".ckpt"}
DEFAULT_MODEL = "restorer-x4"
_OPEN_MODEL = "__open_model_file__"


def _metrics_work(job: Job, pairs: dict[str, tuple[Any, Any]], device: str) -> dict[str, dict[str, float]]:
    """Worker thread: ``restorer.metrics.compare`` for each (image, reference)
    pair; ``restorer.metrics.consistency`` for the ``CONSISTENCY`` pair
    (restored, LR input), skipped when the input is under ``MIN_SIDE`` pixels."""
    from restorer.metrics import compare, consistency

    out = {}
    for key, (image, reference) in pairs.items():
        if job.cancel_event.is_set():
            break
        if key == CONSISTENCY:
            if min(reference.shape[-2:]) >= MIN_SIDE:
                out[key] = consistency(image, reference, device=device)
            else:
                out[key] = {}
        else:
            out[key] = compare(image, reference, device=device)
    return out


def _load_work(job: Job, path: Path):
    """Worker thread: decode an image file and build its display pyramid.

    Returns:
        (``LoadedImage``, :class:`ImagePyramid`, notes): notes are the decoder's
        warnings as one-line strings (animated file: first frame only, ICC profile
        ignored...), for the status bar.
    """
    import warnings

    from restorer.io import load_image

    with quiet_gc(), warnings.catch_warnings(record=True) as caught:  # the first decode may import torch
        warnings.simplefilter("always", UserWarning)
        loaded = load_image(path)
    notes = [first_line(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return loaded, ImagePyramid(tensor_to_qimage(loaded.rgb, loaded.alpha)), notes


def _warm_up_work(job: Job) -> tuple[list[str], list[str]]:
    """Worker thread: import the engine (torch) and list bundled models and devices."""
    with quiet_gc():  # a big import: no long GC pauses meanwhile (see quiet_gc)
        import torch

        import spandrel  # noqa: F401 - its architectures now, not during the first run
        from restorer.metrics import RegionMetrics  # noqa: F401 - imported now, not at the first readout
        from restorer.models import BUNDLED_MODELS

    devices = ["auto", "cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        devices += ["cuda"] + ([f"cuda:{i}" for i in range(n)] if n > 1 else [])
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return list(BUNDLED_MODELS), devices


class MainWindow(QMainWindow):
    """The Restorer desktop window.

    Args:
        parent: Qt parent.
        settings: where settings persist (default: :class:`~ui.settings.Settings`
            on ``QSettings()``).
        warm_up: import the engine in the background once shown (lists devices
            and bundled models); tests may turn it off.

    Signals (for tests and scripting):
        image_opened(str): an image is shown (its path).
        restore_finished(str): a queue item ended: ``"done"``, ``"cancelled"`` or ``"failed"``.
        queue_drained(): the run queue is empty and idle.
        metrics_finished(): a whole-image metrics computation ended.
        readouts_finished(): a visible-region readout was shown.
        heatmap_finished(): a heat map was laid over the result.
    """

    image_opened = Signal(str)
    restore_finished = Signal(str)
    queue_drained = Signal()
    metrics_finished = Signal()
    readouts_finished = Signal()
    heatmap_finished = Signal()

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None, warm_up: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restorer")
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self.settings = settings if settings is not None else Settings()

        #: Generator precision (``auto``/``fp32``/``fp16``/``bf16``).
        self.precision = "auto"
        self.documents: dict[Path, Document] = {}
        self.doc: Document | None = None
        self.last_device: str | None = None
        self._models: dict[str | None, Any] = {}
        self._metrics_job: Job | None = None
        self._warm_job: Job | None = None
        self._open_job: Job | None = None
        self._retired: list[Job] = []
        self._closing = False
        self._live_tiles: list[tuple[QRectF, Any]] = []  # current run's tiles, in LR pixels
        self._previews: dict[Path, list[tuple[QRectF, Any]]] = {}  # crop previews, LR pixels
        self._heat_cache: dict[tuple[int, str], tuple[ImagePyramid, float]] = {}
        self._readout_key: tuple | None = None
        self._readout_error_shown = False
        self._warm_up_enabled = warm_up
        self._warmed = False

        self.workbench = ComparisonWorkbench(self)
        self.setCentralWidget(self.workbench)
        self.metrics_panel = MetricsPanel(self)
        self.metrics_dock = self._dock("Metrics", "metrics_dock", self.metrics_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.queue_list = QListWidget(self)
        self.queue_list.setWordWrap(True)
        self.queue_dock = self._dock("Run queue", "queue_dock", self.queue_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self.images_list = QListWidget(self)
        self.images_list.itemActivated.connect(self._on_image_activated)
        self.images_list.itemClicked.connect(self._on_image_activated)
        self.images_dock = self._dock("Images", "images_dock", self.images_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.queue_dock, self.images_dock)
        self.queue_dock.raise_()

        self.queue = RunQueue(self._make_work, self)
        self.queue.changed.connect(self._update_queue_list)
        self.queue.started.connect(self._on_item_started)
        self.queue.progress.connect(self._on_item_progress)
        self.queue.tile.connect(self._on_item_tile)
        self.queue.finished.connect(self._on_item_finished)
        self.queue.drained.connect(self._on_drained)
        self.readouts = ReadoutController(self)
        self.readouts.region_ready.connect(self._on_region_ready)
        self.readouts.heatmap_ready.connect(self._on_heatmap_ready)
        self.readouts.failed.connect(self._on_readout_failed)

        self._build_actions()
        self._build_toolbars()
        self._build_status_bar()
        self.help_overlay = ShortcutOverlay(self._all_actions(), self.workbench)
        self.workbench.viewport.changed.connect(self._on_viewport_changed)
        self.workbench.viewport.zoom_changed.connect(self._on_zoom_changed)
        self.workbench.mode_changed.connect(self._on_mode_changed)
        self._elapsed = QElapsedTimer()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(500)
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()

        self._restore_settings()
        self._update_controls()
        self._update_status()
        self.metrics_panel.set_message("Open an image (File ▸ Open…, or drop files or a folder here), then press Restore.")

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    # ================================================================== UI setup
    def _action(self, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            keys = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(k) for k in keys])
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_action = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.open_folder_action = self._action("Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O")
        self.reference_action = self._action("Load &reference…", self.reference_dialog, "Ctrl+Shift+F")
        self.save_action = self._action("&Save As…", self.save_dialog, "Ctrl+S")
        self.export_action = self._action("&Export comparison…", self.export_dialog, "Ctrl+E")
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_folder_action)
        self.recent_menu = file_menu.addMenu("Open &recent")
        for action in (self.reference_action, self.save_action, self.export_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        edit_menu = bar.addMenu("&Edit")
        self.copy_metrics_action = self._action("&Copy metrics table", self.copy_metrics, "Ctrl+Shift+C")
        edit_menu.addAction(self.copy_metrics_action)

        run_menu = bar.addMenu("&Run")
        self.restore_action = self._action("&Restore", self.start_restore, "Ctrl+R")
        self.preview_action = self._action("&Preview visible crop", self.preview_crop, "Ctrl+P")
        self.queue_all_action = self._action("Queue all open &images", self.queue_all_images, "Ctrl+Shift+R")
        self.queue_models_action = self._action("Queue every &model on this image", self.queue_all_models, "Ctrl+Shift+M")
        self.cancel_action = self._action("&Cancel", self.cancel_restore, "Esc")
        self.clear_queue_action = self._action("C&lear waiting runs", self.clear_queue)
        for action in (self.restore_action, self.preview_action, self.queue_all_action, self.queue_models_action,
                       self.cancel_action, self.clear_queue_action):
            run_menu.addAction(action)

        view_menu = bar.addMenu("&View")
        self.mode_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        for i, (mode, text) in enumerate(MODES.items()):
            action = self._action(text, lambda _=False, m=mode: self.set_view_mode(m), str(i + 1), checkable=True)
            group.addAction(action)
            view_menu.addAction(action)
            self.mode_actions[mode] = action
        self.mode_actions["side"].setChecked(True)
        self.orientation_action = self._action("Slider &vertical", self._on_orientation, "V", checkable=True)
        self.heat_action = self._action("LPIPS &heat map", self.set_heat_visible, "H", checkable=True)
        self.next_result_action = self._action("Next &result", self.next_result, "N")
        view_menu.addSeparator()
        for action in (self.orientation_action, self.heat_action, self.next_result_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        self.fit_action = self._action("&Fit", self.workbench.fit, ["Ctrl+0", "F"])
        self.actual_action = self._action("&1:1", self.workbench.actual_size, ["Ctrl+1", "0"])
        self.zoom_in_action = self._action("Zoom &in", self.workbench.zoom_in, [QKeySequence.StandardKey.ZoomIn, "+", "="])
        self.zoom_out_action = self._action("Zoom &out", self.workbench.zoom_out, [QKeySequence.StandardKey.ZoomOut, "-"])
        for action in (self.fit_action, self.actual_action, self.zoom_in_action, self.zoom_out_action):
            view_menu.addAction(action)
        view_menu.addSeparator()
        for dock in (self.metrics_dock, self.queue_dock, self.images_dock):
            view_menu.addAction(dock.toggleViewAction())

        help_menu = bar.addMenu("&Help")
        self.help_action = self._action("&Keyboard shortcuts", self.toggle_help, ["F1", "?"])
        help_menu.addAction(self.help_action)
        for action in self._all_actions():
            self.addAction(action)  # shortcuts work while the menu bar is hidden, too

    def _all_actions(self) -> list[QAction]:
        return [self.open_action, self.open_folder_action, self.reference_action, self.save_action, self.export_action,
                self.copy_metrics_action, self.restore_action, self.preview_action, self.queue_all_action,
                self.queue_models_action, self.cancel_action, *self.mode_actions.values(), self.orientation_action,
                self.heat_action, self.next_result_action, self.fit_action, self.actual_action, self.zoom_in_action,
                self.zoom_out_action, self.help_action, self.quit_action]

    def _build_toolbars(self) -> None:
        bar = QToolBar("Run", self)
        bar.setObjectName("run_toolbar")
        bar.setMovable(False)
        self.addToolBar(bar)
        bar.addAction(self.open_action)
        bar.addSeparator()
        bar.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox(self)
        self.model_combo.addItem(DEFAULT_MODEL, DEFAULT_MODEL)
        self.model_combo.addItem("Open model file…", _OPEN_MODEL)
        self.model_combo.setToolTip("Generator: a bundled model, or any model file spandrel can load (remembered)")
        self._model_index = 0
        self.model_combo.activated.connect(self._on_model_activated)
        bar.addWidget(self.model_combo)
        bar.addWidget(QLabel("  Scale "))
        self.scale_combo = QComboBox(self)
        self.scale_combo.addItem("×2", 2)
        self.scale_combo.addItem("×4", 4)
        self.scale_combo.setCurrentIndex(1)
        bar.addWidget(self.scale_combo)
        bar.addWidget(QLabel("  Tile "))
        self.tile_spin = QSpinBox(self)
        self.tile_spin.setRange(0, 4096)
        self.tile_spin.setSingleStep(32)
        self.tile_spin.setValue(256)
        self.tile_spin.setSpecialValueText("off")
        self.tile_spin.setToolTip("Tile side in input pixels (0 = whole image at once)")
        bar.addWidget(self.tile_spin)
        bar.addWidget(QLabel("  Device "))
        self.device_combo = QComboBox(self)
        for name in ("auto", "cpu"):
            self.device_combo.addItem(name, name)
        self.device_combo.setToolTip("Where the generator and the metrics run (auto: CUDA, then MPS, then CPU)")
        bar.addWidget(self.device_combo)
        bar.addWidget(QLabel(" "))
        self.restore_button = QPushButton("Restore", self)
        self.restore_button.setDefault(True)
        self.restore_button.clicked.connect(self.start_restore)
        bar.addWidget(self.restore_button)
        self.preview_button = QPushButton("Preview crop", self)
        self.preview_button.setToolTip("Restore only the visible part of the image (quick look)")
        self.preview_button.clicked.connect(self.preview_crop)
        bar.addWidget(self.preview_button)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_restore)
        bar.addWidget(self.cancel_button)
        self.progress_bar = QProgressBar(self)
        self.progress_bar.setMaximumWidth(200)
        self.progress_bar.setFormat("%v / %m tiles")
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        bar.addWidget(self.progress_bar)

        self.addToolBarBreak()
        vbar = QToolBar("View", self)
        vbar.setObjectName("view_toolbar")
        vbar.setMovable(False)
        self.addToolBar(vbar)
        for action in self.mode_actions.values():
            vbar.addAction(action)
        vbar.addAction(self.orientation_action)
        vbar.addSeparator()
        vbar.addWidget(QLabel(" After "))
        self.result_combo = QComboBox(self)
        self.result_combo.setMinimumContentsLength(14)
        self.result_combo.setToolTip("Which result is compared with the bicubic 'before' (N: next)")
        self.result_combo.activated.connect(lambda i: self.show_result(self.result_combo.itemData(i)))
        vbar.addWidget(self.result_combo)
        vbar.addSeparator()
        self.heat_action.setIconText("Heat map")
        vbar.addAction(self.heat_action)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(60)
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.setToolTip("Heat-map opacity")
        self.opacity_slider.valueChanged.connect(lambda v: self.workbench.set_heat_opacity(v / 100))
        vbar.addWidget(self.opacity_slider)
        vbar.addSeparator()
        for action, text in ((self.fit_action, "Fit"), (self.actual_action, "1:1"), (self.zoom_out_action, "−"), (self.zoom_in_action, "+")):
            action.setIconText(text)
            vbar.addAction(action)
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(60)
        vbar.addWidget(self.zoom_label)

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.size_label = QLabel("No image", self)
        self.model_label = QLabel("", self)
        self.device_label = QLabel("Device: auto", self)
        self.memory_label = QLabel("Memory: –", self)
        self.time_label = QLabel("Last run: –", self)
        for label in (self.size_label, self.model_label, self.device_label, self.memory_label, self.time_label):
            status.addPermanentWidget(label)
        self._update_model_label()

    # ================================================================ settings
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        for path in s.model_files():
            self._add_model_item(path)
        last = s.value("model/last", DEFAULT_MODEL)
        if last and last != _OPEN_MODEL:
            if self.model_combo.findData(last) < 0 and not ("/" in last or "\\" in last or Path(last).suffix):
                self.model_combo.insertItem(self.model_combo.count() - 1, last, last)  # a bundled name
            index = self.model_combo.findData(last)
            if index >= 0:
                self.model_combo.setCurrentIndex(index)
                self._model_index = index
        scale = s.value("run/scale", 4, int)
        if self.scale_combo.findData(scale) >= 0:
            self.scale_combo.setCurrentIndex(self.scale_combo.findData(scale))
        self.tile_spin.setValue(s.value("run/tile", 256, int))
        self.device = s.value("run/device", "auto")
        self.opacity_slider.setValue(s.value("view/heat_opacity", 60, int))
        self.orientation_action.setChecked(s.value("view/slider_vertical", False, bool))
        self._on_orientation()
        mode = s.value("view/mode", "side")
        self.set_view_mode(mode if mode in MODES else "side")
        self._update_recent_menu()
        self._update_model_label()

    def save_settings(self) -> None:
        """Write geometry, model, scale, tile, device and view to the settings."""
        s = self.settings
        s.set_geometry(self.saveGeometry())
        key = self.model_combo.itemData(self._model_index)
        s.set("model/last", key if key is not None else DEFAULT_MODEL)
        s.set_model_files([self.model_combo.itemData(i) for i in range(self.model_combo.count())
                           if self._is_model_file(self.model_combo.itemData(i))])
        s.set("run/scale", int(self.scale_combo.currentData()))
        s.set("run/tile", int(self.tile_spin.value()))
        s.set("run/device", self.device)
        s.set("view/mode", self.workbench.mode)
        s.set("view/heat_opacity", int(self.opacity_slider.value()))
        s.set("view/slider_vertical", bool(self.orientation_action.isChecked()))
        s.sync()

    # ========================================================= engine options
    @property
    def tile(self) -> int:
        """Tile side in LR pixels (0 = whole image)."""
        return int(self.tile_spin.value())

    @tile.setter
    def tile(self, value: int) -> None:
        self.tile_spin.setValue(int(value))

    @property
    def device(self) -> str:
        """The selected device name (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``)."""
        return str(self.device_combo.currentData())

    @device.setter
    def device(self, name: str) -> None:
        index = self.device_combo.findData(name)
        if index < 0:
            self.device_combo.addItem(name, name)
            index = self.device_combo.count() - 1
        self.device_combo.setCurrentIndex(index)

    # ======================================================= current document
    @property
    def image(self):
        """The current input (``restorer.io.LoadedImage``) or None."""
        return self.doc.image if self.doc is not None else None

    @property
    def image_path(self) -> Path | None:
        """The current input's path, or None."""
        return self.doc.path if self.doc is not None else None

    @property
    def result(self) -> Result | None:
        """The current result (:class:`~ui.session.Result`), or None."""
        return self.doc.result if self.doc is not None else None

    @property
    def before(self):
        """The bicubic "before" tensor at the current result's size, or None."""
        return self.doc.before_for(self.doc.result) if self.doc is not None else None

    @property
    def reference(self):
        """The current document's reference ``LoadedImage``, or None."""
        return self.doc.reference if self.doc is not None else None

    @property
    def reference_path(self) -> Path | None:
        """The current document's reference path, or None."""
        return self.doc.reference_path if self.doc is not None else None

    # ============================================================== open / save
    def open_dialog(self) -> None:
        """Ask for image files (File ▸ Open…) and open them."""
        start = str(self.image_path.parent) if self.image_path else ""
        paths, _ = QFileDialog.getOpenFileNames(self, "Open images", start, OPEN_FILTER)
        if paths:
            self.open_paths(paths, block=False)

    def open_folder_dialog(self) -> None:
        """Ask for a folder and open the images in it."""
        folder = QFileDialog.getExistingDirectory(self, "Open a folder of images", str(self.image_path.parent) if self.image_path else "")
        if folder:
            self.open_paths([folder], block=False)

    def open_paths(self, paths: list[str | Path], block: bool = True) -> bool:
        """Open files and folders (a folder contributes its images, sorted):
        all are listed under Images, the first is shown (see :meth:`open_image`
        for ``block``); model files are selected as the model. Returns False
        when there was no image to open or it failed."""
        images: list[Path] = []
        for raw in paths:
            p = Path(raw)
            if p.is_dir():
                images += sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in OPEN_EXTENSIONS)
            elif p.suffix.lower() in MODEL_SUFFIXES:
                self.set_model_file(p)
            else:
                images.append(p)
        if not images:
            if any(Path(p).is_dir() for p in paths):
                self.show_error("No images", f"{Path(paths[0])}: no image files in this folder")
            return False
        for p in images:
            self._document_for(p)
        ok = self.open_image(images[0], block=block, fallbacks=images[1:])
        self._update_images_list()
        return ok

    def _document_for(self, path: Path) -> Document:
        key = Path(path).resolve()
        doc = self.documents.get(key)
        if doc is None:
            doc = Document(path=Path(path))
            self.documents[key] = doc
        return doc

    def open_image(self, path: str | Path, block: bool = True, fallbacks: list[Path] | None = None) -> bool:
        """Show ``path``, decoding it first if needed; an error shows a message box.

        Args:
            path: the image file.
            block: decode on the GUI thread and return when shown (scripts,
                tests); False decodes on a worker thread (menus, drops, the
                command line: a 50-megapixel file takes seconds) and shows it
                when ready, unless another image was asked for meanwhile.
            fallbacks: images to try in turn when ``path`` cannot be decoded (the
                other images of a dropped folder, so that one broken file does not
                leave the window empty); each failure still shows its message box.

        Returns:
            True when shown (``block``) or being opened; False after an error
            box (nothing is raised). ``image_opened`` is emitted once shown.
            Runs already queued go on.
        """
        path = Path(path)
        doc = self._document_for(path)
        if doc.image is not None:
            self._open_job = None  # a pending decode of another file is dropped
            self._activate(doc)
            return True
        if block:
            try:
                with _wait_cursor():
                    loaded, pyramid, notes = _load_work(None, path)
            except Exception as exc:  # noqa: BLE001 - ImageError and anything else
                self._open_failed(path, exc)
                if fallbacks:
                    return self.open_image(fallbacks[0], block=True, fallbacks=fallbacks[1:])
                return False
            doc.image, doc.pyramid, doc.notes = loaded, pyramid, notes
            self._activate(doc)
            return True
        job = Job(lambda j: _load_work(j, path), self)
        job.path = path
        job.fallbacks = list(fallbacks or [])
        job.succeeded.connect(self._on_loaded)
        job.failed.connect(self._on_load_failed)
        for old in [j for j in self._retired if j.isFinished()]:
            self._retired.remove(old)
            old.deleteLater()
        self._retired.append(job)  # waited for on close
        self._open_job = job
        self.statusBar().showMessage(f"Opening {path}…")
        job.start()
        return True

    def _on_loaded(self, job: Job, loaded) -> None:
        job.wait()
        if self._closing:
            return
        doc = self.documents.get(job.path.resolve())
        if doc is not None and doc.image is None:
            doc.image, doc.pyramid, doc.notes = loaded
        if job is self._open_job and doc is not None:
            self._open_job = None
            self._activate(doc)

    def _on_load_failed(self, job: Job, exc: BaseException) -> None:
        job.wait()
        if self._closing:
            return
        current = job is self._open_job
        if current:
            self._open_job = None
        self._open_failed(job.path, exc)
        if current and job.fallbacks and self._open_job is None and not self._closing:
            self.open_image(job.fallbacks[0], block=False, fallbacks=job.fallbacks[1:])

    def _open_failed(self, path: Path, exc: BaseException) -> None:
        doc = self.documents.get(path.resolve())
        if doc is not None and doc.image is None and doc is not self.doc:
            self.documents.pop(path.resolve(), None)
        self._update_images_list()
        self.statusBar().clearMessage()
        self.show_error("Cannot open image", first_line(exc))

    def _activate(self, doc: Document) -> None:
        """Make ``doc`` the shown image (fitted)."""
        self.doc = doc
        self.workbench.viewport.fit(self.workbench.primary_pane.pane_size())  # a new image starts fitted
        self._update_recent(doc.path)
        self.setWindowTitle(f"Restorer – {doc.path.name}")
        self._show_current()
        self._update_images_list()
        if doc.notes:  # decoder warnings (e.g. an animated file: first frame only)
            self.statusBar().showMessage(f"Opened {doc.path} – warning: " + "; ".join(doc.notes), 15000)
        else:
            self.statusBar().showMessage(f"Opened {doc.path}", 5000)
        self.image_opened.emit(str(doc.path))

    def _update_recent(self, path: Path) -> None:
        self.settings.add_recent_file(path)
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files()
        for f in files:
            self.recent_menu.addAction(Path(f).name, lambda p=f: self.open_paths([p], block=False)).setToolTip(f)
        if files:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self._clear_recent)
        self.recent_menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self._update_recent_menu()

    def reference_dialog(self) -> None:
        """Ask for a reference image (File ▸ Load reference…) and load it."""
        start = str(self.image_path.parent) if self.image_path else ""
        path, _ = QFileDialog.getOpenFileName(self, "Load reference image", start, OPEN_FILTER)
        if path:
            self.load_reference(path, block=False)

    def load_reference(self, path: str | Path, block: bool = True) -> bool:
        """Load a ground-truth image for the current document, to score the
        restored and bicubic images against; it must have the output's size,
        otherwise the metrics panel says so.

        Args:
            path: the reference image file.
            block: decode on the GUI thread (scripts, tests); False decodes on a
                worker thread (the File menu: a large reference takes seconds) and
                attaches it to the document that was current when asked.

        Returns:
            True when read (``block``) or being read; False after an error box
            (nothing is raised).
        """
        if self.doc is None:
            self.statusBar().showMessage("Open an image first.", 5000)
            return False
        path = Path(path)
        if block:
            try:
                with _wait_cursor():
                    reference, pyramid, _ = _load_work(None, path)
            except Exception as exc:  # noqa: BLE001
                self.show_error("Cannot open reference", first_line(exc))
                return False
            self._set_reference(self.doc, path, reference, pyramid)
            return True
        job = Job(lambda j: _load_work(j, path), self)
        job.path, job.doc = path, self.doc
        job.succeeded.connect(self._on_reference_loaded)
        job.failed.connect(self._on_reference_failed)
        self._retired.append(job)  # waited for on close
        self.statusBar().showMessage(f"Opening reference {path}…")
        job.start()
        return True

    def _on_reference_loaded(self, job: Job, loaded) -> None:
        job.wait()
        if not self._closing:
            reference, pyramid, _ = loaded
            self._set_reference(job.doc, job.path, reference, pyramid)
            self.statusBar().showMessage(f"Reference {job.path}", 5000)

    def _on_reference_failed(self, job: Job, exc: BaseException) -> None:
        job.wait()
        if not self._closing:
            self.statusBar().clearMessage()
            self.show_error("Cannot open reference", first_line(exc))

    def _set_reference(self, doc: Document, path: Path, reference, pyramid: ImagePyramid) -> None:
        """Attach a decoded reference to ``doc``; its scores are recomputed when shown."""
        doc.reference, doc.reference_path, doc.reference_pyramid = reference, path, pyramid
        for result in doc.results.values():
            result.metrics.pop(AFTER_REF, None)
            result.metrics.pop(BEFORE_REF, None)
        if doc is self.doc:
            self._show_current()

    def save_dialog(self) -> None:
        """Ask for a file name (suggesting the CLI's ``{stem}_x{scale}{ext}`` beside
        the input, :func:`restorer.facts.output_name`) and save the current result there."""
        if self.result is None:
            return
        suggested = self.image_path.with_name(output_name(self.image_path, self.result.scale))
        chosen = SAVE_FILTERS[SAVE_FORMATS[suggested.suffix]]
        path, _ = QFileDialog.getSaveFileName(self, "Save restored image", str(suggested), SAVE_FILTER, chosen)
        if path:
            self.save_result(path, confirmed=True)

    def save_result(self, path: str | Path, confirmed: bool = False) -> bool:
        """Write the current result (with the input's alpha, bit depth, ICC and EXIF).

        Args:
            path: destination; ``.png`` is appended when it has no suffix.
            confirmed: the user agreed to replace an existing file (the save dialog asks).

        Returns:
            True when written; False after an error box (e.g. the path is an
            input or the reference, or exists and was not confirmed).
        """
        from restorer.io import save_image

        if self.result is None:
            return False
        path = Path(path)
        if not path.suffix:
            path, confirmed = path.with_suffix(".png"), False
        protect = tuple(p for p in (self.image_path, self.reference_path) if p is not None)
        try:
            with _wait_cursor():
                written = save_image(path, self.result.rgb, self.result.alpha, bits=self.image.bits,
                                     grayscale=self.image.grayscale, icc_profile=self.image.icc_profile,
                                     pixels_in_profile=self.image.pixels_in_profile,
                                     exif=self.image.exif, overwrite=confirmed, protect=protect)
        except Exception as exc:  # noqa: BLE001
            self.show_error("Cannot save image", first_line(exc))
            return False
        self.statusBar().showMessage(f"Saved {written}", 5000)
        return True

    # ------------------------------------------------------------------ export
    def export_dialog(self) -> None:
        """Ask for a PNG name and export the comparison (see :meth:`export_comparison`)."""
        if self.result is None:
            self.statusBar().showMessage("Restore an image first.", 5000)
            return
        suggested = str(self.image_path.with_name(f"{self.image_path.stem}_comparison.png"))
        path, _ = QFileDialog.getSaveFileName(self, "Export comparison", suggested, "PNG (*.png)")
        if path:
            self.export_comparison(path)

    def _caption_for(self, key: str) -> str:
        """Metric caption of a layer: the result against the reference when
        loaded, else against bicubic; bicubic against the reference."""
        result = self.result
        if result is None:
            return ""
        m = result.metrics
        if key == "bicubic":
            pair = BEFORE_REF
        elif key == "reference":
            return "ground truth"
        else:
            target = self.doc.results.get(key)
            if target is not result:
                return target.architecture if target is not None else ""
            pair = AFTER_REF if m.get(AFTER_REF) else AFTER_BEFORE
        v = m.get(pair)
        if not v:
            return ""
        parts = []
        for metric in (METRICS[k] for k in ("lpips_alex", "dists", "psnr", "ssim")):
            unit = f" {metric.unit}" if metric.unit else ""
            parts.append(f"{metric.name} {format_value(v.get(metric.key), metric.decimals)}{unit} {metric.arrow}")
        return "   ".join(parts) + f"   ({PAIRS[pair].against})"

    def export_comparison(self, path: str | Path, layout: str | None = None) -> bool:
        """Write the comparison as a PNG with metric captions.

        Args:
            path: destination (``.png`` added when missing); never an input.
            layout: ``"side"`` (the pictures next to each other: in grid mode
                every layer, else before and after), ``"slider"`` (one
                composite split at the slider's position); default from the
                current view mode.

        Returns:
            True when written; False after an error box.
        """
        if self.result is None:
            self.show_error("Nothing to export", "Restore an image first.")
            return False
        layout = layout or ("slider" if self.workbench.mode == "slider" else "side")
        wb = self.workbench
        if wb.mode == "grid" and layout == "side":
            layers = wb.layers
        else:
            layers = [layer for layer in (wb.layer(wb.before_key), wb.layer(wb.after_key)) if layer is not None]
        panels = [(layer.pyramid.image, layer.title, self._caption_for(layer.key)) for layer in layers]
        try:
            if layout == "slider":
                canvas = wb.views["slider"].canvas
                image = compose_slider(panels[0], panels[-1], canvas.position, canvas.orientation == Qt.Orientation.Vertical)
            else:
                image = compose_side_by_side(panels)
            protect = tuple(p for p in (self.image_path, self.reference_path) if p is not None)
            written = save_png_atomic(image, path, protect=protect)
        except Exception as exc:  # noqa: BLE001
            self.show_error("Cannot export comparison", first_line(exc))
            return False
        self.statusBar().showMessage(f"Exported {written}", 5000)
        return True

    def copy_metrics(self) -> None:
        """Copy both metrics tables to the clipboard as tab-separated text."""
        QApplication.clipboard().setText(self.metrics_panel.as_text())
        self.statusBar().showMessage("Metrics table copied.", 3000)

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
        self.open_paths(files, block=False)

    # ================================================================== models
    @staticmethod
    def _is_model_file(key) -> bool:
        return isinstance(key, str) and key != _OPEN_MODEL and ("/" in key or "\\" in key or Path(key).suffix != "")

    def _add_model_item(self, path: str) -> int:
        index = self.model_combo.findData(path)
        if index < 0:
            index = self.model_combo.count() - 1  # before "Open model file…"
            self.model_combo.insertItem(index, Path(path).name, path)
            self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    def set_model_file(self, path: str | Path) -> None:
        """Use a model file (added to the model list, selected and remembered)."""
        index = self._add_model_item(str(Path(path)))
        self.model_combo.setCurrentIndex(index)
        self._model_index = index
        self._update_model_label()

    def model_choices(self) -> list[tuple[str, str]]:
        """(key, label) of every model in the list (bundled and files)."""
        return [(self.model_combo.itemData(i), self.model_combo.itemText(i)) for i in range(self.model_combo.count())
                if self.model_combo.itemData(i) != _OPEN_MODEL]

    def _on_model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) != _OPEN_MODEL:
            self._model_index = index
            self._update_model_label()
            return
        self.model_combo.setCurrentIndex(self._model_index)
        path, _ = QFileDialog.getOpenFileName(self, "Open model file", "", MODEL_FILTER)
        if path:
            self.set_model_file(path)

    def _update_model_label(self) -> None:
        self.model_label.setText(f"Model: {self.model_combo.currentText()}")

    # =================================================================== runs
    def is_running(self) -> bool:
        """True while a queue item runs."""
        return self.queue.is_running()

    def _new_item(self, doc: Document, model_key=None, model_label=None, crop=None) -> QueueItem:
        if model_key is None and model_label is None:
            model_key, model_label = self.model_combo.currentData(), self.model_combo.currentText()
        return QueueItem(path=doc.path, model_key=model_key, model_label=model_label,
                         scale=int(self.scale_combo.currentData()), image=doc.image, crop=crop)

    def start_restore(self) -> None:
        """Queue the current image with the selected model and scale (runs at
        once when the queue is idle). Without an image the status bar says so."""
        if self.doc is None:
            self.statusBar().showMessage("Open an image first.", 5000)
            return
        self.queue.add(self._new_item(self.doc))

    def queue_all_images(self) -> None:
        """Queue every open image with the selected model and scale."""
        for doc in list(self.documents.values()):
            self.queue.add(self._new_item(doc))

    def queue_all_models(self) -> None:
        """Queue the current image once with every model in the model list."""
        if self.doc is None:
            self.statusBar().showMessage("Open an image first.", 5000)
            return
        for key, label in self.model_choices():
            self.queue.add(self._new_item(self.doc, key, label))

    def preview_crop(self) -> None:
        """Restore only the part of the input under the visible region (ahead of
        waiting runs); the piece appears in place on the "after" picture."""
        if self.doc is None or self.doc.image is None:
            self.statusBar().showMessage("Open an image first.", 5000)
            return
        box = self.workbench.visible_region()
        if box is None:
            return
        k = self.doc.image.size[0] / self.workbench.viewport.image_size.width()  # viewport px -> LR px
        crop = (math.floor(box[0] * k), math.floor(box[1] * k), math.ceil(box[2] * k), math.ceil(box[3] * k))
        self.queue.add(self._new_item(self.doc, crop=crop), first=True)

    def cancel_restore(self) -> None:
        """Ask the running item to stop (between tiles); waiting runs go on."""
        if self.queue.is_running():
            self.queue.cancel_current()
            self.statusBar().showMessage("Cancelling…")
        elif self.help_overlay.isVisible():
            self.help_overlay.hide()

    def clear_queue(self) -> None:
        """Drop the waiting runs (and finished entries) from the queue."""
        self.queue.clear_pending()

    def _make_work(self, item: QueueItem):
        model = self._models.get(item.model_key)
        doc = self.documents.get(item.path.resolve())
        tile, device, precision = self.tile, self.device, self.precision

        def work(job: Job) -> RestoreOutcome:
            need_before = True
            if doc is not None and doc.image is not None and item.crop is None:
                h, w = doc.image.rgb.shape[-2:]
                need_before = (round(h * item.scale), round(w * item.scale)) not in doc.befores
            return restore_work(job, item, model, tile, device, precision, need_before=need_before)

        return work

    def _item_is_current(self, item: QueueItem) -> bool:
        return self.doc is not None and item.path.resolve() == self.doc.path.resolve()

    @Slot(object)
    def _on_item_started(self, item: QueueItem) -> None:
        self._elapsed.start()
        self.progress_bar.setRange(0, 0)  # busy until the first tile reports
        self.progress_bar.setTextVisible(True)
        self._live_tiles = []
        self.statusBar().showMessage(f"Restoring {item.path.name} with {item.label}…")
        if self._item_is_current(item) and item.crop is None:
            self._show_current()
        self._update_controls()

    @Slot(object, int, int)
    def _on_item_progress(self, item: QueueItem, done: int, total: int) -> None:
        if not self._closing:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)

    @Slot(object, object)
    def _on_item_tile(self, item: QueueItem, payload) -> None:
        if self._closing or self.doc is None or not self._item_is_current(item):
            return
        rect, image = payload
        lr = QRectF(rect.x() / item.scale, rect.y() / item.scale, rect.width() / item.scale, rect.height() / item.scale)
        self._live_tiles.append((lr, image))
        wb = self.workbench
        k = wb.viewport.image_size.width() / self.doc.image.size[0]
        wb.add_tile(wb.after_key, QRectF(lr.x() * k, lr.y() * k, lr.width() * k, lr.height() * k), image)

    @Slot(object, object)
    def _on_item_finished(self, item: QueueItem, outcome) -> None:
        if self._closing:
            return
        self._finish_progress()
        self._live_tiles = []
        doc = self.documents.get(item.path.resolve())
        if item.status == "done" and doc is not None:
            self._models[item.model_key] = outcome.model
            self.last_device = outcome.device
            self.device_label.setText(f"Device: {outcome.device}")
            self.time_label.setText(f"Last run: {outcome.seconds:.2f} s")
            if doc.image is None:
                doc.image = outcome.image
                doc.pyramid = ImagePyramid(tensor_to_qimage(outcome.image.rgb, outcome.image.alpha))
            if item.crop is not None:
                rect = outcome.tile_rect
                s = item.scale
                self._previews.setdefault(doc.path.resolve(), []).append(
                    (QRectF(rect.x() / s, rect.y() / s, rect.width() / s, rect.height() / s), outcome.tile_image))
                self.statusBar().showMessage(f"Preview of the visible crop in {outcome.seconds:.2f} s", 5000)
            else:
                size = tuple(outcome.rgb.shape[-2:])
                if outcome.before is not None:
                    doc.befores[size] = (outcome.before, outcome.before_pyramid)
                doc.results[item.label] = Result(
                    label=item.label, rgb=outcome.rgb, alpha=outcome.alpha, scale=outcome.scale, pyramid=outcome.pyramid,
                    architecture=outcome.model.architecture.name, device=outcome.device, seconds=outcome.seconds)
                doc.current = item.label
                self._previews.pop(doc.path.resolve(), None)
                self.statusBar().showMessage(f"Restored {item.path.name} ({item.label}) in {outcome.seconds:.2f} s", 5000)
        elif item.status == "cancelled":
            self.statusBar().showMessage("Cancelled.", 5000)
        elif item.status == "failed":
            self.statusBar().showMessage("Restore failed.", 5000)
        if doc is not None and doc is self.doc:
            self._show_current()
        self._update_controls()
        if item.status == "failed":
            self.show_error("Restore failed", item.message)
        self.restore_finished.emit(item.status)

    def _on_drained(self) -> None:
        if not self._closing:
            self._update_controls()
            self.queue_drained.emit()

    def _finish_progress(self) -> None:
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)

    def _update_queue_list(self) -> None:
        self.queue_list.clear()
        for item in self.queue.items:
            QListWidgetItem(item.describe(), self.queue_list).setToolTip(item.describe())
        self._update_controls()

    # ================================================================ display
    def _running_full_item(self) -> QueueItem | None:
        item = self.queue.running
        if item is not None and item.crop is None and self._item_is_current(item):
            return item
        return None

    def _show_current(self) -> None:
        """Rebuild the layers of the current document and refresh readouts."""
        wb = self.workbench
        doc = self.doc
        if doc is None or doc.pyramid is None:
            wb.clear()
            self._update_result_combo()
            self._update_controls()
            return
        running = self._running_full_item()
        tiles = self._live_tiles if running is not None else self._previews.get(doc.path.resolve(), [])
        layers, before_key, after_key, size = doc.layers(running.scale if running else None,
                                                          running.label if running else "", tiles)
        wb.set_layers(layers, before_key, after_key, size)
        self._update_result_combo()
        self._update_reference_message()
        self._update_controls()
        self._update_heat()
        self._update_metrics()
        self._update_readouts()

    def show_result(self, label: str | None) -> None:
        """Compare the result ``label`` of the current document (side by side,
        slider, toggle, loupe; the grid shows all)."""
        if self.doc is None or label not in self.doc.results:
            return
        self.doc.current = label
        self._show_current()

    def next_result(self) -> None:
        """Show the next result of the current document (N)."""
        if self.doc is None or len(self.doc.results) < 2:
            return
        labels = list(self.doc.results)
        i = labels.index(self.doc.current) if self.doc.current in labels else -1
        self.show_result(labels[(i + 1) % len(labels)])

    def _update_result_combo(self) -> None:
        self.result_combo.clear()
        if self.doc is None:
            return
        for label in self.doc.results:
            self.result_combo.addItem(label, label)
        if self.doc.current is not None:
            self.result_combo.setCurrentIndex(self.result_combo.findData(self.doc.current))

    def _update_images_list(self) -> None:
        self.images_list.clear()
        for doc in self.documents.values():
            item = QListWidgetItem(doc.path.name + (f"  ({len(doc.results)} results)" if doc.results else ""), self.images_list)
            item.setData(Qt.ItemDataRole.UserRole, str(doc.path))
            item.setToolTip(str(doc.path))
            if doc is self.doc:
                self.images_list.setCurrentItem(item)

    def _on_image_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path and (self.doc is None or Path(path) != self.doc.path):
            self.open_image(path, block=False)

    def set_view_mode(self, mode: str) -> None:
        """Switch the view mode (a key of ``ui.views.MODES``)."""
        self.workbench.set_mode(mode)

    def _on_mode_changed(self, mode: str) -> None:
        self.mode_actions[mode].setChecked(True)
        self._update_readouts()

    def _on_orientation(self) -> None:
        vertical = self.orientation_action.isChecked()
        self.workbench.views["slider"].canvas.set_orientation(Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal)

    def toggle_help(self) -> None:
        """Show or hide the keyboard-shortcut overlay."""
        self.help_overlay.toggle()

    # ================================================================= metrics
    def _reference_matches(self) -> bool:
        return (self.reference is not None and self.result is not None
                and tuple(self.reference.rgb.shape[-2:]) == tuple(self.result.rgb.shape[-2:]))

    def _update_reference_message(self) -> None:
        panel = self.metrics_panel
        if self.doc is None:
            return
        if self._too_small_for_metrics():
            ow, oh = self.result.size
            panel.set_message(f"The output is {ow}×{oh}: the metrics need at least {MIN_SIDE}×{MIN_SIDE} pixels.")
            return
        if self.reference is None:
            if self.result is None:
                panel.set_message("Press Restore; then load a reference (File ▸ Load reference…) to score against ground truth.")
            else:
                panel.set_message("No reference: File ▸ Load reference… scores against a ground-truth image of the output's size.")
            return
        rw, rh = self.reference.size
        name = self.reference_path.name
        if self.result is None:
            panel.set_message(f"Reference {name} ({rw}×{rh}) loaded; scores appear after Restore.")
            return
        ow, oh = self.result.size
        if (rw, rh) != (ow, oh):
            panel.set_message(f"Reference {name} is {rw}×{rh} but the output is {ow}×{oh}: load a reference of the output's size.",
                              error=True)
        else:
            panel.set_message(f"Reference: {name} ({rw}×{rh}).")

    def _too_small_for_metrics(self) -> bool:
        """True when the current result is under ``MIN_SIDE`` pixels a side:
        no metric, readout or heat map can be computed (a message says so; no error box)."""
        return self.result is not None and min(self.result.rgb.shape[-2:]) < MIN_SIDE

    def _pairs(self) -> dict[str, tuple[Any, Any]]:
        result = self.result
        if result is None or self.before is None or self._too_small_for_metrics():
            return {}
        pairs = {AFTER_BEFORE: (result.rgb, self.before)}
        if self._reference_matches():
            pairs[AFTER_REF] = (result.rgb, self.reference.rgb)
            pairs[BEFORE_REF] = (self.before, self.reference.rgb)
        return pairs

    def _metrics_device(self) -> str:
        return self.result.device if self.result is not None and self.result.device else "cpu"

    def _update_metrics(self) -> None:
        """Show the whole-image metrics of the current result; compute the
        missing ones off the GUI thread."""
        panel = self.metrics_panel
        result = self.result
        pairs = self._pairs()
        if result is None:
            panel.clear()
            return
        pairs[CONSISTENCY] = (result.rgb, self.image.rgb)
        for pair in PAIRS:
            if pair in pairs and pair in result.metrics:
                panel.set_values(pair, result.metrics[pair])
            elif pair not in pairs or pair not in panel.values:
                panel.clear((pair,))
        if self._metrics_job is not None or self._closing:
            return  # picked up when the running job ends
        missing = {k: v for k, v in pairs.items() if k not in result.metrics}
        if not missing:
            return
        device = self._metrics_device()
        job = Job(lambda j: _metrics_work(j, missing, device), self)
        job.snapshot = result
        job.succeeded.connect(self._on_metrics_done)
        job.failed.connect(self._on_metrics_failed)
        self._metrics_job = job
        panel.set_pending(tuple(missing))
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
        job.snapshot.metrics.update(values)
        self._update_metrics()
        if self._metrics_job is None:
            self.metrics_finished.emit()

    @Slot(object, object)
    def _on_metrics_failed(self, job: Job, exc: BaseException) -> None:
        if not self._end_metrics_job(job):
            return
        message = first_line(exc)
        self.metrics_panel.clear()
        self.metrics_panel.set_message(f"Metrics failed: {message}", error=True)
        self.metrics_finished.emit()
        self.show_error("Metrics failed", message)

    # ---------------------------------------------------------- live readouts
    def _update_readouts(self) -> None:
        """Point the live readouts at the current pairs and score the visible region."""
        pairs = self._pairs()
        key = tuple((k, id(a), id(b)) for k, (a, b) in pairs.items())
        if key != self._readout_key:
            self._readout_key = key
            self.readouts.set_pairs(pairs, self._metrics_device())
            self.metrics_panel.clear_region()
            self._readout_error_shown = False
        if pairs:
            self.readouts.request_region(self.workbench.visible_region())

    def _on_viewport_changed(self) -> None:
        if self.readouts.pairs:
            self.readouts.request_region(self.workbench.visible_region())

    def _on_region_ready(self, box, values) -> None:
        if self._closing:
            return
        self.metrics_panel.set_region_values(box, values)
        self.readouts_finished.emit()

    def _on_readout_failed(self, message: str) -> None:
        if self._closing:
            return
        self.metrics_panel.set_message(f"Live readout failed: {message}", error=True)
        if not self._readout_error_shown:  # one dialog per image pair, not one per pan
            self._readout_error_shown = True
            self.show_error("Live readout failed", message)

    # --------------------------------------------------------------- heat map
    def set_heat_visible(self, visible: bool) -> None:
        """Show or hide the LPIPS heat map over the current result (computed on
        first use, off the GUI thread: against the reference when it matches,
        else against bicubic)."""
        visible = bool(visible)
        if self.heat_action.isChecked() != visible:
            self.heat_action.setChecked(visible)
        self.workbench.set_heat_visible(visible)
        self._update_heat()

    def _update_heat(self) -> None:
        wb = self.workbench
        result = self.result
        if result is None or self._running_full_item() is not None:
            wb.set_overlay(None, None)
            return
        if self._too_small_for_metrics():
            wb.set_overlay(None, None)
            if wb.heat_visible:
                self.statusBar().showMessage(f"No heat map: the output is under {MIN_SIDE} pixels a side.", 5000)
            return
        pair = AFTER_REF if self._reference_matches() else AFTER_BEFORE
        cached = self._heat_cache.get((id(result), pair))
        if cached is not None:
            wb.set_overlay(result.label, cached[0], cached[1], METRICS["lpips_alex"].name, PAIRS[pair].against)
            return
        wb.set_overlay(None, None)
        if wb.heat_visible:
            self.readouts.request_heatmap(pair)
            self.statusBar().showMessage("Computing the LPIPS heat map…", 3000)

    def _on_heatmap_ready(self, pair: str, pyramid: ImagePyramid, vmax: float) -> None:
        if self._closing or self.result is None:
            return
        self._heat_cache[(id(self.result), pair)] = (pyramid, vmax)
        self.statusBar().clearMessage()
        self._update_heat()
        self.heatmap_finished.emit()

    # ================================================================== helpers
    def show_error(self, title: str, message: str) -> None:
        """A modal error box; the window stays usable afterwards."""
        QMessageBox.critical(self, title, message)

    def _update_controls(self) -> None:
        running = self.queue.is_running()
        has_image = self.doc is not None
        self.restore_button.setEnabled(has_image)
        self.restore_action.setEnabled(has_image)
        self.preview_button.setEnabled(has_image)
        self.preview_action.setEnabled(has_image)
        self.queue_models_action.setEnabled(has_image)
        self.queue_all_action.setEnabled(bool(self.documents))
        self.cancel_button.setEnabled(running)
        self.cancel_action.setEnabled(True)  # Esc also closes the help overlay
        self.save_action.setEnabled(self.result is not None)
        self.export_action.setEnabled(self.result is not None)
        self.reference_action.setEnabled(has_image)
        self.result_combo.setEnabled(self.result is not None and not (running and self._running_full_item()))
        if self.doc is None or self.image is None:
            self.size_label.setText("No image")
        else:
            w, h = self.image.size
            text = f"Input {w}×{h}"
            if self.result is not None:
                ow, oh = self.result.size
                text += f" → output {ow}×{oh}"
            self.size_label.setText(text)

    def _update_status(self) -> None:
        mem = process_memory_mb()
        text = f"Memory: {mem:.0f} MB" if mem is not None else "Memory: n/a"
        gpu = gpu_memory_mb()
        if gpu is not None:
            text += f" · GPU {gpu:.0f} MB"
        self.memory_label.setText(text)
        if self.queue.is_running() and self._elapsed.isValid():
            self.time_label.setText(f"Elapsed: {self._elapsed.elapsed() / 1000:.1f} s")
        if not self.queue.is_running():
            self.device_label.setText(f"Device: {self.last_device or self.device}")

    def _on_zoom_changed(self, zoom: float) -> None:
        self.zoom_label.setText(f" {zoom * 100:.0f} %" if math.isfinite(zoom) else "")

    # ================================================================ warm-up
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._warm_up_enabled and not self._warmed:
            self._warmed = True
            QTimer.singleShot(50, self._start_warm_up)

    def _start_warm_up(self) -> None:
        if self._closing:
            return
        job = Job(_warm_up_work, self)
        job.succeeded.connect(self._on_warm_up_done)
        job.failed.connect(lambda j, exc: None)  # the first run reports any engine problem
        self._warm_job = job
        job.start()

    def _on_warm_up_done(self, job: Job, found) -> None:
        if self._closing:
            return
        bundled, devices = found
        for name in bundled:
            if self.model_combo.findData(name) < 0:
                self.model_combo.insertItem(self._bundled_count(), name, name)
        current = self.device
        for name in devices:
            if self.device_combo.findData(name) < 0:
                self.device_combo.addItem(name, name)
        self.device = current
        self._model_index = self.model_combo.currentIndex()

    def _bundled_count(self) -> int:
        return sum(1 for i in range(self.model_combo.count())
                   if self.model_combo.itemData(i) != _OPEN_MODEL and not self._is_model_file(self.model_combo.itemData(i)))

    # ================================================================= closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Closing during a run cancels it and waits for every worker to stop;
        settings are saved."""
        if not self._closing:
            self.save_settings()
        self._closing = True
        self.queue.stop(wait=True)
        self.readouts.shutdown()
        for job in (self._metrics_job, self._warm_job, *self._retired):
            if job is not None:
                job.cancel()
                job.wait()
        self._metrics_job = self._warm_job = None
        self._retired = []
        self._status_timer.stop()
        super().closeEvent(event)


@contextmanager
def _wait_cursor():
    """A busy cursor for short synchronous work (file decode/encode)."""
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        yield
    finally:
        QApplication.restoreOverrideCursor()
