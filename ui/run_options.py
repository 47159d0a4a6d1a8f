"""The run options on the toolbar: model, scale, tile, device and precision,
remembered between sessions, and the background warm-up that fills the model and
device lists.

The tile and precision choices and their defaults are the engine's
(:mod:`restorer.facts`): the tile is ``auto`` (sized to the memory budget by
:func:`restorer.tiling.auto_tile`, as ``restore --tile auto``), ``off`` (the
whole image) or a side in input pixels; the precision is one of
:data:`restorer.facts.PRECISIONS`, resolved per device and model by
:func:`restorer.device.pick_dtype`.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QSpinBox, QToolBar, QWidget

from restorer.facts import (BUNDLED_MODELS, DEFAULT_MODEL, DEFAULT_PRECISION, DEFAULT_SCALE, DEFAULT_TILE,
                            MODEL_EXTENSIONS, PRECISIONS, SCALES)

from .jobs import Job, quiet_gc
from .operations import Operations
from .settings import Settings

__all__ = ["RunOptions", "TileSpin"]

MODEL_FILTER = f"Model files ({' '.join('*' + ext for ext in MODEL_EXTENSIONS)});;All files (*)"
_OPEN_MODEL = "__open_model_file__"


def _warm_up_work(job: Job) -> tuple[list[str], list[str]]:
    """Worker thread: import the engine (torch) and list bundled models and devices."""
    with quiet_gc():  # a big import: no long GC pauses meanwhile (see quiet_gc)
        import spandrel  # noqa: F401 - its architectures now, not during the first run
        from restorer.device import available_devices  # imports torch
        from restorer.metrics import RegionMetrics  # noqa: F401 - imported now, not at the first readout

    return list(BUNDLED_MODELS), available_devices()


_WORDS = {-1: "auto", 0: "off"}  # TileSpin's values shown as words
_VALUES = {word: value for value, word in _WORDS.items()}


class TileSpin(QSpinBox):
    """The tile side in input pixels: ``auto`` (value -1; :attr:`tile` None), ``off`` (0: the
    whole image at once), or 1..4096. The words can be typed; the arrows step by 32 (auto, off,
    32, 64...)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setRange(-1, 4096)
        self.setSingleStep(32)
        self.setToolTip("Tile side in input pixels: auto = from free memory (as restore --tile auto), "
                        "off = the whole image at once")

    @property
    def tile(self) -> int | None:
        """The engine's ``tile``: None (automatic), 0 (whole image) or the side."""
        return None if self.value() < 0 else self.value()

    @tile.setter
    def tile(self, value: int | None) -> None:
        self.setValue(-1 if value is None else int(value))

    def textFromValue(self, value: int) -> str:  # noqa: N802 - Qt's name
        return _WORDS[value] if value in _WORDS else super().textFromValue(value)

    def valueFromText(self, text: str) -> int:  # noqa: N802 - Qt's name
        word = text.strip().lower()
        return _VALUES[word] if word in _VALUES else super().valueFromText(text)

    def validate(self, text: str, pos: int):
        """Also accept typing ``auto`` and ``off`` (and their beginnings)."""
        word = text.strip().lower()
        if word and any(w.startswith(word) for w in _VALUES):
            state = QValidator.State.Acceptable if word in _VALUES else QValidator.State.Intermediate
            return state, text, pos
        return super().validate(text, pos)

    def stepBy(self, steps: int) -> None:  # noqa: N802 - Qt's name
        if self.value() < 0 and steps > 0:  # auto -> off -> 32, not auto -> 31
            self.setValue((steps - 1) * self.singleStep())
        else:
            super().stepBy(steps)


def is_model_file(key) -> bool:
    """True when a model-list key is a file path rather than a bundled name."""
    return isinstance(key, str) and key != _OPEN_MODEL and ("/" in key or "\\" in key or Path(key).suffix != "")


class RunOptions(QObject):
    """The widgets that choose how the next run goes, and typed access to them.

    Args:
        parent: the window (owns the widgets; parent of the model-file dialog).
        ops: where the warm-up runs.

    Attributes:
        model_combo, scale_combo, tile_spin, device_combo, precision_combo: the widgets.
        warmed_up: True once the engine is imported and the lists are complete.

    Signals:
        model_changed(str): the chosen model's label.
        ready(): the warm-up finished (the model and device lists are complete).
    """

    model_changed = Signal(str)
    ready = Signal()

    def __init__(self, parent: QWidget, ops: Operations) -> None:
        super().__init__(parent)
        self._parent, self._ops = parent, ops
        self.warmed_up = False
        self.model_combo = QComboBox(parent)
        self.model_combo.addItem(DEFAULT_MODEL, DEFAULT_MODEL)  # the others once the warm-up has listed them
        self.model_combo.addItem("Open model file…", _OPEN_MODEL)
        self.model_combo.setToolTip("Generator: a bundled model, or any model file spandrel can load (remembered)")
        self.model_combo.activated.connect(self._on_model_activated)
        self._model_index = 0
        self.scale_combo = QComboBox(parent)
        for scale in SCALES:
            self.scale_combo.addItem(f"×{scale}", scale)
        self.scale_combo.setCurrentIndex(SCALES.index(DEFAULT_SCALE))
        self.tile_spin = TileSpin(parent)
        self.tile_spin.tile = DEFAULT_TILE
        self.device_combo = QComboBox(parent)
        for name in ("auto", "cpu"):
            self.device_combo.addItem(name, name)
        self.device_combo.setToolTip("Where the generator and the metrics run (auto: CUDA, then MPS, then CPU)")
        self.precision_combo = QComboBox(parent)
        for name in PRECISIONS:
            self.precision_combo.addItem(name, name)
        self.precision = DEFAULT_PRECISION
        self.precision_combo.setToolTip("Generator precision (auto: fp16 on CUDA when the model supports it, else "
                                        "fp32; fp16/bf16 run in fp32 on the CPU or where the model lacks them)")

    def add_to(self, bar: QToolBar) -> None:
        """Put the labelled widgets on a toolbar (model, scale, tile, device, precision)."""
        for label, widget in ((" Model ", self.model_combo), ("  Scale ", self.scale_combo),
                              ("  Tile ", self.tile_spin), ("  Device ", self.device_combo),
                              ("  Precision ", self.precision_combo)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)

    # ------------------------------------------------------------- values
    @property
    def scale(self) -> int:
        """The output scale."""
        return int(self.scale_combo.currentData())

    @property
    def tile(self) -> int | None:
        """Tile side in LR pixels, as the engine's ``tile``: None = automatic, 0 = whole image."""
        return self.tile_spin.tile

    @tile.setter
    def tile(self, value: int | None) -> None:
        self.tile_spin.tile = value

    @property
    def precision(self) -> str:
        """The generator precision, one of :data:`restorer.facts.PRECISIONS` (setting another
        name, e.g. from stale settings, keeps the current one)."""
        return str(self.precision_combo.currentData())

    @precision.setter
    def precision(self, name: str) -> None:
        index = self.precision_combo.findData(name)
        if index >= 0:
            self.precision_combo.setCurrentIndex(index)

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

    @property
    def model(self) -> tuple[str, str]:
        """(key, label) of the chosen model: a bundled name or a file path, and its display name."""
        return self.model_combo.currentData(), self.model_combo.currentText()

    def model_choices(self) -> list[tuple[str, str]]:
        """(key, label) of every model in the list (bundled and files)."""
        return [(self.model_combo.itemData(i), self.model_combo.itemText(i)) for i in range(self.model_combo.count())
                if self.model_combo.itemData(i) != _OPEN_MODEL]

    def set_model_file(self, path: str | Path) -> None:
        """Use a model file (added to the model list, selected and remembered)."""
        self._select(self._add_model_item(str(Path(path))))

    # ----------------------------------------------------------- settings
    def load(self, s: Settings) -> None:
        """Take model, model files, scale, tile, device and precision from the settings."""
        for path in s.model_files():
            self._add_model_item(path)
        last = s.value("model/last", DEFAULT_MODEL)
        if last and last != _OPEN_MODEL:
            if self.model_combo.findData(last) < 0 and not is_model_file(last):
                self.model_combo.insertItem(self.model_combo.count() - 1, last, last)  # a bundled name
            if self.model_combo.findData(last) >= 0:
                self._select(self.model_combo.findData(last))
        if (index := self.scale_combo.findData(s.value("run/scale", DEFAULT_SCALE, int))) >= 0:
            self.scale_combo.setCurrentIndex(index)
        self.tile = None if s.value("run/tile", "") == "auto" else s.value("run/tile", DEFAULT_TILE, int)
        self.device = s.value("run/device", "auto")
        self.precision = s.value("run/precision", DEFAULT_PRECISION)
        self.model_changed.emit(self.model_combo.currentText())

    def save(self, s: Settings) -> None:
        """Write model, model files, scale, tile (``auto`` or the side), device and precision to the settings."""
        key = self.model_combo.itemData(self._model_index)
        s.set("model/last", key if key is not None else DEFAULT_MODEL)
        s.set_model_files([key for key, _ in self.model_choices() if is_model_file(key)])
        s.set("run/scale", self.scale)
        s.set("run/tile", "auto" if self.tile is None else self.tile)
        s.set("run/device", self.device)
        s.set("run/precision", self.precision)

    # ------------------------------------------------------------ warm-up
    def warm_up(self, delay_ms: int = 50) -> None:
        """Import the engine in the background ``delay_ms`` from now (the window shows first),
        then complete the model and device lists."""
        QTimer.singleShot(delay_ms, lambda: self._ops.op(_warm_up_work).success(self._on_warm)
                          .failure(lambda exc: None)  # the first run reports any engine problem
                          .after(self._on_warm_over).run())

    def _on_warm(self, found: tuple[list[str], list[str]]) -> None:
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

    def _on_warm_over(self) -> None:
        self.warmed_up = True
        self.ready.emit()

    # ----------------------------------------------------------- internal
    def _bundled_count(self) -> int:
        return sum(1 for key, _ in self.model_choices() if not is_model_file(key))

    def _add_model_item(self, path: str) -> int:
        index = self.model_combo.findData(path)
        if index < 0:
            index = self.model_combo.count() - 1  # before "Open model file…"
            self.model_combo.insertItem(index, Path(path).name, path)
            self.model_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        return index

    def _select(self, index: int) -> None:
        self.model_combo.setCurrentIndex(index)
        self._model_index = index
        self.model_changed.emit(self.model_combo.currentText())

    def _on_model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) != _OPEN_MODEL:
            self._select(index)
            return
        self.model_combo.setCurrentIndex(self._model_index)
        path, _ = QFileDialog.getOpenFileName(self._parent, "Open model file", "", MODEL_FILTER)
        if path:
            self.set_model_file(path)
