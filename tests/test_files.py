"""Real-world files: every Pillow mode, EXIF orientation, ICC (Display P3), 16-bit colour,
animations, decompression bombs and broken files (restorer.io)."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image, ImageCms

import colour_profiles as cp
from colour_profiles import display_p3_icc, p3_to_srgb
from restorer.io import ImageError, ImageWriter, from_pil, load_image, save_image

RNG = np.random.default_rng(0)
RGB8 = RNG.integers(0, 256, (12, 16, 3), dtype=np.uint8)
GRAY8 = RNG.integers(0, 256, (12, 16), dtype=np.uint8)


def _rgb(img) -> np.ndarray:
    return img.rgb[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("mode,fmt", [("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("P", "GIF"),
                                      ("RGB", "JPEG"), ("RGBA", "WEBP"), ("I;16", "PNG"), ("I;16", "TIFF"),
                                      ("I;16B", "TIFF"), ("I", "TIFF"), ("F", "TIFF"), ("CMYK", "JPEG"),
                                      ("CMYK", "TIFF"), ("YCbCr", "TIFF"), ("RGB", "BMP"), ("L", "JPEG")])
def test_every_file_mode_decodes_to_expected_values(tmp_path, mode, fmt):
    """Each mode, written by Pillow and read back: values equal Pillow's own conversion
    of the stored image, grayscale stays grayscale, 16-bit modes are marked 16-bit."""
    if mode in ("I;16", "I;16B"):
        vals = GRAY8.astype(np.uint16) * 257 + 3
        base = Image.frombytes("I;16B", (16, 12), vals.astype(">u2").tobytes()) if mode == "I;16B" else \
            Image.fromarray(vals)
    elif mode == "I":
        base = Image.fromarray(GRAY8.astype(np.int32) * 200)  # 32-bit integer samples up to 51000
    elif mode == "F":
        base = Image.fromarray(GRAY8.astype(np.float32) / 255.0)
    elif mode == "LA":
        base = Image.fromarray(np.dstack([GRAY8, np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (12, 1))]), "LA")
    elif mode in ("1", "L"):
        base = Image.fromarray(GRAY8).convert(mode)
    else:
        base = Image.fromarray(RGB8).convert("RGBA" if mode == "RGBA" else "RGB")
        if mode == "RGBA":
            arr = np.asarray(base).copy()
            arr[..., 3] = np.linspace(0, 255, 16, dtype=np.uint8)[None]
            base = Image.fromarray(arr, "RGBA")
        elif mode != "RGB":
            base = base.convert(mode)
    path = tmp_path / f"m.{fmt.lower()}"
    base.save(path, format=fmt, **({"lossless": True} if fmt == "WEBP" else {"quality": 100} if fmt == "JPEG" else {}))
    stored = Image.open(path)
    stored.load()
    img = load_image(path)
    assert img.rgb.shape == (1, 3, 12, 16) and img.rgb.dtype == torch.float32
    assert 0 <= img.rgb.min() and img.rgb.max() <= 1
    gray_modes = ("1", "L", "LA", "I;16", "I;16B", "I", "F")
    assert img.grayscale == (mode in gray_modes)
    assert img.bits == (16 if mode in ("I;16", "I;16B", "I", "F") else 8)
    got = _rgb(img)
    if img.grayscale:
        assert np.array_equal(got[..., 0], got[..., 2])  # no colour cast
    if mode in ("I;16", "I;16B"):
        expected = (GRAY8.astype(np.float64) * 257 + 3) / 65535
        assert np.abs(got[..., 0] - expected).max() < 1e-6
    elif mode == "I":
        assert np.abs(got[..., 0] - GRAY8.astype(np.float64) * 200 / 65535).max() < 1e-6
    elif mode == "F":
        assert np.abs(got[..., 0] - GRAY8 / 255).max() < 1e-6
    else:
        # Pillow's own conversion of the stored image is the reference.
        ref_mode = {"1": "L", "L": "L", "LA": "LA"}.get(mode, "RGBA" if stored.mode in ("RGBA", "P") else "RGB")
        ref = np.asarray(stored.convert(ref_mode)).astype(np.float32) / 255
        ref = ref[..., None] if ref.ndim == 2 else ref
        colour = ref[..., :1] if img.grayscale else ref[..., :3]
        assert np.abs(got[..., : colour.shape[-1]] - colour).max() < 1e-6
        if mode in ("LA", "RGBA"):
            assert img.alpha is not None
            assert np.abs(img.alpha[0, 0].numpy() - ref[..., -1]).max() < 1e-6
        else:
            assert img.alpha is None


def test_palette_with_transparency_and_memory_modes():
    pal = Image.fromarray(RGB8).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    img = from_pil(pal)
    ref = np.asarray(pal.convert("RGBA")).astype(np.float32) / 255
    assert img.alpha is not None and np.abs(img.alpha[0, 0].numpy() - ref[..., 3]).max() < 1e-6
    assert (img.alpha == 0).any() and (img.alpha == 1).any()
    # Premultiplied modes come back un-premultiplied; LAB goes through LittleCMS.
    rgba = Image.fromarray(np.dstack([RGB8, np.full((12, 16), 128, np.uint8)]), "RGBA")
    pre = from_pil(rgba.convert("RGBa"))
    assert pre.alpha is not None and np.abs(_rgb(pre) - RGB8 / 255).max() < 3 / 255
    la = from_pil(Image.fromarray(np.dstack([GRAY8, np.full((12, 16), 128, np.uint8)]), "LA").convert("La"))
    assert la.grayscale and la.alpha is not None
    lab = from_pil(Image.new("LAB", (4, 4), (128, 128, 128)))  # L*=50, a*=b*=0: neutral mid grey
    v = _rgb(lab)
    assert np.abs(v - v[..., :1]).max() < 2 / 255 and 0.4 < v.mean() < 0.5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_all_exif_orientations(tmp_path, orientation):
    """Stored pixels + orientation tag -> upright pixels, independently computed with numpy
    (EXIF 2.3: 2 mirror, 3 rotate 180, 4 flip, 5 transpose, 6 rotate 90 CW, 7 transverse, 8 rotate 90 CCW)."""
    arr = RGB8.copy()
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "o.png", exif=exif.tobytes())
    upright = {1: arr, 2: arr[:, ::-1], 3: arr[::-1, ::-1], 4: arr[::-1], 5: arr.transpose(1, 0, 2),
               6: np.rot90(arr, -1), 7: arr[::-1, ::-1].transpose(1, 0, 2), 8: np.rot90(arr, 1)}[orientation]
    img = load_image(tmp_path / "o.png")
    assert np.array_equal((_rgb(img) * 255 + 0.5).astype(np.uint8), upright)
    out = save_image(tmp_path / "out.png", img.rgb, exif=img.exif)
    assert Image.open(out).getexif().get(0x0112) == 1
    # 16-bit colour files take another decoder (pypng): same orientation handling.
    a16 = arr.astype(np.uint16) * 257
    buf = io.BytesIO()
    png.Writer(16, 12, greyscale=False, bitdepth=16).write(buf, a16.reshape(12, -1))
    exif_chunk = exif.tobytes()[6:] if exif.tobytes().startswith(b"Exif") else exif.tobytes()
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    with open(tmp_path / "o16.png", "wb") as fh:
        png.write_chunks(fh, [chunks[0], (b"eXIf", exif_chunk), *chunks[1:]])
    img16 = load_image(tmp_path / "o16.png")
    assert img16.bits == 16 and np.array_equal(np.round(_rgb(img16) * 65535).astype(np.uint16), upright.astype(np.uint16) * 257)


def test_display_p3_jpeg_converted_to_srgb_and_written_back_in_p3(tmp_path):
    """Case 3's kind: the P3 values are converted to sRGB for processing (checked against the
    matrix maths of colour_profiles.py), and outputs carry the P3 profile with P3 values."""
    icc = display_p3_icc()
    # In-gamut colours (inside sRGB too; out-of-gamut P3 colours are clipped by the sRGB working space).
    patches = np.array([[180, 90, 80], [90, 160, 100], [80, 100, 170], [128, 128, 128], [210, 190, 120], [30, 30, 30]],
                       np.uint8)
    linear = (np.linalg.inv(cp.rgb_to_xyz(cp.SRGB_PRIMARIES)) @ cp.rgb_to_xyz(cp.P3_PRIMARIES)
              @ cp.srgb_decode(patches / 255).T)
    assert linear.min() > 0 and linear.max() < 1
    arr = np.repeat(np.repeat(patches[None], 16, 0), 16, 1)  # 16 x 96, six flat patches
    Image.fromarray(arr).save(tmp_path / "p3.jpg", icc_profile=icc, quality=100, subsampling=0)
    stored = np.asarray(Image.open(tmp_path / "p3.jpg")).astype(np.float64) / 255
    img = load_image(tmp_path / "p3.jpg")
    assert img.icc_profile == icc and not img.pixels_in_profile
    assert np.abs(_rgb(img) - p3_to_srgb(stored)).max() < 1.5 / 255
    assert np.abs(_rgb(img) - stored).max() > 10 / 255  # it really was converted
    for ext in (".png", ".jpg", ".tif", ".webp"):
        out = save_image(tmp_path / f"out{ext}", img.rgb, icc_profile=img.icc_profile, pixels_in_profile=False)
        back = Image.open(out)
        assert back.info.get("icc_profile") == icc
        diff = np.abs(np.asarray(back).astype(int) - (stored * 255).round().astype(int))
        if ext in (".jpg", ".webp"):  # lossy: compare patch interiors, away from the edges' ringing
            diff = diff[4:12].reshape(8, 6, 16, 3)[:, :, 4:12]
        assert diff.max() <= 2, ext


def test_cmyk_profile_written_as_tagged_srgb(tmp_path):
    """A CMYK colour space cannot hold the RGB output: written as sRGB with an sRGB profile."""
    from restorer.io import srgb_profile

    cmyk_jpeg = tmp_path / "c.jpg"
    Image.fromarray(RGB8).convert("CMYK").save(cmyk_jpeg, quality=100)
    img = load_image(cmyk_jpeg)
    ref = np.asarray(Image.open(cmyk_jpeg).convert("RGB")).astype(np.float32) / 255
    assert np.abs(_rgb(img) - ref).max() < 1e-6
    w = ImageWriter(tmp_path / "o.png", 16, 12, icc_profile=b"not a profile")
    w.write(0, 0, img.rgb)
    assert "icc_profile" not in Image.open(w.commit()).info  # unreadable profile: untagged sRGB
    assert srgb_profile()[36:40] == b"acsp"


def _png16(path, arr: np.ndarray) -> None:
    h, w, c = arr.shape
    with open(path, "wb") as fh:
        png.Writer(w, h, greyscale=c in (1, 2), alpha=c in (2, 4), bitdepth=16).write(fh, arr.reshape(h, -1))


def _read_png16(path) -> np.ndarray:
    w, h, rows, info = png.Reader(filename=str(path)).asDirect()
    assert info["bitdepth"] == 16
    return np.vstack([np.asarray(r, np.uint16) for r in rows]).reshape(h, w, -1)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_roundtrip_exact_for_every_layout(tmp_path, channels, ext):
    """Case 4's kind: 16-bit gray/gray+alpha/RGB/RGBA PNG and TIFF in -> 16 bits decoded
    exactly -> 16-bit file out with the same samples (max value 200: still 16-bit)."""
    arr = RNG.integers(0, 201, (9, 11, channels)).astype(np.uint16)
    arr[0, 0, -1] = 0  # alpha not fully opaque
    src = tmp_path / f"in{ext}"
    if ext == ".png":
        _png16(src, arr)
    else:
        tifffile.imwrite(src, arr[..., 0] if channels == 1 else arr,
                         photometric="minisblack" if channels <= 2 else "rgb",
                         extrasamples=("unassalpha",) if channels in (2, 4) else None)
    img = load_image(src)
    assert img.bits == 16 and img.grayscale == (channels <= 2) and (img.alpha is not None) == (channels in (2, 4))
    assert np.array_equal(np.round(_rgb(img)[..., 0] * 65535), arr[..., 0])
    out = save_image(tmp_path / f"out{ext}", img.rgb, img.alpha, bits=16, grayscale=img.grayscale)
    back = _read_png16(out) if ext == ".png" else tifffile.imread(out)
    back = back.reshape(9, 11, -1)
    assert back.dtype == np.uint16 and np.array_equal(back, arr)


def test_animated_files_give_first_frame_with_warning(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]
    for name, kw in (("a.gif", {}), ("a.webp", {"lossless": True}), ("a.png", {})):
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=100, **kw)
        with pytest.warns(UserWarning, match="animated.*3 frames.*first frame"):
            img = load_image(tmp_path / name)
        assert img.rgb[0, 0].mean() > 0.95 and img.rgb[0, 2].mean() < 0.05, name


def _patched_png_size(tmp_path, w: int, h: int):
    """A tiny valid PNG whose IHDR claims w x h (CRC fixed): a decompression bomb header."""
    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(data))
    return path


def test_bombs_truncated_corrupt_and_empty_files_name_the_file(tmp_path):
    bomb = _patched_png_size(tmp_path, 30000, 30000)
    with pytest.raises(ImageError, match=r"bomb\.png: larger than .* pixels"):
        load_image(bomb)
    good = io.BytesIO()
    Image.fromarray(RGB8).resize((200, 150)).save(good, "PNG")
    (tmp_path / "trunc.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (tmp_path / "corrupt.png").write_bytes(good.getvalue()[:60] + bytes(RNG.integers(0, 256, 500, dtype=np.uint8)))
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not really")
    for name in ("trunc.png", "corrupt.png", "zero.png", "text.jpg"):
        with pytest.raises(ImageError) as exc:
            load_image(tmp_path / name)
        msg = str(exc.value)
        assert msg.startswith(str(tmp_path / name)) and "\n" not in msg
    with pytest.raises(ImageError, match="0 bytes"):
        load_image(tmp_path / "zero.png")


def test_writer_limits_and_streamed_tiles_equal_whole_save(tmp_path):
    rgb = torch.rand(1, 3, 20, 30)
    alpha = torch.rand(1, 1, 20, 30)
    whole = save_image(tmp_path / "whole.png", rgb, alpha)
    w = ImageWriter(tmp_path / "tiles.png", 30, 20, alpha=True)
    for y0 in range(0, 20, 7):
        for x0 in range(0, 30, 8):
            w.write(x0, y0, rgb[..., y0:y0 + 7, x0:x0 + 8], alpha[..., y0:y0 + 7, x0:x0 + 8])
    assert np.array_equal(np.asarray(Image.open(w.commit())), np.asarray(Image.open(whole)))
    with pytest.raises(ImageError, match="larger than JPEG allows"):
        ImageWriter(tmp_path / "big.jpg", 70000, 10)
    assert not (tmp_path / "big.jpg").exists()
    assert ImageWriter.buffer_bytes("x.png", 48000, 32000) == 48000 * 32000 * 4
    assert ImageWriter.buffer_bytes("x.png", 100, 10, grayscale=True) == 1000
    assert ImageWriter.buffer_bytes("x.tif", 100, 10, bits=16) == 6000


def test_16bit_colour_with_wide_gamut_profile_kept_in_its_own_space(tmp_path):
    """LittleCMS in Pillow has no 16-bit RGB transform: 16-bit P3 pixels are processed as stored
    and written back, exactly, with the same profile (iCCP chunk / TIFF ICC tag)."""
    icc = display_p3_icc()
    arr = RNG.integers(0, 65536, (6, 7, 3)).astype(np.uint16)
    buf = io.BytesIO()
    png.Writer(7, 6, greyscale=False, bitdepth=16).write(buf, arr.reshape(6, -1))
    chunks = list(png.Reader(bytes=buf.getvalue()).chunks())
    with open(tmp_path / "p3_16.png", "wb") as fh:
        png.write_chunks(fh, [chunks[0], (b"iCCP", b"P3\x00\x00" + zlib.compress(icc)), *chunks[1:]])
    img = load_image(tmp_path / "p3_16.png")
    assert img.bits == 16 and img.pixels_in_profile and img.icc_profile == icc
    assert np.array_equal(np.round(_rgb(img) * 65535).astype(np.uint16), arr)
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"
    for ext in (".png", ".tif"):
        out = save_image(tmp_path / f"o{ext}", img.rgb, bits=16, icc_profile=img.icc_profile, pixels_in_profile=True,
                         exif=exif.tobytes())
        assert Image.open(out).info.get("icc_profile") == icc
        if ext == ".png":  # eXIf chunk (16-bit TIFF output carries no EXIF)
            assert Image.open(out).getexif().get(0x010F) == "CameraMaker"
        back = load_image(out)
        assert np.array_equal(np.round(_rgb(back) * 65535).astype(np.uint16), arr)
