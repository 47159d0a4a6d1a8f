"""The CLI contract of DESIGN.md section 6: restore, compare, exit codes, never touching inputs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import reference_lpips
from restorer.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def photo(tmp_path, photo_like):
    arr = (photo_like[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(arr).save(path)
    return path


def test_restore_writes_4x_and_protects_files(tmp_path, photo, random_model_file, capsys):
    out = tmp_path / "out.png"
    before = photo.read_bytes()
    assert main(["restore", str(photo), "-o", str(out), "--scale", "4", "--model", str(random_model_file),
                 "--tile", "48"]) == 0
    assert Image.open(out).size == (512, 384)
    assert photo.read_bytes() == before
    stamp = out.stat().st_mtime_ns
    assert main(["restore", str(photo), "-o", str(out), "--model", str(random_model_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "already exists" in err and "\n" not in err
    assert out.stat().st_mtime_ns == stamp
    assert main(["restore", str(photo), "-o", str(photo), "--model", str(random_model_file), "--overwrite"]) == 1
    assert "input" in capsys.readouterr().err
    assert photo.read_bytes() == before
    assert main(["restore", str(photo), "-o", str(out), "--model", str(random_model_file), "--overwrite",
                 "--scale", "2"]) == 0
    assert Image.open(out).size == (256, 192)


def test_restore_folder_skips_unreadable(tmp_path, photo, random_model_file, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"")
    out_dir = tmp_path / "outs"
    code = main(["restore", str(photo), str(broken), "-o", str(out_dir), "--model", str(random_model_file)])
    assert code == 1  # one input failed: reported, the other still written
    assert (out_dir / "photo_x4.png").is_file() and not (out_dir / "broken_x4.png").exists()
    assert "broken.png" in capsys.readouterr().err


def test_compare_json_matches_reference_lpips(tmp_path, photo, capsys):
    img = Image.open(photo)
    noisy = np.clip(np.asarray(img).astype(np.int16) + np.random.default_rng(0).integers(-20, 21, (96, 128, 3)),
                    0, 255).astype(np.uint8)
    other = tmp_path / "noisy.png"
    Image.fromarray(noisy).save(other)
    assert main(["compare", str(other), str(photo), "--json", "--device", "cpu"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"psnr", "ssim", "lpips_alex", "lpips_vgg", "dists"} and 0 < res["dists"] < 1
    assert 20 < res["psnr"] < 30 and 0 < res["ssim"] < 1

    ref = reference_lpips("alex")
    to_t = lambda a: torch.from_numpy(np.asarray(a, np.float32) / 255).permute(2, 0, 1)[None] * 2 - 1  # noqa: E731
    with torch.no_grad():
        expected = ref(to_t(noisy), to_t(np.asarray(img))).item()
    assert abs(res["lpips_alex"] - expected) < 1e-5


def test_compare_identical_and_mismatched(tmp_path, photo, capsys):
    assert main(["compare", str(photo), str(photo), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["psnr"] is None and res["ssim"] == pytest.approx(1.0, abs=1e-6) and res["lpips_alex"] == 0
    small = tmp_path / "small.png"
    Image.open(photo).resize((64, 48)).save(small)
    assert main(["compare", str(small), str(photo)]) == 1
    err = capsys.readouterr().err
    assert "64x48" in err and "128x96" in err and err.count("\n") == 1


@pytest.mark.slow  # five subprocesses, each importing the engine
def test_exit_codes_through_main_py(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, str(ROOT / "main.py"), *a], capture_output=True, text=True)  # noqa: E731
    usage = run("restore")
    assert usage.returncode == 2 and "usage" in usage.stderr
    missing = run("compare", str(tmp_path / "nope.png"), str(tmp_path / "nope2.png"))
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("error:") and "nope.png" in missing.stderr
    assert "Traceback" not in missing.stderr
    typo = run("compre", "a.png", "b.png")  # neither a command nor a file: no window, a usage error
    assert typo.returncode == 2 and "'compre'" in typo.stderr
    zero = run("restore", "a.png", "-o", "b.png", "--scale", "0")
    assert zero.returncode == 2 and "must be positive" in zero.stderr


def test_debug_flag_position_and_name_clash(tmp_path, photo, random_model_file, capsys):
    from restorer.cli import build_parser

    assert build_parser().parse_args(["--debug", "compare", "a", "b"]).debug is True
    assert build_parser().parse_args(["compare", "a", "b", "--debug"]).debug is True
    assert build_parser().parse_args(["compare", "a", "b"]).debug is False
    twin = tmp_path / "sub" / "photo.png"
    twin.parent.mkdir()
    twin.write_bytes(photo.read_bytes())
    out_dir = tmp_path / "outs"
    assert main(["restore", str(photo), str(twin), "-o", str(out_dir), "--model", str(random_model_file)]) == 1
    assert "photo_x4.png" in capsys.readouterr().err
    assert not (out_dir / "photo_x4.png").exists()


def _viridis_inverse(rgb: np.ndarray) -> np.ndarray:
    """Scale position in [0, 1] of each pixel's colour: nearest of 1024 viridis samples."""
    from restorer.metrics.heatmap import colorize

    lut = colorize(torch.linspace(0, 1, 1024).view(1, -1), 1.0)[0].permute(1, 2, 0).reshape(-1, 3).numpy()
    flat = rgb.reshape(-1, 3).astype(np.float32) / 255.0
    idx = np.argmin(((flat[:, None, :] - lut[None, :, :]) ** 2).sum(-1), axis=1)
    return (idx / 1023.0).reshape(rgb.shape[:2])


def test_compare_table_map_luma_and_consistency(tmp_path, photo, capsys):
    img = Image.open(photo)
    w, h = img.size
    lr = tmp_path / "lr.png"
    img.resize((w // 2, h // 2), Image.BICUBIC).save(lr)
    sr = tmp_path / "sr.png"
    Image.open(lr).resize((w, h), Image.BICUBIC).save(sr)
    heat = tmp_path / "map.png"
    assert main(["compare", str(sr), str(photo), "--lr", str(lr), "--map", str(heat), "--luma", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"psnr", "ssim", "lpips_alex", "lpips_vgg", "dists", "psnr_y",
                        "lr_psnr", "lr_ssim", "lr_lpips_alex"}
    assert res["lr_psnr"] > res["psnr"] and res["lr_lpips_alex"] < res["lpips_alex"]
    # The map image: heat map at the top left, legend on the right; its colours track the
    # reference package's spatial LPIPS map.
    pic = np.asarray(Image.open(heat).convert("RGB"))
    assert pic.shape[0] == max(h, 220) and pic.shape[1] > w + 100
    to_t = lambda a: torch.from_numpy(np.asarray(a, np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    ref = reference_lpips("alex")
    ref.spatial = True
    with torch.no_grad():
        expected = ref(to_t(Image.open(sr)), to_t(img), normalize=True)[0, 0].numpy()
    ref.spatial = False
    got = _viridis_inverse(pic[:h, :w])
    assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99
    # Refuses to replace the map without --overwrite; the table is readable text.
    assert main(["compare", str(sr), str(photo), "--map", str(heat)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["compare", str(sr), str(photo), "--luma"]) == 0
    table = capsys.readouterr().out
    for label in ("PSNR", "PSNR (luma Y)", "SSIM", "LPIPS-Alex", "LPIPS-VGG", "DISTS", "lower is better"):
        assert label in table
    assert main(["compare", str(sr)]) == 2  # neither a reference nor --lr
    assert main(["compare", str(sr), "--lr", str(lr), "--map", str(tmp_path / "m2.png")]) == 2


def test_compare_grayscale_and_rgba_files(tmp_path, photo, capsys):
    img = Image.open(photo)
    gray = tmp_path / "gray.png"
    img.convert("L").save(gray)
    rgba = tmp_path / "rgba.png"
    im4 = img.convert("RGBA")
    im4.putalpha(Image.new("L", img.size, 77))
    im4.save(rgba)
    assert main(["compare", str(rgba), str(photo), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["psnr"] is None and res["lpips_alex"] == 0  # alpha ignored: same colours
    assert main(["compare", str(gray), str(photo), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    luma = np.asarray(img.convert("L"), np.float64) / 255
    mse = ((np.asarray(img, np.float64) / 255 - luma[..., None]) ** 2).mean()
    assert res["psnr"] == pytest.approx(10 * np.log10(1 / mse), abs=1e-3)  # grayscale = three equal channels


def test_folder_restored_into_itself_twice_does_not_restore_its_outputs(tmp_path, random_model_file, capsys):
    """``restore FOLDER -o FOLDER`` run twice: the second run skips a_x4.png as this
    batch's own output (it used to restore it again into a_x4_x4.png)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)).save(folder / "a.png")
    args = ["restore", str(folder), "-o", str(folder), "--model", str(random_model_file)]
    assert main(args) == 0
    first = (folder / "a_x4.png").read_bytes()
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_x4.png"]
    assert (folder / "a_x4.png").read_bytes() == first
    assert "a_x4.png: the output of a.png" in err
