"""Regenerate the window screenshots in ``docs/``: one per view mode, on a real photo.

A photo is shrunk (antialiased) to the reference size, 4 x ``--lr-width`` wide
at most; the reference shrunk by 4 is the low-resolution input. The window
opens the input, loads the reference, restores x4 with every model given
(default: every bundled model), waits for the metrics and the live readouts,
then grabs itself in each mode:

* ``screenshot_side_by_side.png`` -- before | after at 100 %
* ``screenshot_slider.png``       -- the split slider at 100 %
* ``screenshot_grid.png``         -- bicubic, each model, reference, fitted
* ``screenshot_heatmap.png``      -- the LPIPS heat map (against the reference) over the result

Usage (from the repository root; on a machine without a display use Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshot.py
    .venv/bin/python docs/make_screenshot.py --photo my.jpg --model weights/other.safetensors

Default photo: the libjxl flower from the benchmark photos (``cache/bench_photos``),
else scikit-image's ``chelsea.png`` (a test dependency). Settings are
kept in a temporary folder (the user's are not touched).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_photo() -> Path:
    """The libjxl flower (a benchmark photo, ``python -m bench.photos`` fetches it)
    when present, else scikit-image's ``chelsea.png``."""
    flower = ROOT / "cache" / "bench_photos" / "libjxl_flower.png"
    if flower.is_file():
        return flower
    try:
        import skimage
    except ImportError:
        raise SystemExit("no --photo given and scikit-image (for its chelsea.png) is not installed") from None
    return Path(skimage.__file__).parent / "data" / "chelsea.png"


def make_inputs(photo: Path, lr_width: int, folder: Path) -> tuple[Path, Path]:
    """Write ``reference.png`` (photo shrunk, sides multiples of 4) and ``input.png``
    (reference shrunk by 4) into ``folder``."""
    from restorer.resample import resize
    from restorer.io import load_image, save_image

    rgb = load_image(photo).rgb
    h, w = rgb.shape[-2:]
    lr_w = min(lr_width, w // 4)
    lr_h = round(h * lr_w / w)
    reference = resize(rgb, (4 * lr_h, 4 * lr_w))
    low = resize(reference, (lr_h, lr_w))
    stem = photo.stem
    ref_path, lr_path = folder / f"{stem}_reference.png", folder / f"{stem}_input.png"
    save_image(ref_path, reference)
    save_image(lr_path, low)
    return lr_path, ref_path


def main(argv: list[str] | None = None) -> int:
    """Build the window, restore, and write the four screenshots; 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, help="source photo (default: the libjxl flower, else chelsea.png)")
    parser.add_argument("--model", action="append", help="model name or file (repeatable; default: every bundled model)")
    parser.add_argument("--lr-width", type=int, default=250, help="width of the low-resolution input (default 250)")
    parser.add_argument("--size", default="1500x940", help="window size WxH (default 1500x940)")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)

    settings_dir = tempfile.mkdtemp(prefix="restorer-shots-")
    from PySide6.QtCore import QEventLoop, QPointF, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, settings_dir)
    from ui.main_window import MainWindow
    from ui.run_options import is_model_file
    from ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Restorer")
    app.setOrganizationName("Restorer")
    apply_theme(app)
    errors: list[str] = []

    def wait(signal, seconds: float, until=None) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        if until is None or not until():
            loop.exec()
        for _ in range(5):
            app.processEvents()

    with tempfile.TemporaryDirectory() as tmp:
        lr_path, ref_path = make_inputs(args.photo or default_photo(), args.lr_width, Path(tmp))
        window = MainWindow(warm_up=True)
        window.resize(*(int(v) for v in args.size.lower().split("x")))
        window.show()
        window.show_error = lambda title, message: errors.append(f"{title}: {message}")
        wait(window.options.ready, 20, until=lambda: window.options.warmed_up)
        window.files.open_image(lr_path)
        wait(window.image_opened, 60, until=lambda: window.doc is not None)
        if window.doc is None or not window.files.load_reference(ref_path):
            print("\n".join(errors), file=sys.stderr)
            return 1
        wait(window.files.reference_loaded, 60, until=lambda: window.reference is not None)
        if window.reference is None:
            print("\n".join(errors), file=sys.stderr)
            return 1
        models = args.model or [key for key, _ in window.options.model_choices() if not is_model_file(key)]
        for m in models:
            if Path(m).suffix:
                window.options.set_model_file(m)
                model = window.options.model
            else:
                model = (m, m)
            window.queue.add(window.runs.item(window.doc, model))
        wait(window.queue_drained, 900, until=lambda: not window.queue.is_running() and not window.queue.pending())
        if window.result is None:
            print("restore failed: " + "; ".join(errors), file=sys.stderr)
            return 1
        first = next(iter(window.doc.results))
        window.show_result(first)
        wait(window.metrics_finished, 900, until=lambda: not window.metrics.busy())
        out = args.out_dir
        out.mkdir(parents=True, exist_ok=True)
        w, h = window.result.size

        def shot(name: str) -> None:
            wait(window.readouts_finished, 60, until=lambda: not window.metrics.busy())
            path = out / name
            if not window.grab().save(str(path)):
                raise SystemExit(f"cannot write {path}")
            print(f"wrote {path}")

        window.set_view_mode("side")
        window.workbench.viewport.set_zoom(1.0)
        window.workbench.viewport.center_on(QPointF(w * 0.42, h * 0.45))
        shot("screenshot_side_by_side.png")
        window.set_view_mode("slider")
        window.workbench.viewport.set_zoom(1.5)
        window.workbench.viewport.center_on(QPointF(w * 0.42, h * 0.45))
        shot("screenshot_slider.png")
        window.set_view_mode("grid")
        window.workbench.fit()
        shot("screenshot_grid.png")
        window.set_view_mode("side")
        window.workbench.fit()
        window.opacity_slider.setValue(65)
        window.set_heat_visible(True)
        wait(window.heatmap_finished, 600, until=lambda: window.workbench.has_overlay())
        shot("screenshot_heatmap.png")
        print(f"metrics: {window.result.metrics}")
        if errors:
            print("\n".join(errors), file=sys.stderr)
        window.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("QT_SCALE_FACTOR", "1")
    sys.exit(main())
