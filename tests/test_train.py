"""restorer.train: losses, the loop's learning, exact resume, export and reload."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from PIL import Image

from restorer.models import load_model
from restorer.train.loop import TrainConfig, export_generator, train
from restorer.train.losses import VGGPerceptualLoss, gan_loss


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "photos"
    d.mkdir()
    y, x = np.mgrid[0:160, 0:160]
    for i in range(2):
        img = 127 + 100 * np.sin((x + 7 * i) / 5.0)[..., None] * np.cos(y / 9.0)[..., None]
        img = np.clip(img + rng.normal(0, 5, (160, 160, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(d / f"p{i}.png")
    (d / "readme.txt").write_text("not an image")
    return d


def _cfg(data_dir, out, **kw):
    base = dict(data=str(data_dir), out=str(out), num_feat=8, num_conv=2, batch=4, hr_size=32, lr=1e-3,
                ckpt_every=1000, log_every=1, threads=0, degradation="first", p_clean=0.5)
    base.update(kw)
    cfg = TrainConfig(**base)
    return cfg


def test_psnr_stage_learns(data_dir, tmp_path):
    cfg = _cfg(data_dir, tmp_path / "run", steps=60)
    train(cfg, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    l1 = [float(r["l_pix"]) for r in rows]
    assert len(l1) == 60
    assert np.mean(l1[-10:]) < 0.9 * np.mean(l1[:10])


def test_resume_is_exact(data_dir, tmp_path):
    straight = train(_cfg(data_dir, tmp_path / "a", steps=4), progress=False)
    train(_cfg(data_dir, tmp_path / "b", steps=2), progress=False)
    resumed = train(_cfg(data_dir, tmp_path / "b", steps=4), progress=False)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert a["step"] == b["step"] == 4
    for k in a["gen"]:
        assert torch.equal(a["gen"][k], b["gen"][k]), k
        assert torch.equal(a["ema"][k], b["ema"][k]), k


def test_gan_stage_runs_and_exports(data_dir, tmp_path):
    psnr = train(_cfg(data_dir, tmp_path / "p", steps=2), progress=False)
    ck = train(_cfg(data_dir, tmp_path / "g", stage="gan", steps=2, init=str(psnr), d_feat=8), progress=False)
    rows = list(csv.DictReader(open(tmp_path / "g" / "log.csv")))
    assert all(float(r["l_percep"]) > 0 and float(r["l_gan"]) > 0 for r in rows)
    out = export_generator(ck, tmp_path / "g.safetensors")
    desc = load_model(str(out))
    assert desc.architecture.id == "RestorerCompact" and desc.scale == 4
    ema = torch.load(ck, weights_only=True)["ema"]
    assert torch.equal(desc.model.state_dict()["head.weight"], ema["head.weight"])


def test_losses_values():
    x = torch.rand(2, 3, 32, 32)
    vgg = VGGPerceptualLoss()
    assert vgg(x, x).item() == 0.0
    assert vgg(x, (x + 0.1).clamp(0, 1)).item() > 0.01
    logits = torch.zeros(4)
    assert abs(gan_loss(logits, True).item() - np.log(2)) < 1e-6
    assert gan_loss(torch.full((4,), 5.0), True) < gan_loss(torch.full((4,), 5.0), False)


def test_default_generator_gets_gradient_in_every_layer():
    """Regression: a plain 16-conv stack collapsed to bicubic (gradients under Adam's eps)."""
    from restorer.models import RestorerCompact

    torch.manual_seed(0)
    g = RestorerCompact()  # shipped configuration: 48 features, 16 convolutions
    x = torch.rand(2, 3, 24, 24)
    loss = (g(x) - torch.rand(2, 3, 96, 96)).abs().mean()
    loss.backward()
    norms = [p.grad.norm().item() for n, p in g.named_parameters() if n.endswith("weight")]
    assert min(norms) > 1e-4
