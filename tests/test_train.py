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


def test_gan_resume_exact_across_worker_counts(data_dir, tmp_path):
    """Second-order degradations, GAN stage with LPIPS: 4 straight steps in the main process equal
    2 + 2 resumed steps with a data-loader worker (same samples, same RNG, same optimiser states)."""
    kw = dict(stage="gan", d_feat=8, perceptual="lpips-vgg", degradation="second", p_clean=0.2)
    straight = train(_cfg(data_dir, tmp_path / "a", steps=4, workers=0, **kw), progress=False)
    train(_cfg(data_dir, tmp_path / "b", steps=2, workers=1, **kw), progress=False)
    resumed = train(_cfg(data_dir, tmp_path / "b", steps=4, workers=1, **kw), progress=False)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    for part in ("gen", "ema", "disc"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    la = list(csv.DictReader(open(tmp_path / "a" / "log.csv")))
    lb = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [r["l_percep"] for r in la] == [r["l_percep"] for r in lb]


def test_patch_stream_is_per_index_and_split_between_ranks(data_dir):
    from restorer.degradations import SecondOrderConfig
    from restorer.train.data import PatchDataset, StepSampler, load_photos

    ds = PatchDataset(load_photos(data_dir, 32, prescale=1), 32, SecondOrderConfig(), seed=5)
    lr, hr = ds[7]
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32)
    lr2, hr2 = ds[7]
    assert torch.equal(lr, lr2) and torch.equal(hr, hr2)
    assert not torch.equal(ds[8][1], hr)

    def take(sampler, n):
        it = iter(sampler)
        return [next(it) for _ in range(n)]

    r0 = take(StepSampler(4, start_step=3, rank=0, world=2), 8)
    r1 = take(StepSampler(4, start_step=3, rank=1, world=2), 8)
    assert r0 == [24, 25, 26, 27, 32, 33, 34, 35] and r1 == [28, 29, 30, 31, 36, 37, 38, 39]
    # resuming at step 4 continues the same stream
    assert take(StepSampler(4, start_step=4, rank=0, world=2), 4) == r0[4:]
