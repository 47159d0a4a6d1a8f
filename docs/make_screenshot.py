"""Regenerate ``docs/screenshot_main.png``: the main window after a real x4 restore.

A photo is shrunk (antialiased) to the reference size, 4 x ``--lr-width`` wide
at most; the reference shrunk by 4 is the low-resolution input. The window
opens the input, loads the reference, restores x4 and waits for the metrics;
then it grabs itself into a PNG.

Usage (from the repository root; on a machine without a display use Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshot.py
    .venv/bin/python docs/make_screenshot.py --photo my.jpg --model weights/other.safetensors

Defaults: scikit-image's ``coffee.png`` (a test dependency) and the bundled model.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def default_photo() -> Path:
    try:
        import skimage
    except ImportError:
        raise SystemExit("no --photo given and scikit-image (for its coffee.png) is not installed") from None
    return Path(skimage.__file__).parent / "data" / "coffee.png"


def make_inputs(photo: Path, lr_width: int, folder: Path) -> tuple[Path, Path]:
    """Write ``reference.png`` (photo shrunk, sides multiples of 4) and ``input.png``
    (reference shrunk by 4) into ``folder``."""
    from restorer.inference import resize
    from restorer.io import load_image, save_image

    rgb = load_image(photo).rgb
    h, w = rgb.shape[-2:]
    lr_w = min(lr_width, w // 4)
    lr_h = round(h * lr_w / w)
    reference = resize(rgb, (4 * lr_h, 4 * lr_w))
    low = resize(reference, (lr_h, lr_w))
    ref_path, lr_path = folder / "reference.png", folder / "input.png"
    save_image(ref_path, reference)
    save_image(lr_path, low)
    return lr_path, ref_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, help="source photo (default: scikit-image's coffee.png)")
    parser.add_argument("--model", help="model name or file (default: the bundled model)")
    parser.add_argument("--lr-width", type=int, default=200, help="width of the low-resolution input (default 200)")
    parser.add_argument("--size", default="1400x900", help="window size WxH (default 1400x900)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot_main.png")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Restorer")
    with tempfile.TemporaryDirectory() as tmp:
        lr_path, ref_path = make_inputs(args.photo or default_photo(), args.lr_width, Path(tmp))
        window = MainWindow()
        window.resize(*(int(v) for v in args.size.lower().split("x")))
        window.show()
        if args.model:
            window.set_model_file(args.model)
        errors: list[str] = []
        window.show_error = lambda title, message: errors.append(f"{title}: {message}")
        if not window.open_image(lr_path) or not window.load_reference(ref_path):
            print("\n".join(errors), file=sys.stderr)
            return 1

        def wait(signal, seconds: float) -> None:
            loop = QEventLoop()
            signal.connect(loop.quit)
            QTimer.singleShot(int(seconds * 1000), loop.quit)
            loop.exec()

        window.start_restore()
        wait(window.restore_finished, 600)
        if window.result is None:
            print("restore failed: " + "; ".join(errors), file=sys.stderr)
            return 1
        wait(window.metrics_finished, 600)
        for _ in range(5):
            app.processEvents()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(args.out)):
            print(f"cannot write {args.out}", file=sys.stderr)
            return 1
        print(f"wrote {args.out}; metrics: {window.metrics_panel.values}")
        if errors:
            print("\n".join(errors), file=sys.stderr)
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
