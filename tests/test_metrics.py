"""Tests for restorer.metrics: PSNR, SSIM, LPIPS and compare().

Reference values and sources: shared/DESIGN.md section 3.

- SSIM is checked against scikit-image (test extra).
- LPIPS is checked against the reference ``lpips`` package (same backbone
  weights loaded into its slices) and against the official LPIPS-Alex v0.1
  values on five TID2013 pairs. Those images ship in the pyiqa 0.1.16 wheel
  (non-commercial licence, never committed): the ``tid2013_pairs`` fixture
  fetches the wheel with ``pip download`` into ``$RESTORER_TEST_CACHE`` (default
  ``<repo>/cache/testdata``, gitignored) and extracts the ten .bmp files once.
  Without network the test fails, unless ``RESTORER_OFFLINE_TESTS=1`` is set,
  in which case it is skipped.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from restorer.facts import COMPARE_KEYS
from restorer.metrics import LPIPS, compare, get_dists, get_lpips, psnr, ssim, ssim_map
from conftest import reference_lpips

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------- helpers


def _smooth_pair(h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A photo-like smooth image (gradients + low-frequency waves) and a noisy, shifted copy."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    ref = torch.stack(
        [
            0.5 + 0.4 * torch.sin(2 * math.pi * (1.5 * xx + 0.5 * yy)) * (1 - yy * 0.5),
            0.2 + 0.6 * xx * yy + 0.1 * torch.cos(2 * math.pi * 3 * yy),
            0.7 - 0.5 * yy + 0.15 * torch.sin(2 * math.pi * 4 * xx * yy),
        ]
    )[None].clamp(0, 1)
    noisy = (ref.roll(1, dims=-1) * 0.9 + 0.05 + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    return noisy.float(), ref.float()


def _random_pair(n: int, h: int, w: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, h, w, generator=g)
    y = (x + 0.2 * torch.randn(n, 3, h, w, generator=g)).clamp(0, 1)
    return x, y


# ------------------------------------------------------------------------ PSNR


def test_psnr_constant_offset_is_20db():
    y = torch.full((2, 3, 16, 24), 0.5)
    x = y + 0.1  # MSE = 0.01 -> 10 * log10(1 / 0.01) = 20 dB
    assert psnr(x, y).item() == pytest.approx(20.0, abs=1e-4)
    per = psnr(x, y, reduction="none")
    assert per.shape == (2,) and per.dtype == torch.float32
    assert torch.allclose(per, torch.full((2,), 20.0), atol=1e-4)
    # Same images on a 0..255 scale give the same dB.
    assert psnr(x * 255, y * 255, data_range=255.0).item() == pytest.approx(20.0, abs=1e-4)


def test_psnr_hand_computed_and_luma():
    x, y = _random_pair(2, 20, 30)
    mse = ((x.double() - y.double()) ** 2).mean(dim=(1, 2, 3))
    expected = 10 * torch.log10(1 / mse)
    assert torch.allclose(psnr(x, y, reduction="none").double(), expected, atol=1e-4)
    # Luma (BT.601, SR papers): an offset of 0.1 on R, G, B moves Y by 0.1 * 219 / 255.
    base = torch.full((1, 3, 8, 8), 0.4)
    dy = 0.1 * (65.481 + 128.553 + 24.966) / 255
    assert psnr(base + 0.1, base, luma=True).item() == pytest.approx(-20 * math.log10(dy), abs=1e-4)


def test_psnr_identical_is_inf_and_errors():
    x, _ = _random_pair(2, 8, 8)
    assert math.isinf(psnr(x, x).item()) and psnr(x, x).item() > 0
    assert torch.isinf(psnr(x, x.clone(), reduction="none")).all()
    with pytest.raises(ValueError):
        psnr(x, x[:, :, :4])
    with pytest.raises(ValueError):
        psnr(x, x, reduction="sum")


# ------------------------------------------------------------------------ SSIM


def _skimage_ssim(x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
    from skimage.metrics import structural_similarity

    a = x[0].permute(1, 2, 0).double().numpy()
    b = y[0].permute(1, 2, 0).double().numpy()
    value, full = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0,
        channel_axis=2, full=True,
    )
    return float(value), full


@pytest.mark.parametrize("kind", ["random", "smooth"])
def test_ssim_matches_scikit_image(kind):
    x, y = _random_pair(1, 48, 40) if kind == "random" else _smooth_pair(64, 80)
    ref_value, ref_full = _skimage_ssim(x, y)
    value = ssim(x, y)
    assert value.shape == (1,) and value.dtype == torch.float32
    assert abs(value.item() - ref_value) < 1e-4, (value.item(), ref_value)
    # The map is the valid region of scikit-image's full map, averaged over channels.
    m = ssim_map(x, y)
    assert m.shape == (1, 1, x.shape[2] - 10, x.shape[3] - 10)
    ref_map = ref_full[5:-5, 5:-5].mean(axis=2)
    assert np.abs(m[0, 0].double().numpy() - ref_map).max() < 1e-4
    # Not trivially close to 1: the pair really differs.
    assert value.item() < 0.95


def test_ssim_identical_is_one_and_batched():
    x, y = _random_pair(3, 24, 24)
    assert torch.allclose(ssim(x, x), torch.ones(3), atol=1e-6)
    batched = ssim(x, y)
    singles = torch.cat([ssim(x[i : i + 1], y[i : i + 1]) for i in range(3)])
    assert torch.allclose(batched, singles, atol=1e-6)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x[:, :, :10], y[:, :, :10])


# ----------------------------------------------------------------------- LPIPS



@pytest.fixture(scope="module")
def lpips_models():
    torch.manual_seed(0)
    return {net: (get_lpips(net), reference_lpips(net)) for net in ("alex", "vgg16")}


def _reference_values(ref, x, y):
    with torch.no_grad():
        ref.spatial = False
        scalar = ref(x, y, normalize=True).view(-1)
        ref.spatial = True
        spatial = ref(x, y, normalize=True)
        ref.spatial = False
    return scalar, spatial


@pytest.mark.parametrize("net", ["alex", "vgg16"])
def test_lpips_matches_reference_package(lpips_models, net):
    ours, ref = lpips_models[net]
    pairs = [_random_pair(2, 64, 48, seed=3), _smooth_pair(96, 128, seed=4)]
    for x, y in pairs:
        ref_scalar, ref_map = _reference_values(ref, x, y)
        with torch.no_grad():
            value = ours(x, y)
            value_map = ours(x, y, spatial=True)
        assert value.shape == (x.shape[0],) and value.dtype == torch.float32
        assert value_map.shape == (x.shape[0], 1, x.shape[2], x.shape[3])
        assert torch.allclose(value, ref_scalar, atol=1e-5, rtol=0), (value, ref_scalar)
        assert (value_map - ref_map).abs().max().item() < 1e-5
        assert (value > 0.01).all()  # genuinely different images
    x, _ = pairs[1]
    with torch.no_grad():
        assert ours(x, x).abs().max().item() < 1e-6


def test_lpips_fp32_under_autocast_and_differentiable(lpips_models):
    ours, _ = lpips_models["alex"]
    x, y = _smooth_pair(48, 64, seed=5)
    with torch.no_grad():
        expected = ours(x, y)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            under_autocast = ours(x, y)
        from_bf16 = ours(x.bfloat16(), y.bfloat16())  # inputs are cast to float32
    assert under_autocast.dtype == torch.float32 and from_bf16.dtype == torch.float32
    assert torch.allclose(under_autocast, expected, atol=1e-6)
    assert torch.allclose(from_bf16, expected, atol=5e-3)
    # Frozen weights, but gradients reach the input (usable as a loss).
    assert not any(p.requires_grad for p in ours.parameters())
    xg = x.clone().requires_grad_(True)
    ours(xg, y).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


def test_lpips_cache_and_errors():
    assert get_lpips("alex") is get_lpips("alex", "cpu")
    assert get_lpips("vgg") is get_lpips("vgg16", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown LPIPS network"):
        LPIPS("squeeze")
    small = torch.rand(1, 3, 20, 20)
    with pytest.raises(ValueError, match="at least 31x31"):
        get_lpips("alex")(small, small)
    with pytest.raises(ValueError):
        get_lpips("alex")(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))


# ------------------------------------------------------- TID2013 official values

TID_NAMES = ("I03", "I04", "I06", "I08", "I19")
#: Official LPIPS-Alex v0.1 values (DESIGN.md section 3; pyiqa's calibration table).
TID_LPIPS_ALEX = {"I03": 0.7237, "I04": 0.2572, "I06": 0.0508, "I08": 0.0520, "I19": 0.4253}
PYIQA = "pyiqa==0.1.16"


def _fetch_tid2013(cache: Path) -> Path:
    """Return the folder holding ResultsCalibra/{ref_dir,dist_dir}/*.bmp, fetching once."""
    root = cache / "pyiqa-0.1.16"
    wanted = [f"ResultsCalibra/{d}/{n}.bmp" for d in ("ref_dir", "dist_dir") for n in TID_NAMES]
    missing = [w for w in wanted if not (root / w).is_file()]
    if not missing:
        return root
    wheels = sorted(cache.glob("pyiqa-0.1.16-*.whl"))
    if not wheels:
        if os.environ.get("RESTORER_OFFLINE_TESTS") == "1":
            pytest.skip(f"RESTORER_OFFLINE_TESTS=1 and the TID2013 images are not cached in {root}")
        cache.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--retries", "2", "--timeout", "30", PYIQA, "-d", str(cache)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            error = None if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1]
        except subprocess.TimeoutExpired:
            error = "timed out"
        wheels = sorted(cache.glob("pyiqa-0.1.16-*.whl"))
        if error or not wheels:
            pytest.fail(
                f"cannot fetch the TID2013 test images: 'pip download --no-deps {PYIQA} -d {cache}' "
                f"failed ({error or 'no wheel'}). Check access to PyPI, or put the wheel in {cache}, "
                "or set RESTORER_OFFLINE_TESTS=1 to skip this test.",
                pytrace=False,
            )
    with zipfile.ZipFile(wheels[-1]) as zf:
        for name in missing:
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(zf.read(name))
            os.replace(tmp, target)
    return root


def _load_rgb(path: Path) -> torch.Tensor:
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


@pytest.fixture(scope="session")
def tid2013_pairs():
    cache = Path(os.environ.get("RESTORER_TEST_CACHE", REPO / "cache" / "testdata"))
    root = _fetch_tid2013(cache)
    return {
        n: (_load_rgb(root / "ResultsCalibra" / "dist_dir" / f"{n}.bmp"),
            _load_rgb(root / "ResultsCalibra" / "ref_dir" / f"{n}.bmp"))
        for n in TID_NAMES
    }


@pytest.mark.slow  # TID2013 photos at full resolution (first run: pip download)
def test_lpips_alex_official_tid2013_values(tid2013_pairs, lpips_models):
    ours, ref = lpips_models["alex"]
    for name, (dist, refimg) in tid2013_pairs.items():
        assert dist.shape == refimg.shape == (1, 3, 384, 512)  # full resolution, no resize
        with torch.no_grad():
            value = ours(dist, refimg).item()
        assert value == pytest.approx(TID_LPIPS_ALEX[name], abs=2e-4), name
        if name == "I03":  # equality with the reference package on a real photo too
            with torch.no_grad():
                ref_value = ref(dist, refimg, normalize=True).item()
            assert abs(value - ref_value) < 1e-5, (name, value, ref_value)


TID_DISTS = {"I03": 0.4742, "I04": 0.1424, "I06": 0.0683, "I08": 0.0287, "I19": 0.3123}


@pytest.mark.slow  # TID2013 photos at full resolution (first run: pip download)
def test_dists_official_tid2013_values(tid2013_pairs):
    model = get_dists()
    for name, (dist, refimg) in tid2013_pairs.items():
        with torch.no_grad():
            value = model(dist, refimg).item()
        assert value == pytest.approx(TID_DISTS[name], abs=2e-4), name
    x = tid2013_pairs["I03"][1]
    with torch.no_grad():
        assert abs(model(x, x.clone()).item()) < 1e-5
    with pytest.raises(ValueError, match="16x16"):
        model(torch.rand(1, 3, 15, 40), torch.rand(1, 3, 15, 40))


def test_dists_matches_reference_package(monkeypatch):
    """Equality with the authors' DISTS_pytorch given the same VGG16 weights (its own
    constructor asks torchvision for pretrained weights: we hand it ours instead)."""
    from torchvision import models

    import DISTS_pytorch.DISTS_pt as ref_mod
    from restorer.weights import backbone_state_dict

    def vgg16_with_our_weights(*args, **kwargs):
        net = models.vgg16(weights=None)
        missing, _ = net.load_state_dict(backbone_state_dict("vgg16"), strict=False)
        assert all(k.startswith("classifier") for k in missing)
        return net

    monkeypatch.setattr(ref_mod, "models", type("TV", (), {"vgg16": staticmethod(vgg16_with_our_weights)}))
    ref = ref_mod.DISTS().eval()
    for x, y in (_random_pair(2, 48, 64, seed=8), _smooth_pair(96, 128, seed=9)):
        with torch.no_grad():
            expected = ref(x, y).reshape(-1)
            ours = get_dists()(x, y)
        assert torch.allclose(ours, expected, atol=1e-5), (ours, expected)


# --------------------------------------------------------------------- compare


def test_compare_keys_values_and_size_error():
    x, y = _smooth_pair(48, 64, seed=6)
    result = compare(x, y)
    assert set(result) == set(COMPARE_KEYS)  # the fact the panel, CLI and benches rely on
    assert all(type(v) is float for v in result.values())
    assert result["psnr"] == pytest.approx(psnr(x, y).item(), abs=1e-6)
    assert result["ssim"] == pytest.approx(ssim(x, y).item(), abs=1e-6)
    with torch.no_grad():
        assert result["lpips_alex"] == pytest.approx(get_lpips("alex")(x, y).item(), abs=1e-6)
        assert result["lpips_vgg"] == pytest.approx(get_lpips("vgg16")(x, y).item(), abs=1e-6)
        assert result["dists"] == pytest.approx(get_dists()(x, y).item(), abs=1e-6)
    assert 0 < result["dists"] < 1
    assert 10 < result["psnr"] < 40 and 0 < result["ssim"] < 1
    assert 0 < result["lpips_alex"] < 1 and 0 < result["lpips_vgg"] < 1

    same = compare(y, y.clone())
    assert same["psnr"] == math.inf and same["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert same["lpips_alex"] == pytest.approx(0.0, abs=1e-6) and same["lpips_vgg"] == pytest.approx(0.0, abs=1e-6)

    with pytest.raises(ValueError, match=re.escape("image is 300x200 but reference is 1200x800; sizes must match")):
        compare(torch.zeros(1, 3, 200, 300), torch.zeros(1, 3, 800, 1200))
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        compare(torch.zeros(3, 64, 64), torch.zeros(3, 64, 64))


@pytest.mark.slow  # TID2013 photos at full resolution (first run: pip download)
def test_ssim_matches_scikit_image_on_photos(tid2013_pairs):
    """SSIM (whole and banded) equals scikit-image on real photos, within 1e-4."""
    from restorer.metrics import ssim_tiled

    for name in ("I03", "I19"):
        dist, refimg = tid2013_pairs[name]
        expected, _ = _skimage_ssim(dist, refimg)
        assert abs(ssim(dist, refimg).item() - expected) < 1e-4, name
        assert abs(ssim_tiled(dist, refimg, band=100).item() - expected) < 1e-4, name
