"""restorer.io: decoding modes, EXIF orientation, alpha, 16-bit, ICC, atomic and safe writes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from restorer.io import ImageError, load_image, save_image


def test_rgb_png_roundtrip_exact(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.rgb.shape == (1, 3, 20, 30) and img.rgb.dtype == torch.float32
    assert img.alpha is None and img.bits == 8 and not img.grayscale
    out = save_image(tmp_path / "b.png", img.rgb)
    assert np.array_equal(np.asarray(Image.open(out)), arr)


def test_exif_orientation_applied_and_reset(tmp_path):
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[0, 0] = 255  # marker in the stored top-left corner
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    im.save(tmp_path / "phone.jpg", exif=exif.tobytes(), quality=100)
    img = load_image(tmp_path / "phone.jpg")
    assert img.size == (10, 20)  # width/height swapped: upright
    # Orientation 6: stored top-left ends up at the displayed top-right.
    assert img.rgb[0, 0, 0, -1] > 0.8 and img.rgb[0, 0, 0, 0] < 0.2
    out = save_image(tmp_path / "out.jpg", img.rgb, exif=img.exif)
    assert Image.open(out).getexif().get(0x0112) == 1


def test_alpha_kept_aside_and_restored(tmp_path):
    arr = np.zeros((16, 16, 4), dtype=np.uint8)
    arr[..., 0] = 200
    arr[..., 3] = np.linspace(0, 255, 16, dtype=np.uint8)[None, :]
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    img = load_image(tmp_path / "a.png")
    assert img.rgb.shape == (1, 3, 16, 16) and img.alpha is not None and img.alpha.shape == (1, 1, 16, 16)
    out = save_image(tmp_path / "b.png", img.rgb, img.alpha)
    back = np.asarray(Image.open(out))
    assert back.shape == (16, 16, 4) and np.array_equal(back, arr)


def test_jpeg_output_composites_alpha_with_warning(tmp_path):
    rgb = torch.zeros(1, 3, 4, 4)
    alpha = torch.zeros(1, 1, 4, 4)  # fully transparent black -> white background
    with pytest.warns(UserWarning, match="JPEG has no alpha"):
        out = save_image(tmp_path / "a.jpg", rgb, alpha)
    assert np.asarray(Image.open(out)).min() > 250


def test_grayscale_and_16bit(tmp_path):
    Image.fromarray(np.full((8, 8), 77, np.uint8), "L").save(tmp_path / "g.png")
    g = load_image(tmp_path / "g.png")
    assert g.grayscale and g.bits == 8 and torch.equal(g.rgb[:, 0], g.rgb[:, 2])
    assert Image.open(save_image(tmp_path / "g2.png", g.rgb, grayscale=True)).mode == "L"
    ramp = np.linspace(0, 200, 64 * 4).reshape(4, 64).astype(np.uint16)  # max 200: still 16-bit
    Image.fromarray(ramp).save(tmp_path / "r16.png")
    r = load_image(tmp_path / "r16.png")
    assert r.bits == 16 and r.grayscale
    out = Image.open(save_image(tmp_path / "r16o.png", r.rgb, bits=16, grayscale=True))
    assert out.mode.startswith("I;16") or out.mode == "I"
    assert np.array_equal(np.asarray(out).astype(np.int64), ramp.astype(np.int64))


def test_icc_profile_carried(tmp_path):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.new("RGB", (4, 4), (10, 20, 30)).save(tmp_path / "a.png", icc_profile=icc)
    img = load_image(tmp_path / "a.png")
    assert img.icc_profile == icc
    out = save_image(tmp_path / "b.png", img.rgb, icc_profile=img.icc_profile)
    assert Image.open(out).info.get("icc_profile") == icc


def test_refuses_to_overwrite_input_and_existing(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "in.png")
    before = (tmp_path / "in.png").read_bytes()
    rgb = torch.ones(1, 3, 4, 4)
    with pytest.raises(ImageError, match="input"):
        save_image(tmp_path / "in.png", rgb, overwrite=True, protect=(tmp_path / "in.png",))
    with pytest.raises(ImageError, match="already exists"):
        save_image(tmp_path / "in.png", rgb)
    assert (tmp_path / "in.png").read_bytes() == before
    save_image(tmp_path / "in.png", rgb, overwrite=True)  # explicit overwrite of a non-input works
    assert np.asarray(Image.open(tmp_path / "in.png")).min() == 255


def test_bad_files_give_one_line_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("hello")
    Image.new("RGB", (64, 64)).save(tmp_path / "t.jpg")
    (tmp_path / "trunc.jpg").write_bytes((tmp_path / "t.jpg").read_bytes()[:200])
    for name in ("empty.png", "notes.txt", "trunc.jpg", "missing.png"):
        with pytest.raises(ImageError) as exc:
            load_image(tmp_path / name)
        assert name in str(exc.value) and "\n" not in str(exc.value)


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(ImageError, match="unsupported output format"):
        save_image(tmp_path / "a.xyz", torch.zeros(1, 3, 2, 2))
    assert list(tmp_path.iterdir()) == []


def test_output_permissions_follow_umask(tmp_path):
    import os

    from restorer import io as rio

    out = save_image(tmp_path / "p.png", torch.zeros(1, 3, 2, 2))
    assert (out.stat().st_mode & 0o777) == (0o666 & ~rio._UMASK)
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".restorer-")]


def test_16bit_colour_png_read_closes_its_file(tmp_path):
    """Reading a 16-bit colour PNG (through pypng) leaves no open file behind: the CLI
    printed 'warning: unclosed file ...' for every such input."""
    import gc
    import warnings

    import png

    arr = ((np.arange(4 * 5 * 3).reshape(4, 5, 3) * 997) % 65536).astype(np.uint16)
    path = tmp_path / "c16.png"
    with open(path, "wb") as fh:
        png.Writer(5, 4, greyscale=False, bitdepth=16).write(fh, arr.reshape(4, -1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = load_image(path)
        gc.collect()
    assert img.bits == 16
    assert np.array_equal(np.round(img.rgb[0].permute(1, 2, 0).numpy() * 65535).astype(np.uint16), arr)
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)], [str(w.message) for w in caught]


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_png_colour_key_transparency_becomes_alpha(tmp_path, mode):
    """An RGB or L PNG with a tRNS colour key (transparent where the pixel equals
    the key) loads with that alpha, and saves back with it (RGBA / LA); it used
    to come in opaque, the transparent background turned black."""
    rng = np.random.default_rng(3)
    shape = (12, 10, 3) if mode == "RGB" else (12, 10)
    arr = rng.integers(1, 256, size=shape, dtype=np.uint8)
    arr[:4] = 0  # the key colour: top four rows transparent
    key = (0, 0, 0) if mode == "RGB" else 0
    path = tmp_path / f"key_{mode}.png"
    Image.fromarray(arr, mode).save(path, transparency=key)
    img = load_image(path)
    expected = np.ones((12, 10), np.float32)
    expected[:4] = 0
    assert img.alpha is not None and np.array_equal(img.alpha[0, 0].numpy(), expected)
    assert img.grayscale == (mode == "L")
    rgb = np.round(img.rgb[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(rgb if mode == "RGB" else rgb[..., 0], arr)
    out = save_image(tmp_path / "out.png", img.rgb, img.alpha, grayscale=img.grayscale)
    with Image.open(out) as im:
        assert im.mode == ("RGBA" if mode == "RGB" else "LA")
        assert np.array_equal(np.asarray(im)[..., -1], (expected * 255).astype(np.uint8))


_UPRIGHT = {1: lambda a: a, 2: np.fliplr, 3: lambda a: np.rot90(a, 2), 4: np.flipud, 5: lambda a: a.T,
            6: lambda a: np.rot90(a, -1), 7: lambda a: a.T[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("kind", ["16bit.tif", "16bit.png", "8bit.tif", "rgb.tif"])
def test_exif_orientation_of_grayscale_png_and_tiff(tmp_path, kind, orientation):
    """All 8 EXIF orientations on 16-bit and 8-bit grayscale PNG/TIFF and RGB TIFF
    (TIFFs with orientation 5-8 used to come in scrambled: Pillow 13 swaps their
    width and height before decoding)."""
    stored = (np.arange(6 * 9).reshape(6, 9) * 1000).astype(np.uint16)
    if kind.startswith(("8bit", "rgb")):
        stored = (stored // 256).astype(np.uint8)
    if kind.startswith("rgb"):
        stored = np.stack([stored, 255 - stored, stored // 2], -1)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}_{kind}"
    Image.fromarray(stored).save(path, exif=exif.tobytes())
    img = load_image(path)
    top = 65535.0 if kind.startswith("16") else 255.0
    for c in range(3 if kind.startswith("rgb") else 1):
        got = np.round(img.rgb[0, c].numpy() * top).astype(np.int64)
        plane = stored[..., c] if stored.ndim == 3 else stored
        assert np.array_equal(got, _UPRIGHT[orientation](plane).astype(np.int64))
    assert img.bits == (16 if kind.startswith("16") else 8) and img.grayscale == (not kind.startswith("rgb"))
