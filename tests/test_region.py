"""Region metrics, per-pixel LPIPS map, consistency readout, tiled computation, input policy.

Independent references: the ``lpips`` package (``spatial=True``) for maps,
:func:`restorer.metrics.ssim_map` / :func:`psnr` on crops for SSIM/PSNR regions,
one-pass (untiled) LPIPS/DISTS/SSIM for the tiled versions.
"""
from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from conftest import reference_lpips
from restorer.metrics import (RegionMetrics, compare, consistency, get_dists, get_lpips, lpips_map, psnr, ssim,
                              ssim_map)
from restorer.facts import REGION_KEYS
from restorer.metrics.lpips import combine_stage_maps
from restorer.metrics.tiled import blocks, dists_tiled, lpips_stage_maps, lpips_tiled, ssim_tiled


def _textured_pair(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth structure plus fine noise (every receptive field sees texture), and a noisy copy."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    ref = torch.stack([0.5 + 0.4 * torch.sin(9 * xx + 3 * yy), 0.3 + 0.5 * xx * yy, 0.6 - 0.4 * yy])[None]
    ref = (ref + 0.15 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)
    img = (ref + 0.1 * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)
    return img, ref


@pytest.fixture(scope="module")
def pair():
    return _textured_pair(160, 224)


# ------------------------------------------------------------------ tiling


@pytest.mark.parametrize("net, tile, count", [("alex", 48, 20), ("vgg16", 112, 4)])
def test_tiled_lpips_equals_untiled(pair, net, tile, count):
    x, y = pair
    model = get_lpips(net)
    assert len(blocks(160, 224, tile)) == count  # several blocks, each with its context margin
    with torch.inference_mode():
        whole = model.distance_maps(model.stage_features(x), model.stage_features(y))
        tiled = lpips_stage_maps(model, x, y, tile=tile)
        for a, b in zip(whole, tiled):
            assert a.shape == b.shape and (a - b).abs().max().item() < 1e-5
        assert abs(model(x, y).item() - combine_stage_maps(tiled).item()) < 1e-5
        if net == "alex":
            diff = (model(x, y, spatial=True) - lpips_tiled(model, x, y, tile=tile, spatial=True)).abs().max()
            assert diff.item() < 1e-5


def test_tiled_dists_and_ssim_equal_untiled(pair):
    x, y = pair
    model = get_dists()
    with torch.inference_mode():
        one = model(x, y).item()
        tiled = dists_tiled(model, x, y, tile=112).item()
    assert abs(one - tiled) < 1e-5 and 0.05 < one < 0.6
    assert abs(ssim(x, y).item() - ssim_tiled(x, y, band=7).item()) < 1e-6


# -------------------------------------------------------------- LPIPS map


@pytest.mark.slow  # a 1021x767 pair through both LPIPS implementations
def test_lpips_map_equals_reference_spatial_on_odd_size():
    x, y = _textured_pair(767, 1021, seed=2)  # 1021x767
    ref = reference_lpips("alex")
    with torch.no_grad():
        ref.spatial = True
        expected = ref(x, y, normalize=True)
        ref.spatial = False
        expected_scalar = ref(x, y, normalize=True).item()
    ours = lpips_map(x, y)
    assert ours.shape == (1, 1, 767, 1021) and ours.dtype == torch.float32
    assert (ours - expected).abs().max().item() < 1e-5
    # Tiled on purpose (small blocks): same map.
    assert (lpips_map(x, y, tile=512) - expected).abs().max().item() < 1e-5
    # The map's mean is close to, not equal to, the scalar (bilinear weights at the borders).
    assert abs(ours.mean().item() - expected_scalar) < 1e-3 * expected_scalar


# ------------------------------------------------------------ RegionMetrics


def test_region_metrics_whole_and_partition(pair):
    x, y = pair
    rm = RegionMetrics(x, y)
    whole = rm.whole()
    full = compare(x, y)
    for key in ("psnr", "ssim", "lpips_alex"):
        assert whole[key] == pytest.approx(full[key], abs=1e-6), key
    assert rm.cached_fraction == 1.0
    everything = rm.region((0, 0, 224, 160))
    assert set(everything) == set(REGION_KEYS)
    for key in REGION_KEYS:
        assert everything[key] == pytest.approx(full[key], abs=1e-6), key
    # Over any partition, the area-weighted mean of region LPIPS is the whole-image LPIPS.
    boxes = [(0, 0, 101, 63), (101, 0, 224, 63), (0, 63, 37, 160), (37, 63, 224, 160)]
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    parts = [rm.region(b) for b in boxes]
    mean = sum(p["lpips_alex"] * area(b) for p, b in zip(parts, boxes)) / (160 * 224)
    assert mean == pytest.approx(full["lpips_alex"], abs=1e-6)
    # Regions differ from each other and from the whole: a real local measure.
    assert max(p["lpips_alex"] for p in parts) - min(p["lpips_alex"] for p in parts) > 1e-3
    full_map = rm.lpips_map()
    assert full_map.shape == (160, 224)
    assert (full_map - lpips_map(x, y)[0, 0]).abs().max().item() < 1e-6


def test_whole_full_adds_vgg_metrics_without_recomputing_the_fast_ones(pair, monkeypatch):
    import restorer.metrics.region as region

    x, y = pair
    calls = []
    monkeypatch.setattr(region, "ssim_tiled", lambda *a, **k: calls.append(1) or ssim_tiled(*a, **k))
    rm = RegionMetrics(x, y)
    fast = rm.whole()
    full = rm.whole(full=True)
    assert len(calls) == 1 and {k: full[k] for k in fast} == fast
    ref = compare(x, y)
    assert full["dists"] == pytest.approx(ref["dists"], abs=1e-5)
    assert full["lpips_vgg"] == pytest.approx(ref["lpips_vgg"], abs=1e-5)
    full_first = RegionMetrics(x, y).whole(full=True)  # full before fast: fast is filled on the way
    assert full_first == pytest.approx(full, abs=1e-7) and len(calls) == 2


def test_region_values_against_independent_computations(pair):
    x, y = pair
    box = (30, 40, 130, 110)  # x0, y0, x1, y1
    x0, y0, x1, y1 = box
    fresh = RegionMetrics(x, y, block=64)  # partial cache, several blocks
    r = fresh.region(box)
    assert 0 < fresh.cached_fraction < 1
    # PSNR of the box = PSNR of the cropped pair.
    assert r["psnr"] == pytest.approx(psnr(x[..., y0:y1, x0:x1], y[..., y0:y1, x0:x1]).item(), abs=1e-5)
    # SSIM = mean of the whole-image SSIM map over the windows centred in the box.
    smap = ssim_map(x, y)[0, 0]
    assert r["ssim"] == pytest.approx(smap[y0 - 5:y1 - 5, x0 - 5:x1 - 5].mean().item(), abs=1e-5)
    # LPIPS: area-weighted stage means of the whole-image distance maps, checked by
    # supersampling each stage map (nearest) onto a 8x finer pixel grid.
    model = get_lpips("alex")
    with torch.inference_mode():
        maps = model.distance_maps(model.stage_features(x), model.stage_features(y))
    expected = 0.0
    k = 8
    for d in maps:
        fine = F.interpolate(d.double(), size=(160 * k, 224 * k), mode="nearest-exact")
        expected += fine[0, 0, y0 * k:y1 * k, x0 * k:x1 * k].mean().item()
    assert r["lpips_alex"] == pytest.approx(expected, rel=2e-3)
    # Same values whether the cache was partial (panning, with look-ahead) or complete.
    panned = (x0 + 40, y0 - 30, x1 + 40, y1 - 30)
    r_pan = fresh.region(panned)
    done = RegionMetrics(x, y)
    done.whole()
    for b, res in ((box, r), (panned, r_pan)):
        full = done.region(b)
        for key in res:
            assert res[key] == pytest.approx(full[key], abs=1e-6), (b, key)
    # And near the heat map's mean over the box (bilinear vs area weights).
    assert abs(done.lpips_map()[y0:y1, x0:x1].mean().item() - r["lpips_alex"]) < 0.02 * r["lpips_alex"]
    assert done.whole()["ssim"] == pytest.approx(float(done._ssim.double().mean()), abs=1e-6)  # cached map = whole


def test_region_box_clipping_and_errors(pair):
    x, y = pair
    rm = RegionMetrics(x, y)
    inside = rm.region((0, 0, 224, 160))
    assert rm.region((-50, -20, 1000, 1000)) == inside  # clipped to the image
    tiny = rm.region((0, 0, 3, 2))  # thinner than the SSIM window: centres clipped, still finite
    assert all(math.isfinite(v) for v in tiny.values())
    with pytest.raises(ValueError, match="does not overlap"):
        rm.region((300, 0, 400, 50))
    with pytest.raises(ValueError, match="box must be"):
        rm.region((1, 2, 3))
    with pytest.raises(ValueError, match=re.escape("image is 224x160 but reference is 224x159")):
        RegionMetrics(x, y[..., :159, :])


# ---------------------------------------------------------------- consistency


def test_consistency_readout(pair):
    _, lr = pair
    restored = F.interpolate(lr, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    res = consistency(restored, lr)
    assert set(res) == {"psnr", "ssim", "lpips_alex"}
    down = F.interpolate(restored, size=lr.shape[-2:], mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    assert res["psnr"] == pytest.approx(psnr(down, lr).item(), abs=1e-5)
    ref = reference_lpips("alex")
    with torch.no_grad():
        assert res["lpips_alex"] == pytest.approx(ref(down, lr, normalize=True).item(), abs=1e-5)
    # A faithful x2 is far more consistent than an unrelated image.
    other = consistency(torch.rand(1, 3, 320, 448, generator=torch.Generator().manual_seed(5)), lr)
    assert res["psnr"] > other["psnr"] + 10 and res["lpips_alex"] < other["lpips_alex"]
    with pytest.raises(ValueError, match="at least 31x31"):
        consistency(restored, lr[..., :30, :30])


# ---------------------------------------------------------------- input policy


@pytest.mark.parametrize("size", [(255, 255), (31, 31)])
def test_odd_and_minimum_sizes(size):
    h, w = size
    x, y = _textured_pair(h, w, seed=3)
    res = compare(x, y)
    assert all(math.isfinite(v) for v in res.values())
    ref = reference_lpips("alex")
    with torch.no_grad():
        assert res["lpips_alex"] == pytest.approx(ref(x, y, normalize=True).item(), abs=1e-5)
    with pytest.raises(ValueError, match="at least 31x31"):
        compare(x[..., :30, :], y[..., :30, :])


def test_grayscale_and_rgba_rule():
    x, y = _textured_pair(48, 64, seed=4)
    gray_x, gray_y = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
    assert compare(gray_x, gray_y) == compare(gray_x.expand(1, 3, -1, -1), gray_y.expand(1, 3, -1, -1))
    alpha = torch.rand(1, 1, 48, 64)
    assert compare(torch.cat([x, alpha], 1), y) == compare(x, y)  # alpha ignored
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        compare(torch.rand(1, 2, 48, 64), y)
    with pytest.raises(ValueError, match="4x larger"):
        compare(F.interpolate(x, scale_factor=4), y)
