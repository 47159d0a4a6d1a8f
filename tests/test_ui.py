"""Desktop window tests (pytest-qt, offscreen): open, restore on a worker thread,
metrics readouts, cancel, close during a run, synchronised zoom/pan, errors,
Save As, drag and drop, and the ``python main.py IMAGE`` entry point."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root (ui/, restorer/, main.py)
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog, QGraphicsPixmapItem, QMessageBox  # noqa: E402

from ui.main_window import MainWindow  # noqa: E402

TIMEOUT_MS = 60_000


# ------------------------------------------------------------------ fixtures
def _photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients with some texture: a stand-in for a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0)], -1)
    img += rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A random-weight RestorerCompact x4 file."""
    import torch
    from safetensors.torch import save_file

    from restorer.models import RestorerCompact

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random_x4.safetensors"
    save_file(RestorerCompact().state_dict(), str(path))
    return path


@pytest.fixture
def small_png(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(_photo_like(40, 48)).save(path)
    return path


@pytest.fixture
def large_png(tmp_path):
    path = tmp_path / "large.png"
    Image.fromarray(_photo_like(384, 384, seed=1)).save(path)
    return path


@pytest.fixture
def window(qtbot, model_file):
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(900, 640)
    win.show()
    qtbot.waitExposed(win)
    win.set_model_file(model_file)
    win.tile = 32
    win.device = "cpu"
    return win


@pytest.fixture
def fast_metrics(monkeypatch):
    """Replace LPIPS & co with a constant, for tests that are not about metrics."""
    import restorer.metrics

    monkeypatch.setattr(
        restorer.metrics, "compare", lambda image, reference, device="cpu": {"psnr": 30.0, "ssim": 0.9, "lpips_alex": 0.1, "lpips_vgg": 0.2}
    )


@pytest.fixture
def errors(monkeypatch):
    """Record error boxes instead of blocking on them."""
    calls = []

    def fake(parent, title, text, *args, **kwargs):
        calls.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", fake)
    return calls


def _restore(qtbot, win, expect="done"):
    with qtbot.waitSignal(win.restore_finished, timeout=TIMEOUT_MS) as blocker:
        win.restore_button.click()
    assert blocker.args == [expect]


def _pixmap_sizes(view):
    items = [i for i in view.scene().items() if isinstance(i, QGraphicsPixmapItem)]
    return [(i.pixmap().width(), i.pixmap().height()) for i in items]


# --------------------------------------------------------------------- tests
def test_open_image_shows_it_in_both_panes(window, small_png):
    assert not window.restore_button.isEnabled()
    assert window.open_image(small_png)
    assert window.image.size == (48, 40)
    assert _pixmap_sizes(window.view.before_view) == [(48, 40)]
    assert _pixmap_sizes(window.view.after_view) == [(48, 40)]
    assert "48×40" in window.size_label.text()
    assert window.restore_button.isEnabled() and not window.save_action.isEnabled()


def test_restore_on_worker_with_metrics_and_reference(qtbot, window, small_png, tmp_path):
    import restorer.metrics
    from restorer.weights import WeightsNotFoundError

    try:
        restorer.metrics.get_lpips("alex", "cpu")
        restorer.metrics.get_lpips("vgg16", "cpu")
    except WeightsNotFoundError as exc:
        pytest.skip(f"LPIPS weights unavailable: {exc}")

    threads = []
    window.progress_bar.valueChanged.connect(lambda _: threads.append(threading.current_thread()))
    window.open_image(small_png)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        _restore(qtbot, window)
        assert window.cancel_button.isEnabled() is False
    # Worker signals were delivered on the GUI thread.
    assert threads and all(t is threading.main_thread() for t in threads)
    assert tuple(window.result.rgb.shape) == (1, 3, 160, 192)
    assert _pixmap_sizes(window.view.before_view) == [(192, 160)]
    assert _pixmap_sizes(window.view.after_view) == [(192, 160)]
    assert "192×160" in window.size_label.text() and "cpu" in window.device_label.text()
    assert window.time_label.text().endswith(" s")

    values = window.metrics_panel.values["after_before"]
    assert all(math.isfinite(v) for v in values.values())
    assert 0 < values["psnr"] < 100
    assert -1 <= values["ssim"] <= 1
    assert 0 <= values["lpips_alex"] <= 2 and 0 <= values["lpips_vgg"] <= 2
    from ui.metrics_panel import METRICS

    row = {key: i for i, (key, *_rest) in enumerate(METRICS)}
    assert window.metrics_panel.table.item(row["psnr"], 0).text() == f"{values['psnr']:.2f}"
    assert window.metrics_panel.table.item(row["dists"], 0).text() == f"{values['dists']:.4f}"
    assert 0 <= values["dists"] <= 1
    assert window.metrics_panel.table.item(row["lpips_alex"], 3).text() == "lower is better"
    assert window.metrics_panel.table.item(row["psnr"], 3).text() == "higher is better"

    # A reference of the output's size: both the restored and the bicubic image are scored.
    ref = tmp_path / "ref.png"
    Image.fromarray(_photo_like(160, 192, seed=3)).save(ref)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        window.load_reference(ref)
    for pair in ("after_ref", "before_ref"):
        assert all(math.isfinite(v) for v in window.metrics_panel.values[pair].values())
    assert "Reference: ref.png" in window.metrics_panel.message.text()

    # A reference of another size: a one-line message, no scores.
    bad_ref = tmp_path / "bad_ref.png"
    Image.fromarray(_photo_like(50, 60)).save(bad_ref)
    window.load_reference(bad_ref)
    assert "after_ref" not in window.metrics_panel.values
    assert "60×50" in window.metrics_panel.message.text() and "192×160" in window.metrics_panel.message.text()


def test_cancel_during_run_leaves_window_usable(qtbot, window, large_png, small_png, fast_metrics):
    window.open_image(large_png)
    window.start_restore()
    qtbot.waitUntil(lambda: window.progress_bar.value() >= 1, timeout=TIMEOUT_MS)
    assert window.is_running() and window.cancel_button.isEnabled()
    with qtbot.waitSignal(window.restore_finished, timeout=TIMEOUT_MS) as blocker:
        window.cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert window.result is None and not window.save_action.isEnabled()
    assert not window.is_running() and window.restore_button.isEnabled()
    assert _pixmap_sizes(window.view.after_view) == [(384, 384)]  # the input again, tiles gone
    # Still usable: open and restore another image.
    window.open_image(small_png)
    _restore(qtbot, window)
    assert tuple(window.result.rgb.shape[-2:]) == (160, 192)


def test_close_during_run_cancels_cleanly(qtbot, window, large_png, fast_metrics):
    window.open_image(large_png)
    window.start_restore()
    job = window._restore_job
    qtbot.waitUntil(lambda: window.progress_bar.value() >= 1, timeout=TIMEOUT_MS)
    window.close()
    assert job.cancel_event.is_set() and job.isFinished()
    assert window.result is None


def test_zoom_and_pan_are_synchronised(qtbot, window, tmp_path):
    path = tmp_path / "zoom.png"
    Image.fromarray(_photo_like(150, 200)).save(path)
    window.open_image(path)
    view = window.view
    before, after = view.before_view, view.after_view
    assert view.fit_mode

    def assert_synced():
        assert before.transform() == after.transform()
        assert before.horizontalScrollBar().value() == after.horizontalScrollBar().value()
        assert before.verticalScrollBar().value() == after.verticalScrollBar().value()

    window.zoom_in_action.trigger()
    window.zoom_in_action.trigger()
    view.set_zoom(4.0)
    assert before.transform().m11() == pytest.approx(4.0)
    assert_synced()
    # Pan one pane: the other follows.
    before.horizontalScrollBar().setValue(before.horizontalScrollBar().maximum() // 3)
    after.verticalScrollBar().setValue(after.verticalScrollBar().maximum() // 2)
    assert before.horizontalScrollBar().value() > 0
    assert_synced()
    # Drag to pan in the right pane.
    h0 = after.horizontalScrollBar().value()
    qtbot.mousePress(after.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.mouseMove(after.viewport(), QPoint(150, 120))
    qtbot.mouseRelease(after.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(150, 120))
    assert after.horizontalScrollBar().value() != h0
    assert_synced()
    # Wheel zoom on the left pane, around the cursor.
    pos = QPointF(120, 90)
    anchor = before.mapToScene(pos.toPoint())
    wheel = QWheelEvent(pos, before.viewport().mapToGlobal(pos), QPoint(), QPoint(0, 120),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(before.viewport(), wheel)
    assert view.zoom == pytest.approx(5.0)
    moved = before.mapToScene(pos.toPoint()) - anchor
    assert abs(moved.x()) <= 1 and abs(moved.y()) <= 1  # the point under the cursor stays put
    assert_synced()
    # Nearest-neighbour past 100 %, smooth when zoomed out.
    modes = {i.transformationMode() for v in view.views for i in v.scene().items()}
    assert modes == {Qt.TransformationMode.FastTransformation}
    view.set_zoom(0.5)
    assert_synced()
    modes = {i.transformationMode() for v in view.views for i in v.scene().items()}
    assert modes == {Qt.TransformationMode.SmoothTransformation}
    window.actual_action.trigger()
    assert view.zoom == pytest.approx(1.0)
    window.fit_action.trigger()
    assert view.fit_mode and before.transform() == after.transform()
    assert "%" in window.zoom_label.text()


def test_bad_files_show_an_error_and_window_stays_usable(qtbot, window, tmp_path, small_png, errors, fast_metrics):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    assert not window.open_image(bad)
    assert len(errors) == 1 and "broken.png" in errors[0][1] and "\n" not in errors[0][1]
    assert window.image is None
    assert window.open_image(small_png)

    bad_model = tmp_path / "broken.safetensors"
    bad_model.write_bytes(b"\x00" * 64)
    window.set_model_file(bad_model)
    _restore(qtbot, window, expect="failed")
    assert len(errors) == 2 and "broken.safetensors" in errors[1][1]
    assert window.restore_button.isEnabled() and window.result is None


def test_save_as_writes_output_and_refuses_the_input(qtbot, window, small_png, tmp_path, errors, monkeypatch, fast_metrics):
    window.open_image(small_png)
    assert not window.save_action.isEnabled()
    _restore(qtbot, window)
    out = tmp_path / "out" / "restored.png"
    out.parent.mkdir()
    answer = {"path": str(out)}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (answer["path"], "PNG (*.png)"))
    window.save_action.trigger()
    assert errors == []
    with Image.open(out) as im:
        assert im.size == (192, 160)

    original = small_png.read_bytes()
    answer["path"] = str(small_png)
    window.save_action.trigger()
    assert len(errors) == 1 and "input" in errors[0][1]
    assert small_png.read_bytes() == original


def test_drop_a_file_opens_it(window, small_png):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(small_png))])
    event = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.image_path == small_png and window.image.size == (48, 40)


def test_main_py_opens_the_image_given(qtbot, small_png):
    import main

    app = QApplication.instance()
    seen = []

    def check_and_exit():
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen.extend(w.image_path for w in wins)
        for w in wins:
            w.close()
        app.exit(0)  # immediate; quit() would post an event that could end a later test's wait

    app.setQuitOnLastWindowClosed(False)
    try:
        QTimer.singleShot(300, check_and_exit)
        assert main.main([str(small_png)]) == 0
    finally:
        app.setQuitOnLastWindowClosed(True)
    assert small_png in seen


def test_scale_x2_and_model_choice(qtbot, window, small_png, model_file, monkeypatch, fast_metrics):
    assert window.windowTitle() == "Restorer"
    assert window.scale_combo.currentData() == 4  # x4 by default
    # "Open model file…" asks for a file and selects it.
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(model_file), ""))
    window.model_combo.setCurrentIndex(0)
    window._on_model_activated(window.model_combo.count() - 1)
    assert window.model_combo.currentData() == str(model_file)
    assert window.model_combo.count() == 3  # bundled, the file (not added twice), "Open model file…"
    window.open_image(small_png)
    window.scale_combo.setCurrentIndex(window.scale_combo.findData(2))
    _restore(qtbot, window)
    assert tuple(window.result.rgb.shape[-2:]) == (80, 96) and window.result.scale == 2
    assert _pixmap_sizes(window.view.after_view) == [(96, 80)]
    assert window.windowTitle().startswith("Restorer")
