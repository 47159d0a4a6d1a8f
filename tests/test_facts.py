"""restorer.facts: the shared facts, importable without torch, and the helpers every layer uses."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from restorer import facts

ROOT = Path(__file__).resolve().parents[1]


def test_facts_cli_and_window_modules_import_without_torch():
    code = ("import sys\n"
            "import restorer.facts, restorer.cli, ui.main_window\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr


def test_output_name_is_the_readme_form():
    assert facts.output_name(Path("photos") / "photo.jpg", 4) == "photo_x4.jpg"
    assert facts.output_name("photo.PNG", 4.0) == "photo_x4.png"
    assert facts.output_name("a.b.tif", 1.5) == "a.b_x1.5.tif"
    assert facts.output_name("anim.gif", 2) == "anim_x2.png"  # GIF cannot be written: PNG


def test_extension_lists_agree():
    assert facts.IMAGE_EXTENSIONS < facts.OPEN_EXTENSIONS
    assert {".gif", ".apng"} == facts.OPEN_EXTENSIONS - facts.IMAGE_EXTENSIONS
    assert set(facts.SAVE_FORMATS) <= facts.IMAGE_EXTENSIONS
    import restorer.io
    import restorer.metrics

    assert restorer.io.IMAGE_EXTENSIONS is facts.IMAGE_EXTENSIONS and restorer.io.SAVE_FORMATS is facts.SAVE_FORMATS
    assert restorer.metrics.MIN_SIDE == facts.MIN_SIDE == 31
    assert restorer.metrics.HIGHER_IS_BETTER == {"lpips_alex": False, "lpips_vgg": False, "dists": False,
                                                 "psnr": True, "ssim": True, "psnr_y": True}


@pytest.mark.parametrize("value, decimals, shown, plain", [
    (0.123456, 4, "0.1235", "0.1235"),
    (31.0, 2, "31.00", "31.00"),
    (float("inf"), 2, "∞", "inf"),
    (float("-inf"), 2, "-∞", "-inf"),
    (float("nan"), 4, "n/a", "n/a"),
    (None, 4, "n/a", "n/a"),
])
def test_format_value(value, decimals, shown, plain):
    assert facts.format_value(value, decimals) == shown
    assert facts.format_value(value, decimals, ascii=True) == plain


def test_first_line():
    assert facts.first_line(ValueError("\n  one\ntwo\n")) == "one"
    assert facts.first_line(KeyError()) == "KeyError"
    assert facts.first_line(UserWarning("a warning\nmore")) == "a warning"
    assert facts.first_line("") == ""


def test_metric_and_pair_wording():
    psnr, lpips = facts.METRICS["psnr"], facts.METRICS["lpips_alex"]
    assert (psnr.label, psnr.direction, psnr.arrow) == ("PSNR (dB)", "higher is better", "↑")
    assert (lpips.label, lpips.direction, lpips.arrow) == ("LPIPS-Alex", "lower is better", "↓")
    assert [p.title for p in facts.PAIRS.values()] == ["Restored vs bicubic", "Restored vs reference",
                                                       "Bicubic vs reference", "Restored↓ vs input"]
    assert facts.PAIRS[facts.AFTER_REF].against == "vs reference"
