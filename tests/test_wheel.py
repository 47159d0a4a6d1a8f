"""The wheel is the product: built from the checkout, installed into a fresh virtual environment
outside it, it restores with the bundled model, opens the window, and installs one top-level name.

Nothing is downloaded: the wheel is built with ``--no-build-isolation --no-index`` and installed
with ``--no-deps``; the fresh environment gets its dependencies (torch, spandrel, PySide6...)
from this one through a ``.pth`` file (a path line only: this environment's own ``.pth`` files,
such as an editable install's finder, are not run there).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
#: What the wheel is built from (pyproject.toml maps ui/ and weights/ into the `restorer` package).
SOURCES = ("restorer", "ui", "weights", "pyproject.toml", "README.md")


def test_ui_imports_itself_relatively():
    """The wheel installs ui/ as restorer.ui: an absolute ``ui.`` import would break it there."""
    import re

    for path in (ROOT / "ui").rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not re.match(r"\s*(from ui[. ]|import ui\b)", line), f"{path.relative_to(ROOT)}:{n}: {line.strip()}"


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the sources and install it into a fresh venv.

    Returns:
        ``python`` and ``script`` (the venv's interpreter and ``restorer`` console
        script), ``site`` (its site-packages), ``work`` (an empty folder outside
        the checkout, the working directory of every run) and ``env``.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a copy: the build writes build/ and *.egg-info beside the sources
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(tmp / "dist"), str(src)])
    (wheel,) = (tmp / "dist").glob("restorer-*.whl")

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q",
          str(wheel)])
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site / "_restorer_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    return {"python": python, "script": venv / "bin" / "restorer", "site": site, "work": work, "env": env}


@pytest.mark.slow  # builds a wheel (once) and starts Python processes
def test_wheel_installs_one_top_level_name_with_the_bundled_models(installed):
    site = installed["site"]
    names = {p.name for p in site.iterdir()} - {"__pycache__", "_restorer_test_deps.pth"}
    names = {n for n in names if not n.endswith(".dist-info")}
    assert names == {"restorer"}  # no bench, ui or main beside it
    (record,) = site.glob("restorer-*.dist-info/RECORD")
    tops = {line.split("/")[0].split(",")[0] for line in record.read_text().splitlines()}
    assert {t for t in tops if not t.endswith(".dist-info")} <= {"restorer", "..", ""}  # ../../bin/restorer
    out = _run([str(installed["python"]), "-c", "import restorer.models as m; print(m.weights_dir())"],
               cwd=installed["work"], env=installed["env"]).stdout.strip()
    bundled = Path(out)
    assert bundled == site / "restorer" / "models" / "bundled"
    assert {p.name for p in bundled.iterdir() if p.is_file()} == {
        "restorer_x4.safetensors", "restorer_x4.md", "restorer_x2.safetensors", "restorer_x2.md"}


@pytest.mark.slow  # builds a wheel (once) and starts Python processes
def test_installed_console_script_restores_with_the_bundled_model(installed):
    from skimage import data

    work = installed["work"]
    Image.fromarray(data.astronaut()[100:164, 180:244]).save(work / "in.png")  # a 64x64 photo crop
    _run([str(installed["script"]), "restore", "in.png", "-o", "out.png"], cwd=work, env=installed["env"])
    with Image.open(work / "out.png") as im:
        out = np.asarray(im.convert("RGB"), dtype=np.float64)
    assert out.shape == (256, 256, 3)
    with Image.open(work / "in.png") as im:
        bicubic = np.asarray(im.resize((256, 256), Image.BICUBIC), dtype=np.float64)
    diff = np.abs(out - bicubic)
    assert diff.mean() > 0.5 and diff.max() > 10  # the generator ran (about 2.2 and 54 when written)
    proc = subprocess.run([str(installed["script"]), "bench", "gpu"], capture_output=True, text=True, cwd=work,
                          env=installed["env"], timeout=120)
    assert proc.returncode == 1 and "source checkout" in proc.stderr  # benchmarks are not in the wheel


@pytest.mark.slow  # builds a wheel (once) and starts Python processes
def test_installed_app_opens_the_window(installed):
    """What the console script runs without arguments (``restorer.ui.app.main``), quit by a timer."""
    from skimage import data

    work = installed["work"]
    Image.fromarray(data.coffee()[:48, :64]).save(work / "cup.png")
    code = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(["restorer"])
seen = []
def done(tries=[0]):
    from restorer.ui.main_window import MainWindow
    wins = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    if any(w.image_path is None for w in wins) and tries[0] < 300:
        tries[0] += 1  # the image decodes on a worker thread
        QTimer.singleShot(100, done)
        return
    seen.extend(w.windowTitle() for w in wins)
    for w in wins:
        w.close()
    app.exit(0)
QTimer.singleShot(500, done)
from restorer.ui.app import main
code = main(["cup.png"])
print("TITLES", seen)
print("FOREIGN", sorted(m for m in sys.modules if m.split(".")[0] in ("ui", "bench", "main")))
sys.exit(code)
"""
    out = _run([str(installed["python"]), "-c", code], cwd=work, env=installed["env"]).stdout
    assert "TITLES ['Restorer – cup.png']" in out
    assert "FOREIGN []" in out
