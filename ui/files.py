"""File operations of the window: open images and folders, load a reference,
save the result, export the comparison; the recent-files menu and the Images
list (the open files; clicking one shows it).

Every read and write runs on a worker thread (a 50-megapixel file takes
seconds to decode or encode); the window learns the outcome from signals. There
is no blocking variant: scripts and tests wait for the signals too.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QListWidget, QListWidgetItem, QMenu, QWidget

from restorer.facts import (AFTER_BEFORE, AFTER_REF, BEFORE_REF, HEADLINE_KEYS, METRICS, MODEL_EXTENSIONS,
                            OPEN_EXTENSIONS, PAIRS, SAVE_FORMATS, first_line, format_value, output_name)

from .export import compose_side_by_side, compose_slider
from .jobs import Job, quiet_gc
from .operations import Op, Operations
from .pyramid import ImagePyramid
from .qimage import qimage_to_tensor, tensor_to_qimage
from .run_options import RunOptions
from .session import Document, Session
from .settings import Settings
from .views import ComparisonWorkbench

__all__ = ["FileOperations", "OPEN_FILTER", "SAVE_FILTERS"]

#: File-dialog filter of the images the engine opens (restorer.facts).
OPEN_FILTER = f"Images ({' '.join('*' + ext for ext in sorted(OPEN_EXTENSIONS))});;All files (*)"
#: One filter per output format, in ``SAVE_FORMATS`` order: ``PNG (*.png)``, ``JPEG (*.jpg *.jpeg)``...
SAVE_FILTERS = {fmt: f"{fmt} ({' '.join('*' + e for e, f in SAVE_FORMATS.items() if f == fmt)})"
                for fmt in dict.fromkeys(SAVE_FORMATS.values())}
#: Metrics in export captions, in caption order.
CAPTION_METRICS = [METRICS[k] for k in HEADLINE_KEYS]


def decode(job: Job, path: Path):
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


class FileOperations(QObject):
    """Opens, loads, saves and exports for the window, off the GUI thread.

    Args:
        window: parent of the dialogs.
        session: the documents.
        ops: where the work runs.
        options: the run options (a dropped model file is selected there).
        workbench: what an export draws.
        settings: the recent-files list.

    Attributes:
        images_list: the open files (the Images dock); activating one shows it.
        recent_menu: the File ▸ Open recent submenu, once the window has made it.

    Signals:
        opened(document): a decoded document is to be shown.
        reference_loaded(document): a reference arrived for this document.
        written(str): a file was saved or exported (its path).
        message(text, ms): a status-bar line (``ms`` 0: until replaced).
        error(title, message): an error box to show.
    """

    opened = Signal(object)
    reference_loaded = Signal(object)
    written = Signal(str)
    message = Signal(str, int)
    error = Signal(str, str)

    def __init__(self, window: QWidget, session: Session, ops: Operations, options: RunOptions,
                 workbench: ComparisonWorkbench, settings: Settings) -> None:
        super().__init__(window)
        self._window, self.session, self.ops = window, session, ops
        self.options, self.workbench, self.settings = options, workbench, settings
        self.recent_menu: QMenu | None = None
        self.images_list = QListWidget(window)
        self.images_list.itemActivated.connect(self._on_image_activated)
        self.images_list.itemClicked.connect(self._on_image_activated)

    # ------------------------------------------------------------------ open
    def open_dialog(self) -> None:
        """Ask for image files (File ▸ Open…) and open them."""
        paths, _ = QFileDialog.getOpenFileNames(self._window, "Open images", self._folder(), OPEN_FILTER)
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        """Ask for a folder and open the images in it."""
        folder = QFileDialog.getExistingDirectory(self._window, "Open a folder of images", self._folder())
        if folder:
            self.open_paths([folder])

    def open_paths(self, paths: list[str | Path]) -> bool:
        """Open files and folders (a folder contributes its images, sorted): all are
        listed under Images and the first is opened (:meth:`open_image`, the others
        are its fallbacks); model files are selected as the model.

        Returns:
            False when there was no image to open (a folder without images shows an
            error box), else True: the first image is being opened.
        """
        images: list[Path] = []
        for raw in paths:
            p = Path(raw)
            if p.is_dir():
                images += sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in OPEN_EXTENSIONS)
            elif p.suffix.lower() in MODEL_EXTENSIONS:
                self.options.set_model_file(p)
            else:
                images.append(p)
        if not images:
            if any(Path(p).is_dir() for p in paths):
                self.error.emit("No images", f"{Path(paths[0])}: no image files in this folder")
            return False
        for p in images:
            self.session.document_for(p)
        self.open_image(images[0], fallbacks=images[1:])
        self.update_images_list()
        return True

    def open_image(self, path: str | Path, fallbacks: list[Path] = ()) -> bool:
        """Show ``path``: at once when it is decoded already, else once a worker has
        decoded it, unless another image was asked for meanwhile (``opened`` then).

        Args:
            path: the image file.
            fallbacks: images to try in turn when ``path`` cannot be decoded (the
                other images of a dropped folder, so that one broken file does not
                leave the window empty); each failure shows its error box.

        Returns:
            True (shown, or being decoded; a failure shows an error box). Runs
            already queued go on.
        """
        path = Path(path)
        doc = self.session.document_for(path)
        if doc.image is not None:
            self.ops.invalidate("open")  # a pending decode of another file is not shown
            self._show(doc)
            return True
        self.message.emit(f"Opening {path}…", 0)
        op = self.ops.op(lambda job: decode(job, path), lane="open", keep_stale=True)
        op.success(lambda loaded: self._decoded(op, path, loaded))
        op.failure(lambda exc: self._open_failed(op, path, exc, list(fallbacks))).run()
        return True

    def _decoded(self, op: Op, path: Path, loaded) -> None:
        doc = self.session.document_at(path)
        if doc is not None and doc.image is None:  # kept even when stale: a later click shows it at once
            doc.image, doc.pyramid, doc.notes = loaded
        if op.current and doc is not None:
            self._show(doc)

    def _open_failed(self, op: Op, path: Path, exc: BaseException, fallbacks: list[Path]) -> None:
        self.session.drop_undecoded(path)
        self.update_images_list()
        self.message.emit("", 0)
        self.error.emit("Cannot open image", first_line(exc))
        if op.current and fallbacks:
            self.open_image(fallbacks[0], fallbacks[1:])

    def _show(self, doc: Document) -> None:
        self.settings.add_recent_file(doc.path)
        self.update_recent_menu()
        self.opened.emit(doc)

    # ------------------------------------------------------------ reference
    def reference_dialog(self) -> None:
        """Ask for a reference image (File ▸ Load reference…) and load it."""
        path, _ = QFileDialog.getOpenFileName(self._window, "Load reference image", self._folder(), OPEN_FILTER)
        if path:
            self.load_reference(path)

    def load_reference(self, path: str | Path) -> bool:
        """Decode a ground-truth image on a worker and attach it to the document shown
        now (``reference_loaded`` then), to score the restored and bicubic images
        against; it must have the output's size, otherwise the metrics panel says so.

        Returns:
            True when being read; False without a document (the status bar says so).
        """
        doc = self.session.doc
        if doc is None:
            self.message.emit("Open an image first.", 5000)
            return False
        path = Path(path)
        self.message.emit(f"Opening reference {path}…", 0)
        (self.ops.op(lambda job: decode(job, path))
         .success(lambda loaded: self._reference_decoded(doc, path, loaded))
         .failure(lambda exc: self._failed("Cannot open reference", exc)).run())
        return True

    def _reference_decoded(self, doc: Document, path: Path, loaded) -> None:
        reference, pyramid, _ = loaded
        doc.set_reference(path, reference, pyramid)
        self.message.emit(f"Reference {path}", 5000)
        self.reference_loaded.emit(doc)

    # ------------------------------------------------------------------ save
    def save_dialog(self) -> None:
        """Ask for a file name (suggesting the CLI's ``{stem}_x{scale}{ext}`` beside
        the input, :func:`restorer.facts.output_name`) and save the current result there."""
        if self.session.result is None:
            return
        suggested = self.session.path.with_name(output_name(self.session.path, self.session.result.scale))
        path, _ = QFileDialog.getSaveFileName(self._window, "Save restored image", str(suggested),
                                              ";;".join(SAVE_FILTERS.values()), SAVE_FILTERS[SAVE_FORMATS[suggested.suffix]])
        if path:
            self.save_result(path, confirmed=True)

    def save_result(self, path: str | Path, confirmed: bool = False) -> bool:
        """Write the current result on a worker (with the input's alpha, bit depth, ICC
        and EXIF); ``written`` on success, an error box on failure (e.g. the path is an
        input or the reference, or exists and was not confirmed).

        Args:
            path: destination; ``.png`` is appended when it has no suffix.
            confirmed: the user agreed to replace an existing file (the save dialog asks).

        Returns:
            True when being written; False when there is no result.
        """
        result, image = self.session.result, self.session.image
        if result is None:
            return False
        path = Path(path)
        if not path.suffix:
            path, confirmed = path.with_suffix(".png"), False
        protect = self.session.protected_paths()

        def work(job: Job) -> Path:
            from restorer.io import save_image

            return save_image(path, result.rgb, result.alpha, bits=image.bits, grayscale=image.grayscale,
                              icc_profile=image.icc_profile, pixels_in_profile=image.pixels_in_profile,
                              exif=image.exif, overwrite=confirmed, protect=protect)

        self.message.emit(f"Saving {path}…", 0)
        (self.ops.op(work).success(lambda written: self._written("Saved", written))
         .failure(lambda exc: self._failed("Cannot save image", exc)).run())
        return True

    # ---------------------------------------------------------------- export
    def export_dialog(self) -> None:
        """Ask for a PNG name and export the comparison (see :meth:`export_comparison`)."""
        if self.session.result is None:
            self.message.emit("Restore an image first.", 5000)
            return
        suggested = str(self.session.path.with_name(f"{self.session.path.stem}_comparison.png"))
        path, _ = QFileDialog.getSaveFileName(self._window, "Export comparison", suggested, "PNG (*.png)")
        if path:
            self.export_comparison(path)

    def caption_for(self, key: str) -> str:
        """Metric caption of a layer: the result against the reference when loaded,
        else against bicubic; bicubic against the reference."""
        result = self.session.result
        if result is None:
            return ""
        if key == "reference":
            return "ground truth"
        if key == "bicubic":
            pair = BEFORE_REF
        else:
            target = self.session.doc.results.get(key)
            if target is not result:
                return target.architecture if target is not None else ""
            pair = AFTER_REF if result.metrics.get(AFTER_REF) else AFTER_BEFORE
        values = result.metrics.get(pair)
        if not values:
            return ""
        parts = [f"{m.name} {format_value(values.get(m.key), m.decimals)}{' ' + m.unit if m.unit else ''} {m.arrow}"
                 for m in CAPTION_METRICS]
        return "   ".join(parts) + f"   ({PAIRS[pair].against})"

    def export_comparison(self, path: str | Path, layout: str | None = None) -> bool:
        """Compose the comparison with metric captions, and write it on a worker with the
        engine's writer (:func:`restorer.io.save_image`: atomic, never over the input or the
        reference; an existing other file is replaced, as the export dialog confirmed);
        ``written`` on success, an error box on failure.

        Args:
            path: destination, PNG unless its extension names another format the engine
                writes (``.png`` added when missing).
            layout: ``"side"`` (the pictures next to each other: in grid mode
                every layer, else before and after), ``"slider"`` (one
                composite split at the slider's position); default from the
                current view mode.

        Returns:
            True when being written; False after an error box when there is nothing to export.
        """
        if self.session.result is None:
            self.error.emit("Nothing to export", "Restore an image first.")
            return False
        wb = self.workbench
        layout = layout or ("slider" if wb.mode == "slider" else "side")
        if wb.mode == "grid" and layout == "side":
            layers = wb.layers
        else:
            layers = [layer for layer in (wb.layer(wb.before_key), wb.layer(wb.after_key)) if layer is not None]
        panels = [(layer.pyramid.image, layer.title, self.caption_for(layer.key)) for layer in layers]
        if not panels:
            self.error.emit("Cannot export comparison", "nothing to export")
            return False
        if layout == "slider":
            canvas = wb.views["slider"].canvas
            image = compose_slider(panels[0], panels[-1], canvas.position, canvas.orientation == Qt.Orientation.Vertical)
        else:
            image = compose_side_by_side(panels)
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        protect = self.session.protected_paths()

        def work(job: Job) -> Path:
            from restorer.io import save_image

            return save_image(path, qimage_to_tensor(image), overwrite=True, protect=protect)

        self.message.emit(f"Exporting {path}…", 0)
        (self.ops.op(work)
         .success(lambda written: self._written("Exported", written))
         .failure(lambda exc: self._failed("Cannot export comparison", exc)).run())
        return True

    # ------------------------------------------------------ lists of files
    def update_images_list(self) -> None:
        """List the open documents (with their number of results), the shown one selected."""
        self.images_list.clear()
        for doc in self.session.documents.values():
            results = f"  ({len(doc.results)} results)" if doc.results else ""
            item = QListWidgetItem(doc.path.name + results, self.images_list)
            item.setData(Qt.ItemDataRole.UserRole, str(doc.path))
            item.setToolTip(str(doc.path))
            if doc is self.session.doc:
                self.images_list.setCurrentItem(item)

    def _on_image_activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path and not self.session.is_current(path):
            self.open_image(path)

    def update_recent_menu(self) -> None:
        """Rebuild the recent-files submenu (newest first, and "Clear list")."""
        menu = self.recent_menu
        if menu is None:
            return
        menu.clear()
        files = self.settings.recent_files()
        for f in files:
            menu.addAction(Path(f).name, lambda p=f: self.open_paths([p])).setToolTip(f)
        if files:
            menu.addSeparator()
            menu.addAction("Clear list", self._clear_recent)
        menu.setEnabled(bool(files))

    def _clear_recent(self) -> None:
        self.settings.clear_recent_files()
        self.update_recent_menu()

    # -------------------------------------------------------------- helpers
    def _folder(self) -> str:
        return str(self.session.path.parent) if self.session.path else ""

    def _written(self, verb: str, path: Path) -> None:
        self.message.emit(f"{verb} {path}", 5000)
        self.written.emit(str(path))

    def _failed(self, title: str, exc: BaseException) -> None:
        self.message.emit("", 0)
        self.error.emit(title, first_line(exc))
