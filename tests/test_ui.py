"""Desktop window tests (pytest-qt, offscreen).

Views (side by side, slider, toggle, loupe, grid) over the shared viewport;
the image pyramid; runs (worker thread, live tiles, cancel, queue of images
and models, crop preview, close during a run, a responsive event loop);
live readouts and the LPIPS heat map against independent computations;
settings (in a temporary QSettings location), recent files, drag and drop,
shortcuts overlay, export, copy, themes, error dialogs, ``python main.py IMAGE``.
"""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import math
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root (ui/, restorer/, main.py)
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, QSettings, QSizeF, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QColor, QDropEvent, QImage, QPainter, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox  # noqa: E402

from ui.main_window import MainWindow  # noqa: E402
from ui.pyramid import ImagePyramid  # noqa: E402
from ui.settings import Settings  # noqa: E402
from ui.views import ComparisonWorkbench, Layer  # noqa: E402

TIMEOUT_MS = 60_000


# ------------------------------------------------------------------ fixtures
def _photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth colour gradients with some texture: a stand-in for a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([x / w, y / h, 0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0)], -1)
    img += rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.fixture(autouse=True)
def temp_settings(tmp_path, qapp):
    """Every QSettings of these tests lives under a temporary folder, never the user's."""
    folder = tmp_path / "settings"
    old_format = QSettings.defaultFormat()
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    old_org = qapp.organizationName()
    qapp.setOrganizationName("RestorerTests")
    yield folder
    qapp.setOrganizationName(old_org)
    QSettings.setDefaultFormat(old_format)


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
    Image.fromarray(_photo_like(256, 256, seed=1)).save(path)
    return path


def _make_window(qtbot, model_file, **kwargs) -> MainWindow:
    win = MainWindow(**kwargs)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    win.options.set_model_file(model_file)
    win.options.tile = 32
    win.options.device = "cpu"
    return win


@pytest.fixture
def window(qtbot, model_file):
    return _make_window(qtbot, model_file, warm_up=False)


@pytest.fixture
def fast_metrics(monkeypatch):
    """Replace whole-image and region metrics with constants, for tests not about metrics."""
    import restorer.metrics

    values = {"psnr": 30.0, "ssim": 0.9, "lpips_alex": 0.1, "lpips_vgg": 0.2, "dists": 0.15}
    monkeypatch.setattr(restorer.metrics, "consistency", lambda image, reference, device="cpu": {"psnr": 40.0})

    class FakeRegion:
        def __init__(self, image, reference, device="cpu"):
            pass

        def whole(self, full=False):
            return dict(values)

        def region(self, box):
            return {"psnr": 31.0, "ssim": 0.8, "lpips_alex": 0.2}

    monkeypatch.setattr(restorer.metrics, "RegionMetrics", FakeRegion)
    return values


@pytest.fixture
def errors(monkeypatch):
    """Record error boxes instead of blocking on them."""
    calls = []

    def fake(parent, title, text, *args, **kwargs):
        calls.append((title, text))
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "critical", fake)
    return calls


def _open(qtbot, win, path) -> None:
    """Open ``path`` and wait until it is shown (files decode on a worker thread)."""
    with qtbot.waitSignal(win.image_opened, timeout=TIMEOUT_MS):
        assert win.files.open_image(path)


def _restore(qtbot, win, expect="done"):
    with qtbot.waitSignal(win.restore_finished, timeout=TIMEOUT_MS) as blocker:
        win.restore_button.click()
    assert blocker.args == [expect]


def _solid(w: int, h: int, color) -> QImage:
    image = QImage(w, h, QImage.Format.Format_RGB888)
    image.fill(QColor(*color))
    return image


RED, BLUE, GREEN, GREY = (220, 30, 30), (30, 30, 220), (30, 200, 30), (128, 128, 128)


@pytest.fixture
def bench(qtbot):
    """A bare workbench with four solid-colour layers (before red, after blue, ...)."""
    wb = ComparisonWorkbench()
    qtbot.addWidget(wb)
    wb.resize(800, 500)
    wb.show()
    qtbot.waitExposed(wb)
    layers = [Layer("before", "Before", ImagePyramid(_solid(400, 300, RED))),
              Layer("after", "After", ImagePyramid(_solid(400, 300, BLUE))),
              Layer("model_b", "Model B", ImagePyramid(_solid(200, 150, GREEN)), scale=2.0),
              Layer("reference", "Reference", ImagePyramid(_solid(400, 300, GREY)))]
    wb.set_layers(layers, "before", "after", (400, 300))
    return wb


def _pixel(widget, x: int, y: int) -> tuple[int, int, int]:
    c = widget.grab().toImage().pixelColor(x, y)
    return c.red(), c.green(), c.blue()


def _near(c, ref, tol=12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(c, ref))


# ------------------------------------------------------------ views (no engine)
def test_side_by_side_panes_share_the_viewport(qtbot, bench):
    view = bench.views["side"]
    before, after = view.before_pane, view.after_pane
    vp = bench.viewport
    assert vp.fit_mode and vp.zoom == pytest.approx(min(after.width() / 400, after.height() / 300))
    cx, cy = before.width() // 2, before.height() // 2
    assert _near(_pixel(before, cx, cy), RED) and _near(_pixel(after, after.width() // 2, after.height() // 2), BLUE)
    # Wheel on the left pane zooms every pane around the cursor.
    pos = QPointF(60, 80)
    anchor = vp.to_image(pos, before.pane_size())
    wheel = QWheelEvent(pos, before.mapToGlobal(pos), QPoint(), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(before, wheel)
    assert not vp.fit_mode
    moved = vp.to_image(pos, before.pane_size()) - anchor
    assert abs(moved.x()) < 1e-6 and abs(moved.y()) < 1e-6
    # Drag in the right pane pans both (they read the same centre).
    bench.actual_size()
    c0 = vp.center
    qtbot.mousePress(after, Qt.MouseButton.LeftButton, pos=QPoint(200, 150))
    qtbot.mouseMove(after, QPoint(150, 120))
    qtbot.mouseRelease(after, Qt.MouseButton.LeftButton, pos=QPoint(150, 120))
    assert vp.center.x() == pytest.approx(c0.x() + 50) and vp.center.y() == pytest.approx(c0.y() + 30)
    r1 = vp.visible_rect(before.pane_size(), clip=False)
    r2 = vp.visible_rect(after.pane_size(), clip=False)
    assert r1.center() == r2.center() and r1.size() == r2.size()  # equal panes show the same region
    # Switching mode keeps zoom and position.
    zoom, center = vp.zoom, vp.center
    bench.set_mode("grid")
    assert vp.zoom == zoom and vp.center == center


def test_nearest_neighbour_past_100_percent_and_pyramid_levels(qtbot, bench):
    after = bench.views["side"].after_pane
    pyr = bench.layer("after").pyramid
    bench.viewport.set_zoom(3.0)
    after.repaint()
    level, src, smooth = pyr.last_draw
    assert level == 0 and not smooth  # nearest-neighbour past 100 %
    bench.viewport.set_zoom(0.3)
    after.repaint()
    level, src, smooth = pyr.last_draw
    assert level == 1 and smooth  # a halved level, smooth sampling


def test_pyramid_draws_about_the_pane_not_the_image():
    big = _solid(4000, 3000, GREY)
    pyr = ImagePyramid(big)
    assert [(im.width(), im.height()) for im in pyr.levels[:4]] == [(4000, 3000), (2000, 1500), (1000, 750), (500, 375)]
    assert max(pyr.levels[-1].width(), pyr.levels[-1].height()) <= 256
    target = QImage(800, 600, QImage.Format.Format_RGB32)
    painter = QPainter(target)
    for zoom in (0.2, 0.05, 1.0, 4.0):
        view = QRectF(1000, 800, 800 / zoom, 600 / zoom)
        pyr.draw(painter, QRectF(0, 0, 800, 600), view, zoom)
        _, src, _ = pyr.last_draw
        # The source rectangle read is at most about twice the pane in each direction.
        assert src.width() <= 2 * 800 + 1 and src.height() <= 2 * 600 + 1
    painter.end()
    # A part outside the image shrinks the target in proportion.
    painter = QPainter(target)
    target.fill(0)
    pyr.draw(painter, QRectF(0, 0, 800, 600), QRectF(3600, 2800, 800, 600), 1.0)
    painter.end()
    _, src, _ = pyr.last_draw
    assert (src.width(), src.height()) == (400, 200)
    assert target.pixelColor(100, 100) == QColor(*GREY) and target.pixelColor(500, 300) == QColor(0, 0, 0)


def test_slider_divider_drag_and_orientation(qtbot, bench):
    bench.set_mode("slider")
    canvas = bench.views["slider"].canvas
    qtbot.waitUntil(lambda: canvas.width() > 100)
    w, h = canvas.width(), canvas.height()
    assert _near(_pixel(canvas, int(w * 0.4), h // 2), RED) and _near(_pixel(canvas, int(w * 0.6), h // 2), BLUE)
    # Drag the divider from the middle to 25 %.
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(w // 2, h // 2))
    qtbot.mouseMove(canvas, QPoint(w // 4, h // 2))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(w // 4, h // 2))
    assert canvas.position == pytest.approx((w // 4) / w, abs=0.01)
    assert bench.viewport.fit_mode  # dragging the divider did not pan
    assert _near(_pixel(canvas, int(w * 0.4), h // 2), BLUE)
    # Vertical orientation: before above the line, after below.
    canvas.set_orientation(Qt.Orientation.Vertical)
    canvas.set_position(0.5)
    assert _near(_pixel(canvas, w // 2, int(h * 0.4)), RED) and _near(_pixel(canvas, w // 2, int(h * 0.6)), BLUE)


def test_toggle_holding_space_shows_before(qtbot, bench):
    bench.set_mode("toggle")
    canvas = bench.views["toggle"].canvas
    mid = (canvas.width() // 2, canvas.height() // 2)
    assert _near(_pixel(canvas, *mid), BLUE)
    qtbot.keyPress(canvas, Qt.Key.Key_Space)
    assert canvas.flipped and _near(_pixel(canvas, *mid), RED)
    qtbot.keyRelease(canvas, Qt.Key.Key_Space)
    assert not canvas.flipped and _near(_pixel(canvas, *mid), BLUE)


def test_loupe_magnifies_before_and_after_halves(qtbot, bench):
    bench.set_mode("loupe")
    canvas = bench.views["loupe"].canvas
    x, y = canvas.width() // 2, canvas.height() // 2
    qtbot.mouseMove(canvas, QPoint(x, y))
    qtbot.waitUntil(lambda: canvas.loupe_pos is not None)
    assert canvas.loupe_zoom() == pytest.approx(bench.viewport.zoom * 4)
    assert _near(_pixel(canvas, x - 40, y), RED) and _near(_pixel(canvas, x + 40, y), BLUE)
    assert _near(_pixel(canvas, x - int(canvas.radius) - 20, y), BLUE)  # outside the loupe: the after picture


def test_grid_shows_every_layer_in_one_viewport(qtbot, bench):
    bench.set_mode("grid")
    panes = bench.views["grid"].panes
    assert [p.layer.key for p in panes] == ["before", "after", "model_b", "reference"]
    assert bench.primary_pane.layer.key == "after"
    colours = [_pixel(p, p.width() // 2, p.height() // 2) for p in panes]
    for c, ref in zip(colours, (RED, BLUE, GREEN, GREY)):
        assert _near(c, ref)
    # A layer of half the size (scale 2) covers the same image region.
    bench.viewport.set_zoom(2.0)
    g = panes[2]
    assert _near(_pixel(g, g.width() // 2, g.height() // 2), GREEN)
    box = bench.visible_region()
    size = panes[1].pane_size()
    assert box[2] - box[0] == pytest.approx(min(400, size.width() / 2), abs=1)


def test_heat_overlay_opacity_and_colour_bar(qtbot, bench):
    import torch
    from restorer.metrics.heatmap import VIRIDIS

    from ui.heatmap import colorize

    values = torch.zeros(300, 400)
    values[:, 200:] = 0.45
    values[0, 0] = 7.0  # one hot pixel does not set the scale
    image, vmax = colorize(values)
    assert vmax == 0.5  # the engine's round ceiling of the 99th percentile
    assert image.pixelColor(10, 10).getRgb()[:3] == VIRIDIS[0] and image.pixelColor(0, 0).getRgb()[:3] == VIRIDIS[-1]
    mid = np.array(VIRIDIS[7]) * 0.8 + np.array(VIRIDIS[8]) * 0.2  # 0.45 / 0.5 * 8 = 7.2 stops
    assert np.abs(np.array(image.pixelColor(300, 10).getRgb()[:3]) - mid).max() <= 1
    image, vmax = colorize(values, vmax=0.45)
    assert vmax == 0.45 and image.pixelColor(300, 10).getRgb()[:3] == VIRIDIS[-1]
    bench.set_overlay("after", ImagePyramid(image, smooth=True), vmax, "LPIPS-Alex", "vs bicubic")
    assert not bench.colour_bar.isVisible()  # loaded, not shown yet
    bench.set_heat_visible(True)
    bench.set_heat_opacity(1.0)
    after = bench.views["side"].after_pane
    vp = bench.viewport
    right = vp.to_screen(QPointF(300, 150), after.pane_size())
    assert bench.colour_bar.isVisible() and bench.colour_bar.vmax == 0.45
    assert _near(_pixel(after, int(right.x()), int(right.y())), VIRIDIS[-1])
    bench.set_heat_opacity(0.5)
    mixed = _pixel(after, int(right.x()), int(right.y()))
    expect = tuple((a + b) / 2 for a, b in zip(BLUE, VIRIDIS[-1]))
    assert _near(mixed, expect, tol=6)
    bench.set_heat_visible(False)
    assert _near(_pixel(after, int(right.x()), int(right.y())), BLUE) and not bench.colour_bar.isVisible()


# ------------------------------------------------------------- window: runs
def test_open_image_shows_it(qtbot, window, small_png):
    assert not window.restore_button.isEnabled()
    _open(qtbot, window, small_png)
    assert window.image.size == (48, 40)
    layers = window.workbench.layers
    assert [layer.key for layer in layers] == ["input", "pending"]
    assert (layers[0].pyramid.width, layers[0].pyramid.height) == (48, 40)
    assert "48×40" in window.size_label.text()
    assert window.restore_button.isEnabled() and not window.save_action.isEnabled()
    assert window.settings.recent_files()[0] == str(small_png.resolve())


def _restored_with_metrics(qtbot, window, small_png):
    """Open ``small_png`` and restore it, waiting for the whole-image metrics (real ones)."""
    import restorer.metrics

    restorer.metrics.get_lpips("alex", "cpu")  # the README's setup installs the weights: fail, never skip, without them
    _open(qtbot, window, small_png)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        _restore(qtbot, window)


def _load_matching_reference(qtbot, window, tmp_path):
    """Load a reference of the output's size (192x160) and wait for its scores."""
    ref = tmp_path / "ref.png"
    Image.fromarray(_photo_like(160, 192, seed=3)).save(ref)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        window.files.load_reference(ref)


def test_restore_reports_on_the_gui_thread_and_shows_the_result(qtbot, window, small_png):
    threads = []
    window.progress_bar.valueChanged.connect(lambda _: threads.append(threading.current_thread()))
    _restored_with_metrics(qtbot, window, small_png)
    assert threads and all(t is threading.main_thread() for t in threads)  # signals delivered on the GUI thread
    assert tuple(window.result.rgb.shape) == (1, 3, 160, 192)
    assert [layer.key for layer in window.workbench.layers] == ["bicubic", window.result.label]
    assert "192×160" in window.size_label.text() and "cpu" in window.device_label.text()
    assert window.time_label.text().endswith(" s")


def test_whole_image_metrics_match_the_engine(qtbot, window, small_png):
    import restorer.metrics

    _restored_with_metrics(qtbot, window, small_png)
    values = window.metrics_panel.values["after_before"]
    ref_values = restorer.metrics.compare(window.result.rgb, window.before)
    for key in ("psnr", "ssim", "lpips_alex", "lpips_vgg", "dists"):
        assert values[key] == pytest.approx(ref_values[key], abs=1e-5)
    from ui.metrics_panel import WHOLE_ROWS

    row = {key: i for i, (key, *_rest) in enumerate(WHOLE_ROWS)}
    assert window.metrics_panel.table.item(row["psnr"], 0).text() == f"{values['psnr']:.2f}"
    assert window.metrics_panel.table.item(row["lpips_alex"], 4).text() == "lower is better"
    cons = window.metrics_panel.values["consistency"]
    assert cons["psnr"] == pytest.approx(restorer.metrics.consistency(window.result.rgb, window.image.rgb)["psnr"], abs=1e-4)


def test_region_readout_follows_the_visible_box(qtbot, window, small_png):
    import restorer.metrics

    _restored_with_metrics(qtbot, window, small_png)
    # Zoom to 2x around a point: the region readout follows the visible box.
    with qtbot.waitSignal(window.readouts_finished, timeout=TIMEOUT_MS):
        window.workbench.viewport.set_zoom(2.0)
        window.workbench.viewport.center_on(QPointF(60, 50))
    box = window.metrics_panel.region_box
    assert box == window.workbench.visible_region() and box[2] - box[0] < 192
    x0, y0, x1, y1 = box
    a = window.result.rgb[..., y0:y1, x0:x1].double()
    b = window.before[..., y0:y1, x0:x1].double()
    psnr = 10 * math.log10(1.0 / float(((a - b) ** 2).mean()))  # independent PSNR of the visible crop
    region = window.metrics_panel.region_values["after_before"]
    assert region["psnr"] == pytest.approx(psnr, abs=1e-3)
    rm = restorer.metrics.RegionMetrics(window.result.rgb, window.before)
    assert region["lpips_alex"] == pytest.approx(rm.region(box)["lpips_alex"], abs=1e-5)


def test_reference_of_the_output_size_scores_restored_and_bicubic(qtbot, window, small_png, tmp_path):
    _restored_with_metrics(qtbot, window, small_png)
    _load_matching_reference(qtbot, window, tmp_path)
    for pair in ("after_ref", "before_ref"):
        assert all(math.isfinite(v) for v in window.metrics_panel.values[pair].values())
    assert "Reference: ref.png" in window.metrics_panel.message.text()
    assert [layer.key for layer in window.workbench.layers][-1] == "reference"


def test_heat_map_against_the_reference(qtbot, window, small_png, tmp_path):
    import restorer.metrics

    _restored_with_metrics(qtbot, window, small_png)
    _load_matching_reference(qtbot, window, tmp_path)
    # The heat map: the LPIPS-Alex map against the reference, scaled to its (rounded-up) 99th percentile.
    with qtbot.waitSignal(window.heatmap_finished, timeout=TIMEOUT_MS):
        window.heat_action.trigger()
    from restorer.metrics.heatmap import nice_ceiling

    lp_map = restorer.metrics.lpips_map(window.result.rgb, window.reference.rgb)[0, 0]
    assert window.workbench.colour_bar.vmax == pytest.approx(nice_ceiling(float(np.percentile(lp_map.numpy(), 99))))
    assert window.workbench.layer(window.result.label).overlay is not None
    assert window.workbench.colour_bar.isVisible()


def test_one_engine_object_per_pair_and_heat_maps_stay_with_their_result(qtbot, window, small_png, monkeypatch):
    """Whole image, regions and heat map of a pair come from one RegionMetrics (LPIPS is computed
    once, not by two workers); a heat map belongs to its result: a second result gets its own."""
    import restorer.metrics

    built = []

    class Counting(restorer.metrics.RegionMetrics):
        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(restorer.metrics, "RegionMetrics", Counting)
    _restored_with_metrics(qtbot, window, small_png)
    first = window.result
    with qtbot.waitSignal(window.heatmap_finished, timeout=TIMEOUT_MS):
        window.heat_action.trigger()
    qtbot.waitUntil(lambda: not window.metrics.busy(), timeout=TIMEOUT_MS)
    assert len(built) == 1 and first.pairs["after_before"].heat is not None
    assert first.metrics["after_before"]["lpips_alex"] == built[0].whole()["lpips_alex"]
    window.scale_combo.setCurrentIndex(window.scale_combo.findData(2))
    with qtbot.waitSignal(window.heatmap_finished, timeout=TIMEOUT_MS):  # heat map still on: computed anew
        _restore(qtbot, window)
    second = window.result
    assert second is not first and second.pairs["after_before"].heat is not first.pairs["after_before"].heat
    assert window.workbench.layer(second.label).overlay.pyramid is second.pairs["after_before"].heat[0]
    with qtbot.assertNotEmitted(window.heatmap_finished, wait=300):  # back to the first: its own map, not recomputed
        window.show_result(first.label)
    assert window.workbench.layer(first.label).overlay.pyramid is first.pairs["after_before"].heat[0]


def test_reference_of_another_size_gives_one_line_and_no_scores(qtbot, window, small_png, tmp_path):
    _restored_with_metrics(qtbot, window, small_png)
    _load_matching_reference(qtbot, window, tmp_path)  # scored first: the wrong size must drop those scores
    bad_ref = tmp_path / "bad_ref.png"
    Image.fromarray(_photo_like(50, 60)).save(bad_ref)
    with qtbot.waitSignal(window.files.reference_loaded, timeout=TIMEOUT_MS):
        window.files.load_reference(bad_ref)
    assert "after_ref" not in window.metrics_panel.values
    assert "60×50" in window.metrics_panel.message.text() and "192×160" in window.metrics_panel.message.text()


def test_event_loop_stays_responsive_while_restoring(qtbot, window, large_png, fast_metrics):
    _open(qtbot, window, large_png)
    gaps, last = [], [time.perf_counter()]

    def tick():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    tiles = []
    window.queue.tile.connect(lambda item, payload: tiles.append(payload))
    timer.start()
    last[0] = time.perf_counter()
    with qtbot.waitSignal(window.restore_finished, timeout=TIMEOUT_MS) as blocker:
        window.runs.restore()
    timer.stop()
    assert blocker.args == ["done"]
    assert len(tiles) == 64  # live tiles: (256 / 32) ** 2
    assert len(gaps) > 20
    assert max(gaps) < 0.100, f"the GUI event loop waited {max(gaps) * 1000:.0f} ms"


def test_live_tiles_cancel_and_window_stays_usable(qtbot, window, large_png, small_png, fast_metrics):
    _open(qtbot, window, large_png)
    started = time.perf_counter()
    window.runs.restore()
    qtbot.waitUntil(lambda: window.progress_bar.value() >= 2, timeout=TIMEOUT_MS)
    running = window.workbench.layer(window.workbench.after_key)
    assert running.key == "running" and len(running.tiles) >= 1  # restored tiles shown as they finish
    rect, image = running.tiles[0]
    assert (rect.width(), rect.height()) == (128.0, 128.0) and (image.width(), image.height()) == (128, 128)
    assert window.queue.is_running() and window.cancel_button.isEnabled()
    # The status bar counts the running job's time, not the last run's.
    window._update_status()  # its 500 ms refresh, now
    elapsed = re.fullmatch(r"Elapsed: (\d+\.\d) s", window.time_label.text())
    assert elapsed is not None, window.time_label.text()
    assert 0.0 <= float(elapsed.group(1)) <= time.perf_counter() - started + 0.05
    with qtbot.waitSignal(window.restore_finished, timeout=TIMEOUT_MS) as blocker:
        window.cancel_button.click()
    assert blocker.args == ["cancelled"]
    assert window.result is None and not window.save_action.isEnabled() and not window.queue.is_running()
    assert [layer.key for layer in window.workbench.layers] == ["input", "pending"]
    _open(qtbot, window, small_png)
    _restore(qtbot, window)
    assert tuple(window.result.rgb.shape[-2:]) == (160, 192)


def test_close_during_run_cancels_cleanly(qtbot, window, large_png, fast_metrics):
    _open(qtbot, window, large_png)
    window.runs.restore()
    job = window.queue.job
    qtbot.waitUntil(lambda: window.progress_bar.value() >= 1, timeout=TIMEOUT_MS)
    window.close()
    assert job.cancel_event.is_set() and job.isFinished()
    assert window.result is None


def test_queue_of_images_and_models_fills_the_grid(qtbot, window, tmp_path, model_file, fast_metrics):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(_photo_like(36, 40, seed=i)).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not an image")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    with qtbot.waitSignal(window.image_opened, timeout=TIMEOUT_MS):  # decoded on a worker thread
        window.dropEvent(QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier))
    assert window.image_path.name == "p0.png" and window.images_list.count() == 2
    with qtbot.waitSignal(window.queue_drained, timeout=TIMEOUT_MS):
        window.runs.queue_all_images()
    assert all(len(doc.results) == 1 for doc in window.documents.values())
    assert all(item.status == "done" for item in window.queue.items) and len(window.queue.items) == 2
    # Every model on this image: the bundled one and the file.
    with qtbot.waitSignal(window.queue_drained, timeout=TIMEOUT_MS):
        window.runs.queue_all_models()
    labels = list(window.doc.results)
    assert labels == ["random_x4.safetensors ×4", "restorer-x4 ×4"]
    window.set_view_mode("grid")
    panes = window.workbench.views["grid"].panes
    assert [p.layer.key for p in panes] == ["bicubic", *labels]
    assert window.queue_list.count() == 4  # two images, then two models
    # The "after" choice: next result.
    current = window.doc.current
    window.next_result_action.trigger()
    assert window.doc.current != current and window.workbench.after_key == window.doc.current
    # The other image got its result, too (already decoded: shown at once).
    window.images_list.itemClicked.emit(window.images_list.item(1))
    assert window.image_path.name == "p1.png" and window.result is not None


def test_preview_of_the_visible_crop_matches_the_full_restore(qtbot, window, tmp_path, fast_metrics):
    path = tmp_path / "crop.png"
    Image.fromarray(_photo_like(64, 80, seed=5)).save(path)
    _open(qtbot, window, path)
    window.workbench.viewport.set_zoom(4.0)
    window.workbench.viewport.center_on(QPointF(30, 20))  # input pixels (nothing restored yet)
    box = window.workbench.visible_region()
    with qtbot.waitSignal(window.restore_finished, timeout=TIMEOUT_MS) as blocker:
        window.runs.preview_crop()
    assert blocker.args == ["done"] and window.result is None
    tiles = window.workbench.layer(window.workbench.after_key).tiles
    assert len(tiles) == 1
    rect, piece = tiles[0]
    assert rect == QRectF(box[0], box[1], box[2] - box[0], box[3] - box[1])  # in place, in input pixels
    _restore(qtbot, window)
    full = window.result.pyramid.image
    x0, y0 = int(rect.x() * 4), int(rect.y() * 4)
    a = np.array([[full.pixelColor(x0 + i, y0 + j).red() for i in range(0, piece.width(), 7)] for j in range(0, piece.height(), 7)])
    b = np.array([[piece.pixelColor(i, j).red() for i in range(0, piece.width(), 7)] for j in range(0, piece.height(), 7)])
    assert np.abs(a - b).max() <= 1  # tile padding = receptive field: the crop equals the full result


def test_tile_auto_is_the_default_and_a_run_uses_the_engines_tile(qtbot, window, model_file, tmp_path,
                                                                  fast_metrics, monkeypatch):
    """The Tile control offers auto (the default, as ``--tile auto``), off and sides; with auto the
    engine sizes the tiles: under a budget that fits 48-pixel tiles but not the whole image, a 96x96
    input runs as the 2x2 tiles of 48 that ``restorer.tiling.auto_tile`` computes."""
    import restorer.tiling
    from restorer.facts import DEFAULT_TILE
    from restorer.models import load_model

    fresh = MainWindow(warm_up=False)
    qtbot.addWidget(fresh)
    spin = fresh.tile_spin
    assert DEFAULT_TILE is None and fresh.options.tile is None and spin.text() == "auto"
    spin.stepBy(1)
    assert fresh.options.tile == 0 and spin.text() == "off"
    spin.stepBy(1)
    assert fresh.options.tile == 32 and spin.text() == "32"
    spin.stepBy(-2)
    assert fresh.options.tile is None and spin.text() == "auto"
    fresh.show()
    for typed, tile in (("off", 0), ("96", 96), ("auto", None)):
        spin.lineEdit().selectAll()
        qtbot.keyClicks(spin, typed)
        spin.interpretText()
        assert fresh.options.tile == tile and spin.text() == typed

    model = load_model(str(model_file))
    pad = restorer.tiling.default_tile_pad(model)
    monkeypatch.setattr(restorer.tiling, "CPU_TILE_BUDGET", restorer.tiling.tile_bytes(model, 48, 48, pad))
    assert restorer.tiling.auto_tile(model, 96, 96, device="cpu") == 48
    path = tmp_path / "square.png"
    Image.fromarray(_photo_like(96, 96, seed=2)).save(path)
    window.options.tile = None
    _open(qtbot, window, path)
    tiles = []
    window.queue.tile.connect(lambda item, payload: tiles.append(payload[0]))
    _restore(qtbot, window)
    assert window.queue.items[-1].total == 4
    assert [(r.x(), r.y(), r.width(), r.height()) for r in tiles] == [
        (0, 0, 192, 192), (192, 0, 192, 192), (0, 192, 192, 192), (192, 192, 192, 192)]  # output pixels
    assert tuple(window.result.rgb.shape[-2:]) == (384, 384)


def test_precision_choice_reaches_the_engine(qtbot, window, small_png, fast_metrics, monkeypatch):
    """The Precision list is the engine's (``restorer.facts.PRECISIONS``, default auto); fp16 on the
    CPU runs as the engine defines it: in fp32 (the same pixels as fp32), the warning in the status bar."""
    import torch

    import restorer.inference
    from restorer.facts import DEFAULT_PRECISION, PRECISIONS

    combo = window.precision_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(PRECISIONS)
    assert window.options.precision == DEFAULT_PRECISION == "auto"
    asked = []
    real = restorer.inference.model_dtype

    def spy(model, precision, device):
        asked.append((precision, device.type, real(model, precision, device)))
        return asked[-1][2]

    monkeypatch.setattr(restorer.inference, "model_dtype", spy)
    _open(qtbot, window, small_png)
    combo.setCurrentIndex(combo.findData("fp16"))
    _restore(qtbot, window)
    assert asked == [("fp16", "cpu", torch.float32)]
    assert "fp16 requested on the CPU: running in fp32" in window.statusBar().currentMessage()
    half = window.result.rgb
    window.options.precision = "fp32"
    _restore(qtbot, window)
    assert asked[1] == ("fp32", "cpu", torch.float32)
    assert "requested" not in window.statusBar().currentMessage()
    assert torch.equal(window.result.rgb, half)
    window.options.precision = "fp8"  # not the engine's: ignored
    assert window.options.precision == "fp32"


def test_an_output_too_large_for_memory_is_refused_in_one_line(qtbot, window, small_png, errors, fast_metrics,
                                                               monkeypatch):
    """As ``restore`` does, the window refuses an output that cannot fit in memory with the engine's
    check, before loading the model: one line in the error box, and the window goes on."""
    import restorer.models
    import restorer.tiling
    from restorer.batch import check_output_memory
    from restorer.tiling import InsufficientMemoryError

    from ui.run_queue import held_bytes

    need = held_bytes(192, 160, alpha=False, before=True)
    assert need == 192 * 160 * (12 + 4 + 12 + 4)  # float32 result and bicubic, each with its 8-bit pyramid
    with pytest.raises(InsufficientMemoryError) as refused:
        check_output_memory(small_png, 192, 160, need, 100_000)
    _open(qtbot, window, small_png)
    loads = []
    with monkeypatch.context() as patch:
        patch.setattr(restorer.tiling, "available_memory", lambda device="cpu": 100_000)
        patch.setattr(restorer.models, "load_model", lambda *a, **k: loads.append(a))
        _restore(qtbot, window, expect="failed")
    assert errors == [("Restore failed", str(refused.value))] and "\n" not in errors[0][1]
    assert "small.png: the 192x160 output needs" in errors[0][1] and loads == []
    assert window.result is None and window.restore_button.isEnabled()
    _restore(qtbot, window)  # with the memory there is, the same run goes through
    assert tuple(window.result.rgb.shape[-2:]) == (160, 192)


# -------------------------------------------------------- window: conveniences
def test_settings_persist_in_the_temporary_location(qtbot, model_file, temp_settings):
    win = _make_window(qtbot, model_file, warm_up=False)
    win.scale_combo.setCurrentIndex(win.scale_combo.findData(2))
    win.options.tile = 96
    win.options.precision = "bf16"
    win.set_view_mode("slider")
    win.opacity_slider.setValue(35)
    win.resize(720, 540)
    win.close()
    ini = list(temp_settings.rglob("*.ini"))
    assert len(ini) == 1 and "RestorerTests" in str(ini[0])
    again = MainWindow(warm_up=False)
    qtbot.addWidget(again)
    assert again.model_combo.currentData() == str(model_file)
    assert again.scale_combo.currentData() == 2 and again.options.tile == 96 and again.options.precision == "bf16"
    assert again.workbench.mode == "slider" and again.mode_actions["slider"].isChecked()
    assert again.opacity_slider.value() == 35 and again.workbench.heat_opacity == pytest.approx(0.35)
    assert (again.width(), again.height()) == (720, 540)
    again.options.tile = None  # auto is remembered as such
    again.close()
    assert Settings().value("run/tile", "") == "auto"
    third = MainWindow(warm_up=False)
    qtbot.addWidget(third)
    assert third.options.tile is None and third.tile_spin.text() == "auto"


def test_shortcuts_overlay_lists_the_actions(qtbot, window):
    window.help_action.trigger()
    overlay = window.help_overlay
    assert overlay.isVisible()
    rows = dict(overlay.rows)
    assert rows["Ctrl+R"] == "Restore" and rows["Ctrl+E"] == "Export comparison"
    assert any("Space" in keys for keys in rows)
    qtbot.keyClick(overlay, Qt.Key.Key_A)
    assert not overlay.isVisible()
    window.mode_actions["grid"].trigger()
    assert window.workbench.mode == "grid"


def test_export_composites_and_copy_metrics(qtbot, window, small_png, tmp_path, errors, fast_metrics):
    _open(qtbot, window, small_png)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        _restore(qtbot, window)
    from ui.export import CAPTION_HEIGHT

    side = tmp_path / "side.png"
    with qtbot.waitSignal(window.files.written, timeout=TIMEOUT_MS):
        assert window.files.export_comparison(side, layout="side")
    with Image.open(side) as im:
        assert im.size == (2 * 192 + 8, 160 + CAPTION_HEIGHT)
        arr = np.asarray(im.convert("RGB"))
    bicubic = window.workbench.layer("bicubic").pyramid.image
    c = bicubic.pixelColor(50, 60)
    assert np.abs(arr[60, 50].astype(int) - [c.red(), c.green(), c.blue()]).max() <= 1
    assert arr[160 + 5:, :].mean() < 80  # dark caption band with light text
    slider = tmp_path / "slider.png"
    with qtbot.waitSignal(window.files.written, timeout=TIMEOUT_MS):
        assert window.files.export_comparison(slider, layout="slider")
    with Image.open(slider) as im:
        assert im.size == (192, 160 + CAPTION_HEIGHT)
        arr2 = np.asarray(im.convert("RGB"))
    after = window.result.pyramid.image.pixelColor(150, 60)
    assert np.abs(arr2[60, 150].astype(int) - [after.red(), after.green(), after.blue()]).max() <= 1
    assert np.abs(arr2[60, 50].astype(int) - arr[60, 50].astype(int)).max() <= 1
    # Never over an input.
    original = small_png.read_bytes()
    with qtbot.waitSignal(window.files.error, timeout=TIMEOUT_MS):  # refused on the worker
        window.files.export_comparison(small_png)
    assert errors and "input" in errors[-1][1] and small_png.read_bytes() == original
    window.copy_metrics_action.trigger()
    text = QApplication.clipboard().text()
    assert "PSNR (dB)\t30.00" in text and "higher is better" in text and "Visible region" in text


def test_theme_follows_the_colour_scheme(qapp):
    from ui.theme import apply_theme

    old = qapp.palette()
    try:
        assert apply_theme(qapp, Qt.ColorScheme.Dark) == Qt.ColorScheme.Dark
        assert qapp.palette().window().color().lightness() < 80
        assert apply_theme(qapp, Qt.ColorScheme.Light) == Qt.ColorScheme.Light
        assert qapp.palette().window().color().lightness() > 180
    finally:
        qapp.setPalette(old)


def test_warm_up_lists_devices_and_status_bar(qtbot, model_file):
    win = _make_window(qtbot, model_file, warm_up=True)
    qtbot.waitUntil(lambda: win.options.warmed_up, timeout=TIMEOUT_MS)
    import torch

    devices = [win.device_combo.itemData(i) for i in range(win.device_combo.count())]
    assert devices[:2] == ["auto", "cpu"] and ("cuda" in devices) == torch.cuda.is_available()
    assert win.model_combo.findData("restorer-x4") >= 0
    win._update_status()
    assert win.memory_label.text().startswith("Memory: ") and "MB" in win.memory_label.text()


def test_errors_show_a_dialog_and_the_window_stays_usable(qtbot, window, tmp_path, small_png, errors, fast_metrics):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image")
    with qtbot.waitSignal(window.files.error, timeout=TIMEOUT_MS):  # decoded on a worker
        window.files.open_image(bad)
    assert len(errors) == 1 and "broken.png" in errors[0][1] and "\n" not in errors[0][1]
    assert window.image is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not window.open_paths([empty])
    assert len(errors) == 2 and "empty" in errors[1][1]
    _open(qtbot, window, small_png)
    bad_model = tmp_path / "broken.safetensors"
    bad_model.write_bytes(b"\x00" * 64)
    window.options.set_model_file(bad_model)
    _restore(qtbot, window, expect="failed")
    assert len(errors) == 3 and "broken.safetensors" in errors[2][1]
    assert window.restore_button.isEnabled() and window.result is None
    assert window.queue.items[-1].status == "failed"


def test_a_failing_readout_shows_one_dialog(qtbot, window, small_png, errors, fast_metrics, monkeypatch):
    import restorer.metrics

    class Broken:  # the whole image scores (one pair object answers both), every region fails
        def __init__(self, image, reference, device="cpu"):
            pass

        def whole(self, full=False):
            return dict(fast_metrics)

        def region(self, box):
            raise ValueError("region metrics exploded")

    monkeypatch.setattr(restorer.metrics, "RegionMetrics", Broken)
    _open(qtbot, window, small_png)
    _restore(qtbot, window)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=TIMEOUT_MS)
    for zoom in (2.0, 3.0):  # more readouts fail: still one dialog
        window.workbench.viewport.set_zoom(zoom)
        qtbot.waitUntil(lambda: not window.metrics.busy(), timeout=TIMEOUT_MS)
    assert errors == [("Live readout failed", "region metrics exploded")]
    assert "region metrics exploded" in window.metrics_panel.message.text()
    window.workbench.viewport.set_zoom(1.0)  # the window still works
    assert window.workbench.viewport.zoom == 1.0


def test_save_as_writes_output_and_refuses_the_input(qtbot, window, small_png, tmp_path, errors, monkeypatch, fast_metrics):
    _open(qtbot, window, small_png)
    assert not window.save_action.isEnabled()
    _restore(qtbot, window)
    out = tmp_path / "out" / "restored.png"
    out.parent.mkdir()
    answer = {"path": str(out)}
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (answer["path"], "PNG (*.png)"))
    with qtbot.waitSignal(window.files.written, timeout=TIMEOUT_MS):  # written on a worker
        window.save_action.trigger()
    assert errors == []
    with Image.open(out) as im:
        assert im.size == (192, 160)
    original = small_png.read_bytes()
    answer["path"] = str(small_png)
    with qtbot.waitSignal(window.files.error, timeout=TIMEOUT_MS):  # refused on the worker
        window.save_action.trigger()
    assert len(errors) == 1 and "input" in errors[0][1]
    assert small_png.read_bytes() == original


def test_save_keeps_16_bits_and_alpha_and_replaces_only_when_confirmed(qtbot, window, tmp_path, errors,
                                                                      fast_metrics):
    """Save writes the result with the engine's writer: a 16-bit RGBA input gives a 16-bit RGBA
    output holding the result's values rounded to 16 bits; an existing file is not replaced
    unless the save dialog confirmed it."""
    import torch

    from restorer.io import load_image, save_image

    rng = np.random.default_rng(7)
    src = tmp_path / "deep.png"
    save_image(src, torch.from_numpy(rng.integers(0, 65536, (1, 3, 40, 48)) / 65535.0).float(),
               torch.linspace(0, 1, 48).expand(1, 1, 40, 48).clone(), bits=16)
    _open(qtbot, window, src)
    _restore(qtbot, window)
    out = tmp_path / "deep_x4.png"
    with qtbot.waitSignal(window.files.written, timeout=TIMEOUT_MS):
        assert window.files.save_result(out)
    back = load_image(out)
    assert back.bits == 16 and back.size == (192, 160) and back.alpha is not None
    for saved, held in ((back.rgb, window.result.rgb), (back.alpha, window.result.alpha)):
        assert torch.equal((saved * 65535).round(), (held.clamp(0, 1) * 65535.0 + 0.5).floor())
    written = out.read_bytes()
    with qtbot.waitSignal(window.files.error, timeout=TIMEOUT_MS):
        window.files.save_result(out)
    assert errors == [("Cannot save image", f"{out}: already exists (not replaced without overwrite)")]
    assert out.read_bytes() == written
    with qtbot.waitSignal(window.files.written, timeout=TIMEOUT_MS):
        window.files.save_result(out, confirmed=True)


def test_export_is_written_by_the_engine_writer(qtbot, window, small_png, tmp_path, errors, fast_metrics):
    """Export comparison goes through ``restorer.io`` (atomic, a new file's permissions, the
    picture's exact pixels; an existing file is replaced, as the dialog confirmed), and never
    over the input or the reference (the engine's message)."""
    from ui.export import compose_side_by_side

    _open(qtbot, window, small_png)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        _restore(qtbot, window)
    out = tmp_path / "cmp.png"
    out.write_bytes(b"an older export")
    with qtbot.waitSignal(window.files.written, timeout=TIMEOUT_MS) as blocker:
        assert window.files.export_comparison(tmp_path / "cmp", layout="side")  # no suffix: .png
    assert blocker.args == [str(out)]
    wb = window.workbench
    composed = compose_side_by_side([(layer.pyramid.image, layer.title, window.files.caption_for(layer.key))
                                     for layer in (wb.layer(wb.before_key), wb.layer(wb.after_key))])
    assert composed.save(str(tmp_path / "qt.png"))  # Qt's own encoder, as a reference
    with Image.open(out) as im, Image.open(tmp_path / "qt.png") as ref:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), np.asarray(ref.convert("RGB")))
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "qt.png", "settings", "small.png"]
    ref = tmp_path / "ref.png"
    Image.fromarray(_photo_like(160, 192, seed=3)).save(ref)
    with qtbot.waitSignal(window.files.reference_loaded, timeout=TIMEOUT_MS):
        window.files.load_reference(ref)
    for protected in (small_png, ref):
        original = protected.read_bytes()
        with qtbot.waitSignal(window.files.error, timeout=TIMEOUT_MS):
            window.files.export_comparison(protected)
        assert errors[-1] == ("Cannot export comparison", f"{protected}: refusing to write over an input file")
        assert protected.read_bytes() == original


def test_save_suggests_the_cli_output_name_and_captions_name_the_metrics(qtbot, window, small_png, monkeypatch,
                                                                         fast_metrics):
    """Save suggests ``small_x4.png`` beside the input, the name ``restore`` writes (it used to
    suggest ``small_restored_x4.png``); the export caption names each metric and its direction."""
    _open(qtbot, window, small_png)
    with qtbot.waitSignal(window.metrics_finished, timeout=TIMEOUT_MS):
        _restore(qtbot, window)
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or ("", ""))
    window.save_action.trigger()
    assert asked[0][2] == str(small_png.with_name("small_x4.png")) and asked[0][4] == "PNG (*.png)"
    assert window.files.caption_for(window.result.label) == ("LPIPS-Alex 0.1000 ↓   DISTS 0.1500 ↓   PSNR 30.00 dB ↑   "
                                                        "SSIM 0.9000 ↑   (vs bicubic)")


def test_drop_files_model_and_recent_menu(qtbot, window, small_png, tmp_path, model_file, errors):
    other = tmp_path / "other.png"
    Image.fromarray(_photo_like(30, 34)).save(other)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in (small_png, other, model_file)])
    with qtbot.waitSignal(window.image_opened, timeout=TIMEOUT_MS) as blocker:
        window.dropEvent(QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier))
        assert window.image is None  # decoding on a worker thread; the window stays live
    assert blocker.args == [str(small_png)] and window.image.size == (48, 40)
    assert window.images_list.count() == 2 and window.model_combo.currentData() == str(model_file)
    _open(qtbot, window, other)
    actions = [a.text() for a in window.recent_menu.actions()]
    assert actions[:2] == ["other.png", "small.png"]
    window.recent_menu.actions()[1].trigger()
    assert window.image_path.resolve() == small_png.resolve()
    # A file that fails to decode on the worker: an error box, the window keeps its image.
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 truncated")
    window.open_paths([bad])
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=TIMEOUT_MS)
    assert "bad.jpg" in errors[0][1] and window.image_path.resolve() == small_png.resolve()


def test_scale_x2_and_model_choice(qtbot, window, small_png, model_file, monkeypatch, fast_metrics):
    assert window.windowTitle() == "Restorer"
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(model_file), ""))
    window.model_combo.setCurrentIndex(0)
    window.model_combo.activated.emit(window.model_combo.count() - 1)
    assert window.model_combo.currentData() == str(model_file)
    assert window.model_combo.count() == 3  # bundled, the file (not added twice), "Open model file…"
    _open(qtbot, window, small_png)
    window.scale_combo.setCurrentIndex(window.scale_combo.findData(2))
    _restore(qtbot, window)
    assert tuple(window.result.rgb.shape[-2:]) == (80, 96) and window.result.scale == 2
    assert window.workbench.viewport.image_size == QSizeF(96, 80)
    assert window.windowTitle() == "Restorer – small.png"


def test_main_py_opens_the_image_given(qtbot, small_png):
    import main

    app = QApplication.instance()
    seen = []

    tries = [0]

    def check_and_exit():
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if any(w.image_path is None for w in wins) and tries[0] < 100:
            tries[0] += 1  # the image decodes on a worker thread
            QTimer.singleShot(100, check_and_exit)
            return
        seen.extend(w.image_path for w in wins)
        for w in wins:
            w.close()
        app.exit(0)  # immediate; quit() would post an event that could end a later test's wait

    app.setQuitOnLastWindowClosed(False)
    old_palette, old_style = app.palette(), app.style().name()
    try:
        QTimer.singleShot(500, check_and_exit)
        assert main.main([str(small_png)]) == 0
    finally:
        app.setQuitOnLastWindowClosed(True)
        app.setPalette(old_palette)
        app.setStyle(old_style)
    assert small_png in seen


def test_metrics_column_titles_are_not_clipped(qtbot):
    """Every column title of both metrics tables fits its column when the panel
    is as wide as in the screenshots ("Restored vs reference" was cut off)."""
    from ui.metrics_panel import MetricsPanel

    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.resize(1385, 200)
    panel.show()
    qtbot.waitExposed(panel)
    for table in (panel.table, panel.region_table):
        header = table.horizontalHeader()
        fm = header.fontMetrics()
        for col in range(table.columnCount()):
            item = table.horizontalHeaderItem(col)
            need = max(fm.horizontalAdvance(line) for line in item.text().split("\n"))
            assert header.sectionSize(col) >= need + 6, (item.text(), header.sectionSize(col), need)
            assert header.height() >= fm.height() * len(item.text().split("\n"))
            assert item.toolTip().replace(" ", "") == item.text().replace("\n", "").replace(" ", "")


def test_tiny_image_restores_without_error_boxes(qtbot, window, tmp_path, errors):
    """A 6x5 photo restores to 24x20, under the metrics' 31-pixel minimum: the
    panel says so in one line; no 'Metrics failed' / 'Live readout failed' box
    (there used to be two per image), and the heat map is simply not drawn."""
    path = tmp_path / "tiny.png"
    Image.fromarray(_photo_like(5, 6)).save(path)
    _open(qtbot, window, path)
    _restore(qtbot, window)
    assert window.result.size == (24, 20)
    qtbot.waitUntil(lambda: not window.metrics.busy(), timeout=TIMEOUT_MS)
    window.set_heat_visible(True)
    qtbot.wait(300)
    qtbot.waitUntil(lambda: not window.metrics.busy(), timeout=TIMEOUT_MS)
    assert errors == []
    assert "24×20" in window.metrics_panel.message.text() and "31×31" in window.metrics_panel.message.text()
    assert window.metrics_panel.value("after_before", "psnr") is None
    window.set_heat_visible(False)
    assert window.files.open_image(window.image_path) and window.restore_button.isEnabled()  # decoded: shown at once


def test_decoder_warning_shows_in_the_status_bar(qtbot, window, tmp_path, errors):
    """An animated GIF opens on its first frame and says so in the window (the
    warning used to reach only the terminal), both when opened directly and on a
    worker thread (drops, the command line)."""
    frames = [Image.fromarray(_photo_like(40, 48, seed=s)) for s in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    _open(qtbot, window, path)
    message = window.statusBar().currentMessage()
    assert "anim.gif" in message and "3 frames" in message and "first frame" in message
    window.statusBar().clearMessage()
    other = tmp_path / "anim2.gif"
    frames[1].save(other, save_all=True, append_images=frames[:1])
    with qtbot.waitSignal(window.image_opened, timeout=TIMEOUT_MS):
        assert window.files.open_image(other)
    assert "anim2.gif" in window.statusBar().currentMessage() and "2 frames" in window.statusBar().currentMessage()
    assert errors == [] and window.image.size == (48, 40)


def test_dropped_folder_opens_its_first_readable_image(qtbot, window, tmp_path, errors):
    """A dropped folder whose first image (sorted) is a zero-byte file: one error
    box names it, the next image opens (the window used to stay empty), and the
    text file and subfolder are ignored."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    (folder / "a_broken.png").write_bytes(b"")
    Image.fromarray(_photo_like(30, 34)).save(folder / "b.png")
    (folder / "notes.txt").write_text("not an image")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    with qtbot.waitSignal(window.image_opened, timeout=TIMEOUT_MS) as blocker:
        window.dropEvent(QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                    Qt.KeyboardModifier.NoModifier))
    assert blocker.args == [str(folder / "b.png")] and window.image.size == (34, 30)
    assert len(errors) == 1 and "a_broken.png" in errors[0][1] and "0 bytes" in errors[0][1]
    assert [window.images_list.item(i).text() for i in range(window.images_list.count())] == ["b.png"]
    # The same on the GUI thread (scripts): the first readable image is shown.
    other = MainWindow(warm_up=False)
    qtbot.addWidget(other)
    with qtbot.waitSignal(other.image_opened, timeout=TIMEOUT_MS):
        assert other.open_paths([folder])
    assert other.image_path == folder / "b.png"
    assert len(errors) == 2


def test_reference_from_the_menu_decodes_off_the_gui_thread(qtbot, window, small_png, tmp_path, errors, fast_metrics):
    """File ▸ Load reference decodes on a worker: the reference arrives later, on the
    document that was current when asked; a broken file shows one error box."""
    _open(qtbot, window, small_png)
    ref = tmp_path / "ref.png"
    Image.fromarray(_photo_like(40, 48, seed=5)).save(ref)
    assert window.files.load_reference(ref)
    assert window.doc.reference is None  # not decoded on the GUI thread
    qtbot.waitUntil(lambda: window.doc.reference is not None, timeout=TIMEOUT_MS)
    assert window.doc.reference_path == ref
    assert tuple(window.doc.reference.rgb.shape[-2:]) == (40, 48)
    assert [layer.key for layer in window.workbench.layers][-1] == "reference"
    broken = tmp_path / "broken_ref.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert window.files.load_reference(broken)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=TIMEOUT_MS)
    assert errors[0][0] == "Cannot open reference" and "broken_ref.png" in errors[0][1]
    assert window.doc.reference_path == ref  # the good reference stays
