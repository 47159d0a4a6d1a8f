"""The shipped weights/restorer_x4.safetensors: loads, tiles seamlessly, beats bicubic on a real photo."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from restorer.inference import restore
from restorer.io import from_pil
from restorer.metrics import get_lpips, psnr
from restorer.models import load_model


@pytest.fixture(scope="module")
def bundled():
    return load_model()  # the default: bundled restorer-x4


def test_bundled_descriptor(bundled):
    assert bundled.architecture.id == "RestorerCompact"
    assert bundled.scale == 4 and bundled.purpose == "SR"
    assert bundled.model.num_feat == 48 and bundled.model.num_conv == 16


def test_bundled_tiled_equals_untiled(bundled):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 200, 300)
    whole = restore(bundled, x, tile=0, device="cpu").rgb
    tiled = restore(bundled, x, tile=64, device="cpu").rgb
    assert (whole - tiled).abs().max().item() <= 1e-4


def test_bundled_beats_bicubic_on_a_real_photo(bundled):
    import skimage  # test extra; its wheel carries the photo
    hr_im = Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png").convert("RGB")
    lr_im = hr_im.resize((128, 128), Image.BICUBIC)
    hr = from_pil(hr_im).rgb
    bic = from_pil(lr_im.resize((512, 512), Image.BICUBIC)).rgb
    sr = restore(bundled, from_pil(lr_im).rgb, device="cpu").rgb
    lp = get_lpips("alex")
    with torch.no_grad():
        l_sr, l_bic = lp(sr, hr).item(), lp(bic, hr).item()
    # bench/results/quality_x4_bicubic_v1_whole_photos.md: 0.166 vs 0.305 on this photo
    assert l_sr < 0.75 * l_bic
    assert psnr(sr, hr).item() > psnr(bic, hr).item()


def test_bundled_x2_loads_by_name_and_beats_bicubic():
    import skimage  # test extra; its wheel carries the photo

    x2 = load_model("restorer-x2")
    assert x2.architecture.id == "RestorerCompact" and x2.scale == 2
    assert x2.model.num_feat == 48 and x2.model.num_conv == 16
    hr_im = Image.open(Path(skimage.__file__).parent / "data" / "astronaut.png").convert("RGB").crop((128, 0, 384, 256))
    lr_im = hr_im.resize((128, 128), Image.BICUBIC)
    hr = from_pil(hr_im).rgb
    bic = from_pil(lr_im.resize((256, 256), Image.BICUBIC)).rgb
    sr = restore(x2, from_pil(lr_im).rgb, device="cpu").rgb
    assert sr.shape == hr.shape
    lp = get_lpips("alex")
    with torch.no_grad():
        assert lp(sr, hr).item() < 0.8 * lp(bic, hr).item()


@pytest.mark.parametrize("name", ["restorer-x4", "restorer-x2"])
@pytest.mark.parametrize("level", [1.0, 0.5, 0.0])
def test_flat_image_stays_flat_up_to_the_edges(name, level):
    # issue 11: zero padding inside the generator used to put grey specks in the corners
    # (0.027 = 7/255 off at the border of a white image, 0.001 in its centre)
    model = load_model(name)
    flat = torch.full((1, 3, 48, 72), level)
    s = model.scale
    for tile in (0, 32):
        out = restore(model, flat, device="cpu", tile=tile).rgb
        dev = (out - level).abs()
        assert dev.max() < 1.5 / 255, (tile, float(dev.max()))
        border = torch.cat([dev[..., :8, :].flatten(), dev[..., -8:, :].flatten(),
                            dev[..., :, :8].flatten(), dev[..., :, -8:].flatten()])
        assert border.max() <= dev[..., 16 * s:32 * s, 24 * s:48 * s].max() + 1e-4, tile


def test_padded_piece_reflects_beyond_every_edge():
    from restorer.tiling import padded_piece

    x = torch.arange(30.0).view(1, 1, 5, 6)
    p = padded_piece(x, (0, 0, 6, 5), 2)
    assert p.shape == (1, 1, 9, 10)
    assert torch.equal(p[..., 2:7, 2:8], x)
    assert p[0, 0, 2, :2].tolist() == [2.0, 1.0]  # left of row 0: x[0, 2], x[0, 1]
    assert torch.equal(p[0, 0, 0, 2:8], x[0, 0, 2])  # top: row 2 reflected
    inner = padded_piece(x, (2, 1, 4, 3), 1)  # inside the image: plain context
    assert torch.equal(inner, x[..., 0:4, 1:5])
    tiny = padded_piece(torch.ones(1, 1, 2, 2), (0, 0, 2, 2), 3)  # too small to reflect
    assert tiny.shape == (1, 1, 8, 8) and torch.equal(tiny, torch.ones(1, 1, 8, 8))
