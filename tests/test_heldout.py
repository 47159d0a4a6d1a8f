"""bench.heldout's crop file (--save-set / --set): what the device run scores its checkpoints on."""
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
