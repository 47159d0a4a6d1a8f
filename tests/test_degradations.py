"""restorer.degradations: shapes, reproducibility, and the clean path matching Pillow's bicubic."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from restorer.degradations import DegradationConfig, bicubic_downscale, degrade, gaussian_kernel


def test_bicubic_downscale_matches_pillow(photo_like):
    arr = (photo_like[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    x = torch.from_numpy(arr).permute(2, 0, 1).float().unsqueeze(0) / 255
    ours = bicubic_downscale(x, 4)[0].permute(1, 2, 0).numpy() * 255
    pil = np.asarray(Image.fromarray(arr).resize((32, 24), Image.BICUBIC)).astype(np.float32)
    assert ours.shape == pil.shape
    assert np.abs(ours - pil).mean() < 1.0  # same filter, different rounding/edge handling


def test_degrade_is_seeded_and_in_range(photo_like):
    hr = photo_like[0]
    a = [degrade(hr, np.random.default_rng(7)) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    outs = [degrade(hr, np.random.default_rng(s)) for s in range(12)]
    assert all(o.shape == (3, 24, 32) and o.min() >= 0 and o.max() <= 1 for o in outs)
    # different seeds give different degradations (blur/noise/JPEG vary)
    assert len({round(float((o - outs[0]).abs().mean()), 6) for o in outs}) > 6


def test_clean_probability_one_is_plain_bicubic(photo_like):
    cfg = DegradationConfig(p_clean=1.0)
    out = degrade(photo_like[0], np.random.default_rng(0), cfg)
    assert torch.allclose(out, bicubic_downscale(photo_like, 4)[0])


def test_gaussian_kernel_normalised_and_anisotropic():
    k = gaussian_kernel(21, 3.0, 0.5, 0.0)
    assert abs(float(k.sum()) - 1) < 1e-5
    # wide along x, narrow along y
    assert k[10, 14] > k[14, 10]


# ---------------------------------------------------------------------------
# Second-order (Real-ESRGAN) degradation
# ---------------------------------------------------------------------------
import math  # noqa: E402

import pytest  # noqa: E402

from restorer.degradations import (  # noqa: E402
    FAMILIES,
    KERNEL_TYPES,
    MixConfig,
    SecondOrderConfig,
    add_gaussian_noise,
    add_poisson_noise,
    degrade_family,
    degrade_mix,
    degrade_second_order,
    filter2d,
    generalized_gaussian_kernel,
    mixed_kernel,
    plateau_kernel,
    sinc_kernel,
)


@pytest.mark.parametrize("make", [
    lambda: gaussian_kernel(15, 2.0, 1.0, 0.3),
    lambda: generalized_gaussian_kernel(21, 2.5, 0.7, 1.0, 0.5),
    lambda: generalized_gaussian_kernel(7, 1.0, 1.0, 0.0, 4.0),
    lambda: plateau_kernel(13, 1.5, 2.5, -2.0, 1.5),
    lambda: sinc_kernel(11, math.pi / 2),
])
def test_kernels_normalised_centred_point_symmetric(make):
    k = make()
    n = k.shape[-1]
    assert k.dtype == torch.float32 and k.shape == (n, n) and n % 2 == 1
    assert abs(float(k.double().sum()) - 1) < 1e-5
    # point symmetry about the centre (so correlation == convolution, no shift)
    assert torch.allclose(k, torch.flip(k, (0, 1)), atol=1e-7)
    yy, xx = torch.meshgrid(torch.arange(n) - n // 2, torch.arange(n) - n // 2, indexing="ij")
    assert abs(float((k * xx).sum())) < 1e-5 and abs(float((k * yy).sum())) < 1e-5


def test_generalized_gaussian_and_plateau_shapes():
    # beta = 1 is the plain Gaussian
    assert torch.allclose(generalized_gaussian_kernel(21, 2.0, 1.2, 0.4, 1.0), gaussian_kernel(21, 2.0, 1.2, 0.4), atol=1e-7)
    # rotating an anisotropic kernel by 90 degrees transposes it
    a = plateau_kernel(21, 3.0, 1.0, 0.0, 1.5)
    b = plateau_kernel(21, 3.0, 1.0, math.pi / 2, 1.5)
    assert torch.allclose(a, b.T, atol=1e-6)
    # beta > 1 is flatter at the top and lighter in the tails than the Gaussian; plateau has heavy tails
    g = gaussian_kernel(21, 2.0, 2.0, 0.0)
    flat = generalized_gaussian_kernel(21, 2.0, 2.0, 0.0, 4.0)
    assert flat[10, 10] / flat[10, 11] < g[10, 10] / g[10, 11]
    assert flat[10, 18] < g[10, 18]
    assert plateau_kernel(21, 2.0, 2.0, 0.0, 1.0)[10, 20] > 10 * g[10, 20]
    assert (plateau_kernel(21, 2.0, 2.0, 0.0, 2.0) >= 0).all() and (flat >= 0).all()


@pytest.mark.parametrize("size,cutoff", [(21, math.pi / 2), (21, math.pi / 4), (13, math.pi / 3)])
def test_sinc_kernel_cutoff(size, cutoff):
    """The truncated sinc passes radial frequencies below its cutoff and stops those above."""
    k = sinc_kernel(size, cutoff).double()
    assert k.min() < 0  # sinc has negative lobes (ringing)
    gain = torch.fft.fft2(k, s=(256, 256)).abs()
    f = torch.fft.fftfreq(256, dtype=torch.float64) * 2 * math.pi  # radians per pixel
    r = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    assert abs(float(gain[0, 0]) - 1) < 1e-6
    assert gain[r < 0.7 * cutoff].mean() > 0.85
    stop = gain[(r > 1.3 * cutoff) & (r < math.pi)]
    assert stop.mean() < 0.05 and stop.max() < 0.15


def test_mixed_kernel_family_frequencies():
    rng = np.random.default_rng(0)
    probs = SecondOrderConfig().kernel_probs
    n = 3000
    counts = dict.fromkeys(KERNEL_TYPES, 0)
    for _ in range(n):
        k, fam = mixed_kernel(rng, 7, (0.2, 3.0), (0.5, 4.0), (1.0, 2.0), probs)
        counts[fam] += 1
        if fam.endswith("_iso") or fam == "iso":
            assert torch.allclose(k, k.T, atol=1e-6)
    for fam, p in zip(KERNEL_TYPES, probs):
        assert abs(counts[fam] / n - p) < 4 * math.sqrt(p * (1 - p) / n) + 1e-3, (fam, counts[fam])


def test_filter2d_matches_direct_convolution():
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(1))
    k = gaussian_kernel(5, 1.3, 0.6, 0.7)
    out = filter2d(x, k)
    xp = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    # independent computation: explicit sum of shifted copies
    ref = sum(k[i, j] * xp[..., i:i + 20, j:j + 24] for i in range(5) for j in range(5))
    assert torch.allclose(out, ref, atol=1e-6)


def test_gaussian_noise_grey_and_sigma():
    x = torch.full((1, 3, 200, 200), 0.5)
    grey = add_gaussian_noise(x, np.random.default_rng(0), 20.0, grey=True)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    colour = add_gaussian_noise(x, np.random.default_rng(0), 20.0, grey=False)
    assert not torch.equal(colour[:, 0], colour[:, 1])
    assert abs(float((colour - 0.5).std()) - 20 / 255) < 0.002


def test_poisson_noise_is_signal_dependent():
    # 256 distinct levels -> v = 256; variance at level L is L * scale^2 / 256
    levels = torch.arange(256, dtype=torch.float32) / 255
    x = levels.view(1, 1, 256, 1).expand(1, 3, 256, 512).contiguous()
    out = add_poisson_noise(x, np.random.default_rng(0), scale=2.0, grey=False)
    d = (out - x)[0, 0]
    for row in (64, 128, 192):
        expected = math.sqrt(levels[row] * 4.0 / 256)
        assert abs(float(d[row - 2:row + 3].std()) - expected) < 0.12 * expected
    assert float(d[0].abs().max()) == 0.0  # black has no shot noise
    g = add_poisson_noise(x, np.random.default_rng(0), scale=2.0, grey=True)
    assert torch.equal(g[:, 0] - x[:, 0], g[:, 2] - x[:, 2])


def test_second_order_reproducible_and_in_range(photo_like):
    hr = photo_like[0]
    a = degrade_second_order(hr, np.random.default_rng(3))
    b = degrade_second_order(hr, np.random.default_rng(3))
    assert torch.equal(a, b)
    outs = [degrade_second_order(hr, np.random.default_rng(s)) for s in range(16)]
    for o in outs:
        assert o.shape == (3, 24, 32) and o.dtype == torch.float32
        assert o.min() >= 0 and o.max() <= 1
        assert torch.allclose(o * 255, torch.round(o * 255), atol=1e-4)  # 8-bit values
        # the degradation keeps the picture: LR stays close to the clean bicubic LR on average
        assert float((o - bicubic_downscale(photo_like, 4)[0]).abs().mean()) < 0.15
    assert len({round(float(o.mean()), 6) for o in outs}) == 16
    x2 = degrade_second_order(hr, np.random.default_rng(0), SecondOrderConfig(scale=2))
    assert x2.shape == (3, 48, 64)


def test_second_order_p_clean_is_plain_bicubic(photo_like):
    out = degrade_second_order(photo_like[0], np.random.default_rng(0), SecondOrderConfig(p_clean=1.0))
    assert torch.allclose(out, bicubic_downscale(photo_like, 4)[0])


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_seeded_8_bit_and_degrades(photo_like, family):
    hr = photo_like[0, :, :64, :64].contiguous()
    a = degrade_family(hr, np.random.default_rng(1), family)
    b = degrade_family(hr, np.random.default_rng(1), family)
    assert a.shape == (3, 16, 16) and torch.equal(a, b)
    assert torch.equal(torch.round(a * 255) / 255, a) and a.min() >= 0 and a.max() <= 1
    clean = bicubic_downscale(hr[None], 4)[0]
    err = float((a - clean).abs().mean())
    if family == "clean":
        assert err < 0.02  # another antialiased kernel, no damage
    else:
        assert err > 0.005  # JPEG, noise or blur moved it away from the clean downscale


def test_mix_draws_every_family_in_proportion(photo_like, monkeypatch):
    import restorer.degradations as deg

    seen = []
    monkeypatch.setattr(deg, "degrade_family", lambda hr, rng, family, cfg=None: seen.append(family) or hr)
    for i in range(400):
        degrade_mix(photo_like[0, :, :32, :32], np.random.default_rng(i))
    for f, p in zip(FAMILIES, MixConfig().probs):
        assert abs(seen.count(f) / len(seen) - p) < 0.07, (f, seen.count(f))
    monkeypatch.undo()
    with pytest.raises(ValueError, match="unknown degradation family"):
        degrade_family(photo_like[0, :, :32, :32], np.random.default_rng(0), "fog")
