"""The "Restorer" main window: the layout of the comparison workbench, and the
wiring between the parts that do the work:

* :mod:`ui.session`     -- the open documents, their results, pixel-space conversions
* :mod:`ui.operations`  -- every background job, and the one registry closing drains
* :mod:`ui.actions`     -- the menus and shortcuts, one declarative table
* :mod:`ui.files`       -- open, reference, save, export (on workers), recent files
* :mod:`ui.runs`        -- restore runs through the queue, live tiles, crop previews
* :mod:`ui.readouts`    -- the metrics of each image pair: whole image, region, heat map
* :mod:`ui.run_options` -- model, scale, tile, device, precision; the engine warm-up

The engine (``restorer``, which imports torch) is imported lazily: the window
appears first, then a background warm-up imports it and lists devices and models.
"""
from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (QApplication, QComboBox, QDockWidget, QLabel, QMainWindow, QMessageBox, QSlider,
                               QToolBar, QWidget)

from .actions import build_menus
from .files import FileOperations
from .metrics_panel import MetricsPanel
from .operations import Operations
from .readouts import MetricsController
from .run_options import RunOptions
from .runs import Runs
from .session import Document, Session
from .settings import Settings
from .shortcuts import ShortcutOverlay
from .status import gpu_memory_mb, process_memory_mb
from .views import MODES, ComparisonWorkbench

__all__ = ["MainWindow"]


def _from_session(name: str, doc: str) -> property:
    return property(lambda self: getattr(self.session, name), doc=doc)


class MainWindow(QMainWindow):
    """The Restorer desktop window.

    Args:
        parent: Qt parent.
        settings: where settings persist (default: :class:`~ui.settings.Settings`
            on ``QSettings()``).
        warm_up: import the engine in the background once shown (lists devices
            and bundled models); tests may turn it off.

    Attributes:
        session, ops, options, files, runs, metrics: the parts (module docstring).
        menu_actions: every menu command by name (:data:`ui.actions.MENUS`), also
            stored as ``{name}_action``.

    Signals (for tests and scripting):
        image_opened(str): an image is shown (its path).
        restore_finished(str): a queue item ended: ``"done"``, ``"cancelled"`` or ``"failed"``.
        queue_drained(): the run queue is empty and idle.
        metrics_finished(): the whole-image metrics asked for are computed.
        readouts_finished(): a visible-region readout was shown.
        heatmap_finished(): a heat map was laid over the result.
    """

    image_opened = Signal(str)
    restore_finished = Signal(str)
    queue_drained = Signal()
    metrics_finished = Signal()
    readouts_finished = Signal()
    heatmap_finished = Signal()

    documents = _from_session("documents", "Resolved path -> :class:`~ui.session.Document`.")
    doc = _from_session("doc", "The shown :class:`~ui.session.Document`, or None.")
    image = _from_session("image", "The shown input (``restorer.io.LoadedImage``), or None.")
    image_path = _from_session("path", "The shown input's path, or None.")
    result = _from_session("result", "The shown :class:`~ui.session.Result`, or None.")
    before = _from_session("before", "The bicubic 'before' tensor at the shown result's size, or None.")
    reference = _from_session("reference", "The shown document's reference ``LoadedImage``, or None.")
    reference_path = _from_session("reference_path", "The shown document's reference path, or None.")

    def __init__(self, parent: QWidget | None = None, settings: Settings | None = None, warm_up: bool = True) -> None:
        super().__init__(parent)
        self.setWindowTitle("Restorer")
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self.settings = settings if settings is not None else Settings()
        self.session = Session()
        self.ops = Operations(self)
        self._closing = False
        self._warm_up_pending = warm_up

        self.workbench = ComparisonWorkbench(self)
        self.setCentralWidget(self.workbench)
        self.metrics_panel = MetricsPanel(self)
        self.metrics_dock = self._dock("Metrics", "metrics_dock", self.metrics_panel, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.options = RunOptions(self, self.ops)
        self.model_combo, self.scale_combo = self.options.model_combo, self.options.scale_combo
        self.tile_spin, self.device_combo = self.options.tile_spin, self.options.device_combo
        self.precision_combo = self.options.precision_combo
        self.runs = Runs(self.session, self.options, self.workbench, self.ops, self)
        self.queue, self.queue_list, self.progress_bar = self.runs.queue, self.runs.queue_list, self.runs.progress_bar
        self.restore_button, self.preview_button, self.cancel_button = (
            self.runs.restore_button, self.runs.preview_button, self.runs.cancel_button)
        self.device_label, self.time_label = self.runs.device_label, self.runs.time_label
        self.queue_dock = self._dock("Run queue", "queue_dock", self.queue_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self.files = FileOperations(self, self.session, self.ops, self.options, self.workbench, self.settings)
        self.images_list = self.files.images_list
        self.images_dock = self._dock("Images", "images_dock", self.images_list, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.queue_dock, self.images_dock)
        self.queue_dock.raise_()
        self.metrics = MetricsController(self.session, self.metrics_panel, self.workbench, self.ops, self)

        self.menu_actions, self.recent_menu = build_menus(
            self, self.menuBar(), [self.metrics_dock, self.queue_dock, self.images_dock])
        self.files.recent_menu = self.recent_menu
        self.mode_actions = {mode: self.menu_actions[f"mode_{mode}"] for mode in MODES}
        self.mode_actions["side"].setChecked(True)
        self.help_overlay = ShortcutOverlay(list(self.menu_actions.values()), self.workbench)
        self._build_toolbars()
        self._build_status_bar()
        self._connect()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(500)
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()

        self._restore_settings()
        self._update_controls()
        self._update_status()
        self.metrics_panel.set_message("Open an image (File ▸ Open…, or drop files or a folder here), then press Restore.")

    # ================================================================== layout
    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _toolbar(self, title: str, name: str) -> QToolBar:
        bar = QToolBar(title, self)
        bar.setObjectName(name)
        bar.setMovable(False)
        self.addToolBar(bar)
        return bar

    def _build_toolbars(self) -> None:
        bar = self._toolbar("Run", "run_toolbar")
        bar.addAction(self.open_action)
        bar.addSeparator()
        self.options.add_to(bar)
        bar.addWidget(QLabel(" "))
        self.runs.add_to(bar)

        self.addToolBarBreak()
        vbar = self._toolbar("View", "view_toolbar")
        for action in self.mode_actions.values():
            vbar.addAction(action)
        vbar.addAction(self.orientation_action)
        vbar.addSeparator()
        vbar.addWidget(QLabel(" After "))
        self.result_combo = QComboBox(self)
        self.result_combo.setMinimumContentsLength(14)
        self.result_combo.setToolTip("Which result is compared with the bicubic 'before' (N: next)")
        vbar.addWidget(self.result_combo)
        vbar.addSeparator()
        vbar.addAction(self.heat_action)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(60)
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.setToolTip("Heat-map opacity")
        vbar.addWidget(self.opacity_slider)
        vbar.addSeparator()
        for action in (self.fit_action, self.actual_action, self.zoom_out_action, self.zoom_in_action):
            vbar.addAction(action)
        self.zoom_label = QLabel("", self)
        self.zoom_label.setMinimumWidth(60)
        vbar.addWidget(self.zoom_label)

    def _build_status_bar(self) -> None:
        self.size_label = QLabel("No image", self)
        self.model_label = QLabel("", self)
        self.memory_label = QLabel("Memory: –", self)
        for label in (self.size_label, self.model_label, self.device_label, self.memory_label, self.time_label):
            self.statusBar().addPermanentWidget(label)

    # ================================================================== wiring
    def _connect(self) -> None:
        queue, wb, status = self.queue, self.workbench, self.statusBar()
        queue.changed.connect(self._update_controls)
        queue.started.connect(self._on_run_started)
        queue.finished.connect(self._on_run_finished)
        queue.drained.connect(self._on_drained)
        for part in (self.runs, self.files, self.metrics):
            part.message.connect(status.showMessage)
        for part in (self.files, self.metrics, self.ops):
            part.error.connect(lambda title, message: self.show_error(title, message))
        self.files.opened.connect(self._activate)
        self.files.reference_loaded.connect(self._on_reference_loaded)
        self.metrics.whole_finished.connect(self.metrics_finished)
        self.metrics.region_finished.connect(self.readouts_finished)
        self.metrics.heatmap_finished.connect(self.heatmap_finished)
        self.options.model_changed.connect(lambda label: self.model_label.setText(f"Model: {label}"))
        self.result_combo.activated.connect(lambda i: self.show_result(self.result_combo.itemData(i)))
        self.opacity_slider.valueChanged.connect(lambda v: wb.set_heat_opacity(v / 100))
        wb.viewport.changed.connect(lambda: self.metrics.request_region(wb.visible_region()))
        wb.viewport.zoom_changed.connect(
            lambda zoom: self.zoom_label.setText(f" {zoom * 100:.0f} %" if math.isfinite(zoom) else ""))
        wb.mode_changed.connect(self._on_mode_changed)

    # ================================================================ settings
    def _restore_settings(self) -> None:
        s = self.settings
        if s.geometry() is not None:
            self.restoreGeometry(s.geometry())
        self.options.load(s)
        self.opacity_slider.setValue(s.value("view/heat_opacity", 60, int))
        self.set_slider_vertical(s.value("view/slider_vertical", False, bool))
        mode = s.value("view/mode", "side")
        self.set_view_mode(mode if mode in MODES else "side")
        self.files.update_recent_menu()

    def save_settings(self) -> None:
        """Write geometry, run options and view to the settings."""
        s = self.settings
        s.set_geometry(self.saveGeometry())
        self.options.save(s)
        s.set("view/mode", self.workbench.mode)
        s.set("view/heat_opacity", int(self.opacity_slider.value()))
        s.set("view/slider_vertical", bool(self.orientation_action.isChecked()))
        s.sync()

    # ============================================================== commands
    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open files and folders (:meth:`ui.files.FileOperations.open_paths`): the command line and drops."""
        return self.files.open_paths(paths)

    def cancel_restore(self) -> None:
        """Stop the running item (Esc); with nothing running, Esc closes the shortcut overlay."""
        if not self.runs.cancel() and self.help_overlay.isVisible():
            self.help_overlay.hide()

    def copy_metrics(self) -> None:
        """Copy both metrics tables to the clipboard as tab-separated text."""
        QApplication.clipboard().setText(self.metrics_panel.as_text())
        self.statusBar().showMessage("Metrics table copied.", 3000)

    def show_error(self, title: str, message: str) -> None:
        """A modal error box; the window stays usable afterwards."""
        QMessageBox.critical(self, title, message)

    # ================================================================= display
    def _activate(self, doc: Document) -> None:
        """Make ``doc`` the shown image (fitted)."""
        self.session.doc = doc
        self.workbench.viewport.fit(self.workbench.primary_pane.pane_size())  # a new image starts fitted
        self.setWindowTitle(f"Restorer – {doc.path.name}")
        self._show_current()
        self.files.update_images_list()
        if doc.notes:  # decoder warnings (e.g. an animated file: first frame only)
            self.statusBar().showMessage(f"Opened {doc.path} – warning: " + "; ".join(doc.notes), 15000)
        else:
            self.statusBar().showMessage(f"Opened {doc.path}", 5000)
        self.image_opened.emit(str(doc.path))

    def _show_current(self) -> None:
        """Rebuild the layers of the shown document and refresh the metrics."""
        doc = self.doc
        if doc is None or doc.pyramid is None:
            self.workbench.clear()
            self._update_result_combo()
            self._update_controls()
            return
        running = self.runs.running_full()
        layers, before_key, after_key, size = doc.layers(running.scale if running else None,
                                                          running.label if running else "", self.runs.tiles(doc))
        self.workbench.set_layers(layers, before_key, after_key, size)
        self._update_result_combo()
        self._update_controls()
        self.metrics.refresh(restoring=running is not None)

    def _on_reference_loaded(self, doc: Document) -> None:
        if doc is self.doc:
            self._show_current()

    def show_result(self, label: str | None) -> None:
        """Compare the result ``label`` of the shown document (the grid shows all)."""
        if self.doc is not None and label in self.doc.results:
            self.doc.current = label
            self._show_current()

    def next_result(self) -> None:
        """Show the next result of the shown document (N)."""
        if self.doc is not None and len(self.doc.results) >= 2:
            labels = list(self.doc.results)
            i = labels.index(self.doc.current) if self.doc.current in labels else -1
            self.show_result(labels[(i + 1) % len(labels)])

    def set_view_mode(self, mode: str) -> None:
        """Switch the view mode (a key of ``ui.views.MODES``)."""
        self.workbench.set_mode(mode)

    def set_slider_vertical(self, vertical: bool) -> None:
        """Split the slider view with a horizontal line (before above) instead of a vertical one."""
        self.orientation_action.setChecked(bool(vertical))
        orientation = Qt.Orientation.Vertical if vertical else Qt.Orientation.Horizontal
        self.workbench.views["slider"].canvas.set_orientation(orientation)

    def set_heat_visible(self, visible: bool) -> None:
        """Show or hide the LPIPS heat map over the shown result (H)."""
        self.heat_action.setChecked(bool(visible))
        self.metrics.set_heat_visible(bool(visible))

    def toggle_help(self) -> None:
        """Show or hide the keyboard-shortcut overlay."""
        self.help_overlay.toggle()

    def _on_mode_changed(self, mode: str) -> None:
        self.mode_actions[mode].setChecked(True)
        self.metrics.request_region(self.workbench.visible_region())

    def _update_result_combo(self) -> None:
        self.result_combo.clear()
        if self.doc is not None:
            for label in self.doc.results:
                self.result_combo.addItem(label, label)
            if self.doc.current is not None:
                self.result_combo.setCurrentIndex(self.result_combo.findData(self.doc.current))

    # ==================================================================== runs
    def _on_run_started(self, item) -> None:
        if item.crop is None and self.session.is_current(item.path):
            self._show_current()
        self._update_controls()

    def _on_run_finished(self, item, outcome) -> None:
        if self.session.is_current(item.path):
            self._show_current()
        self._update_controls()
        if item.status == "failed":
            self.show_error("Restore failed", item.message)
        self.restore_finished.emit(item.status)

    def _on_drained(self) -> None:
        self._update_controls()
        self.queue_drained.emit()

    # ================================================================== status
    def _update_controls(self) -> None:
        has_image, has_result = self.doc is not None, self.result is not None
        for widget in (self.restore_button, self.restore_action, self.preview_button, self.preview_action,
                       self.queue_models_action, self.reference_action):
            widget.setEnabled(has_image)
        self.queue_all_action.setEnabled(bool(self.documents))
        self.cancel_button.setEnabled(self.queue.is_running())
        self.cancel_action.setEnabled(True)  # Esc also closes the help overlay
        self.save_action.setEnabled(has_result)
        self.export_action.setEnabled(has_result)
        self.result_combo.setEnabled(has_result and self.runs.running_full() is None)
        if self.image is None:
            self.size_label.setText("No image")
        else:
            text = "Input {}×{}".format(*self.image.size)
            if has_result:
                text += " → output {}×{}".format(*self.result.size)
            self.size_label.setText(text)

    def _update_status(self) -> None:
        mem, gpu = process_memory_mb(), gpu_memory_mb()
        text = f"Memory: {mem:.0f} MB" if mem is not None else "Memory: n/a"
        self.memory_label.setText(text + (f" · GPU {gpu:.0f} MB" if gpu is not None else ""))
        self.runs.update_status()

    # ============================================================ Qt overrides
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
        self.open_paths(files)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._warm_up_pending:
            self._warm_up_pending = False
            self.options.warm_up()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        """Closing saves the settings, cancels the runs and waits for every background job."""
        if not self._closing:
            self.save_settings()
        self._closing = True
        self.queue.stop()
        self.ops.drain()
        self._status_timer.stop()
        super().closeEvent(event)
