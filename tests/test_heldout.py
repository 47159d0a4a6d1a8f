"""bench.heldout's crop file (--save-set / --set): what the device run scores its checkpoints on."""
import math
import numpy as np
import pytest
import torch
from PIL import Image

from bench import heldout


@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "heldout"
    folder.mkdir()
    for i in range(2):
        ramp = np.linspace(0, 255, 400)[None, :, None] * np.ones((420, 1, 3))
        img = np.clip(ramp + rng.normal(0, 20, (420, 400, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(folder / f"p{i}.png")
    return folder


def test_save_set_round_trip(photos, tmp_path):
    items = heldout.heldout_set(photos, scale=4, crops_per_photo=2, crop=64)
    path = tmp_path / "set.npz"
    heldout.save_set(items, path)
    back = heldout.load_set(path)
    assert len(back) == len(items) == 4
    for a, b in zip(items, back):
        assert torch.equal(a["hr"], b["hr"])  # 8-bit photos: exact
        assert set(b["lr"]) == set(heldout.TRACKS)
        for track in heldout.TRACKS[1:]:  # the degradations end in 8 bits: exact
            assert torch.allclose(a["lr"][track], b["lr"][track], atol=1e-6), track
        d = (a["lr"]["bicubic"] - b["lr"]["bicubic"]).abs().max().item()
        assert 0 < d <= 0.5 / 255 + 1e-6  # the unrounded bicubic LR, rounded to 8 bits
        assert b["lr"]["bicubic"].shape == (1, 3, 16, 16)


def test_cli_set_checks_scale(photos, tmp_path, capsys):
    path = tmp_path / "set.npz"
    assert heldout.main(["--data", str(photos), "--crops-per-photo", "1", "--save-set", str(path)]) == 0
    assert "2 crops, x4" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        heldout.main(["--set", str(path), "--scale", "2", "--out", str(tmp_path / "r")])
    assert "does not hold x2 crops" in capsys.readouterr().err


class _Nearest2x(torch.nn.Module):
    """A 'generator' of scale 2 that only repeats pixels."""

    scale = 2

    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")


def test_other_scale_model_is_resampled_to_the_track(photos):
    # x1 tracks with a x2 generator: native output, then antialiased resize back to HR's size
    # (what restore(..., scale=1) does); nearest x2 then a box-like downscale gives the input back
    items = heldout.heldout_set(photos, scale=1, crops_per_photo=1, crop=64)
    r = heldout.evaluate(_Nearest2x(), items, scale=1, quick=True, lpips_net="alex")
    bic = heldout.evaluate(None, items, scale=1, quick=True, lpips_net="alex")
    assert bic["bicubic"]["ssim"] > 0.9999  # at x1 the bicubic 'upsampling' is the input itself
    assert r["bicubic"]["psnr"] > 30 and r["bicubic"]["ssim"] > 0.95
    assert r["phone"]["lpips_alex"] == pytest.approx(bic["phone"]["lpips_alex"], abs=0.05)


def test_psnr_pools_the_mse_of_a_track():
    # one crop reconstructed exactly (inf dB alone) and one off by 0.1 everywhere: the track's PSNR is
    # that of the pooled MSE, (0 + 0.01) / 2 -> 23.01 dB, not a mean of per-crop PSNRs (inf)
    hr = torch.full((2, 3, 32, 32), 0.5)
    items = [{"hr": hr[i:i + 1], "lr": {"bicubic": hr[i:i + 1] + 0.1 * i}} for i in range(2)]
    r = heldout.evaluate(None, items, scale=1, quick=True, lpips_net="alex")
    assert r["bicubic"]["psnr"] == pytest.approx(-10 * math.log10(0.005), abs=0.01)
