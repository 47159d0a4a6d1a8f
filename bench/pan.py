"""Pan benchmark: repaint times of the comparison views on a 50-megapixel image.

A synthetic 8660 x 5774 RGB picture (smooth gradients plus noise, 50.0 MP) is
shown in the workbench (side by side and slider, 1600 x 1000 window, Qt's
offscreen platform unless a display is present) through the image pyramid of
:mod:`ui.pyramid`. For each zoom (fit, 100 %, 400 %) we pan ``--steps`` times
by 37 x 23 screen pixels and time a synchronous repaint of every visible pane
(``QWidget.repaint``), then report the median, 95th percentile and maximum
milliseconds per frame. As a baseline, the same pans are timed on a
``QGraphicsView`` holding one full-size ``QPixmap`` (how the window drew
images before the pyramid). Figures go to ``bench/results/pan.json``.

Usage: ``python main.py bench pan [--steps 40] [--no-baseline]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from bench import RESULTS, ROOT

#: The test picture's size: 50.0 megapixels.
WIDTH, HEIGHT = 8660, 5774


def _picture():
    """The synthetic 50 MP QImage (RGB888), built with numpy in bands."""
    import numpy as np
    from PySide6.QtGui import QImage

    rng = np.random.default_rng(0)
    arr = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    x = np.linspace(0, 1, WIDTH, dtype=np.float32)
    for y0 in range(0, HEIGHT, 512):
        y = np.linspace(y0 / HEIGHT, min(y0 + 512, HEIGHT) / HEIGHT, min(512, HEIGHT - y0), dtype=np.float32)[:, None]
        band = np.stack([x[None, :] + 0 * y, y + 0 * x[None, :], 0.5 + 0.4 * np.sin(40 * x[None, :] + 30 * y)], -1)
        band += rng.normal(0, 0.04, band.shape).astype(np.float32)
        arr[y0:y0 + band.shape[0]] = np.clip(band * 255 + 0.5, 0, 255).astype(np.uint8)
    image = QImage(arr.data, WIDTH, HEIGHT, WIDTH * 3, QImage.Format.Format_RGB888).copy()
    return image


def _stats(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
            "max_ms": round(ms[-1], 2)}


def run(steps: int = 40, baseline: bool = True, out_dir: Path = RESULTS) -> dict:
    """Time panning on the 50 MP picture; write and return the figures.

    Returns:
        ``{"pyramid_build_s", "levels", "views": {mode: {zoom: stats}},
        "baseline_qgraphicsview": {...}}`` where stats are median / p95 / max
        milliseconds per repaint of all visible panes.
    """
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from ui.pyramid import ImagePyramid
    from ui.views import ComparisonWorkbench, Layer

    app = QApplication.instance() or QApplication(sys.argv[:1])
    image = _picture()
    t0 = time.perf_counter()
    pyramid = ImagePyramid(image)
    build = time.perf_counter() - t0
    wb = ComparisonWorkbench()
    wb.resize(1600, 1000)
    wb.show()
    app.processEvents()
    wb.set_layers([Layer("before", "Before", pyramid), Layer("after", "After", pyramid)], "before", "after", (WIDTH, HEIGHT))
    result = {"platform": app.platformName(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "megapixels": round(WIDTH * HEIGHT / 1e6, 2), "window": [1600, 1000],
              "pyramid_build_s": round(build, 3), "levels": [[im.width(), im.height()] for im in pyramid.levels],
              "steps": steps, "views": {}}

    def pan_frames() -> list[float]:
        times = []
        for i in range(steps):
            sign = 1 if (i // 10) % 2 == 0 else -1
            wb.viewport.pan_by(37 * sign, 23 * sign)
            t = time.perf_counter()
            for pane in wb.current_view.panes:
                pane.repaint()
            times.append((time.perf_counter() - t) * 1000)
        return times

    for mode in ("side", "slider"):
        wb.set_mode(mode)
        app.processEvents()
        per_zoom = {}
        for name, zoom in (("fit", None), ("100%", 1.0), ("400%", 4.0)):
            wb.fit()
            if zoom is not None:
                wb.viewport.set_zoom(zoom)
                wb.viewport.center_on(QPointF(WIDTH / 3, HEIGHT / 3))
            app.processEvents()
            per_zoom[name] = _stats(pan_frames())
        result["views"][mode] = per_zoom
    wb.close()

    if baseline:
        from PySide6.QtCore import Qt
        from PySide6.QtGui import QPainter, QPixmap, QTransform
        from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

        t0 = time.perf_counter()
        pixmap = QPixmap.fromImage(image)
        convert = time.perf_counter() - t0
        scene = QGraphicsScene()
        item = QGraphicsPixmapItem(pixmap)
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        scene.addItem(item)
        view = QGraphicsView(scene)
        view.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        view.resize(800, 1000)
        view.show()
        app.processEvents()
        zoom = min(800 / WIDTH, 1000 / HEIGHT) * 1.5  # a little over fit, so it can scroll
        view.setTransform(QTransform.fromScale(zoom, zoom))
        app.processEvents()
        times = []
        for i in range(min(steps, 20)):
            sign = 1 if (i // 10) % 2 == 0 else -1
            bar = view.horizontalScrollBar()
            bar.setValue(bar.value() + 37 * sign)
            t = time.perf_counter()
            view.viewport().repaint()
            times.append((time.perf_counter() - t) * 1000)
        result["baseline_qgraphicsview"] = {"qpixmap_from_image_s": round(convert, 3), "one_pane_near_fit": _stats(times)}
        view.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pan.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python main.py bench pan [--steps N] [--no-baseline] [--out DIR]``; prints the figures."""
    parser = argparse.ArgumentParser(prog="restorer bench pan", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--no-baseline", action="store_true", help="skip the full-size QPixmap baseline")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.steps, not args.no_baseline, args.out), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
