"""Start-up benchmark: time from launching ``python main.py`` to a window on screen.

Each round starts a fresh Python process that runs ``main.main(ARGS)`` exactly
as ``python main.py`` does; a probe (installed by the child before ``main``
runs, not part of the app) records the wall-clock time when the main window is
first exposed, whether ``torch`` was imported at that moment, when the
background warm-up (torch, spandrel, the device list) has finished, and, with
``--photo``, when the photo is on screen. Times are measured from the parent's
``subprocess.Popen`` call, so interpreter start-up is included. We report the
median and the worst of ``--rounds`` rounds to ``bench/results/startup.json``.

Usage: ``python main.py bench startup [--rounds 5] [--photo PATH]``. Without a
display the child uses Qt's ``offscreen`` platform (recorded in the results);
run it under ``xvfb-run`` for an X11 figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import RESULTS, ROOT

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import ui.main_window as mw

marks = {{}}
_show = mw.MainWindow.showEvent

def probe(win):
    handle = win.windowHandle()
    if "window" not in marks and handle is not None and handle.isExposed():
        marks["window"] = time.time()
        marks["torch_at_window"] = "torch" in sys.modules
    if "window" in marks and "ready" not in marks and win.options.warmed_up:
        marks["ready"] = time.time()
    if {photo!r} and "photo" not in marks and win.doc is not None and win.workbench.has_image():
        marks["photo"] = time.time()
    done = "window" in marks and "ready" in marks and ("photo" in marks or not {photo!r})
    if done:
        print("STARTUP " + json.dumps(marks), flush=True)
        win.close()
        QApplication.instance().exit(0)
    else:
        QTimer.singleShot(2, lambda: probe(win))

def show_event(self, event):
    _show(self, event)
    QTimer.singleShot(0, lambda: probe(self))

mw.MainWindow.showEvent = show_event
import main
sys.exit(main.main({args!r}))
"""


def one_round(photo: str | None, env: dict[str, str]) -> dict[str, float | bool]:
    """Start one app process and return its marks, in seconds after launch:
    ``window`` (first exposed), ``ready`` (engine warm-up done), ``photo``
    (when given: the photo shown) and ``torch_at_window`` (bool).

    Raises:
        RuntimeError: the child failed or printed no marks (its stderr tail is included).
    """
    code = _CHILD.format(root=str(ROOT), photo=photo or "", args=[photo] if photo else [])
    start = time.time()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("STARTUP ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"start-up probe failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    marks = json.loads(line[len("STARTUP "):])
    return {k: (v - start if isinstance(v, float) else v) for k, v in marks.items()}


def run(rounds: int = 5, photo: str | None = None, out_dir: Path = RESULTS) -> dict:
    """Measure ``rounds`` cold starts and write ``startup.json``.

    Args:
        rounds: how many fresh processes to start.
        photo: an image to open as ``python main.py PHOTO`` (also timed).
        out_dir: output folder (created).

    Returns:
        The dict written: platform, Qt platform plugin, CPU count, rounds, and
        per mark (``window_s``, ``ready_s``, ``photo_s``) the median and max in
        seconds, plus ``torch_imported_before_window`` (True if any round had
        torch loaded when the window appeared -- it should be False).
    """
    import tempfile

    env = dict(os.environ)
    env["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="restorer-bench-")  # leave the user's settings alone (Linux)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    samples = [one_round(photo, env) for _ in range(rounds)]
    result: dict = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "qt_platform": env.get("QT_QPA_PLATFORM", "default (display)"),
        "rounds": rounds,
        "photo": photo,
        "torch_imported_before_window": any(s["torch_at_window"] for s in samples),
    }
    for key in ("window", "ready", "photo"):
        values = [s[key] for s in samples if key in s]
        if values:
            result[f"{key}_s"] = {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "startup.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python main.py bench startup [--rounds N] [--photo PATH] [--out DIR]``; prints the figures."""
    parser = argparse.ArgumentParser(prog="restorer bench startup", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--photo", help="also time opening this image")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.rounds, args.photo, args.out)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
