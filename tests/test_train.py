"""restorer.train: losses, the loop's learning, exact resume, export and reload."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from restorer.models import load_model
from restorer.train.loop import TrainConfig, export_generator, lr_at, train
from restorer.train.losses import PERCEPTUAL_LOSSES, DISTSLoss, VGGPerceptualLoss, gan_loss, ldl_loss


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


@pytest.mark.slow  # trains
def test_psnr_stage_learns(data_dir, tmp_path):
    cfg = _cfg(data_dir, tmp_path / "run", steps=60)
    train(cfg, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "run" / "log.csv")))
    l1 = [float(r["l_pix"]) for r in rows]
    assert len(l1) == 60
    assert np.mean(l1[-10:]) < 0.9 * np.mean(l1[:10])


@pytest.mark.slow  # trains three runs
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


@pytest.mark.slow  # trains both stages
def test_gan_stage_runs_and_exports(data_dir, tmp_path):
    psnr = train(_cfg(data_dir, tmp_path / "p", steps=2), progress=False)
    ck = train(_cfg(data_dir, tmp_path / "g", stage="gan", steps=2, init=str(psnr), d_feat=8), progress=False)
    rows = list(csv.DictReader(open(tmp_path / "g" / "log.csv")))
    assert all(float(r["l_percep"]) > 0 and float(r["l_gan"]) > 0 for r in rows)
    out = export_generator(ck, tmp_path / "g.safetensors")
    desc = load_model(str(out))
    assert desc.architecture.id == "RestorerCompact" and desc.scale == 4
    saved = torch.load(ck, weights_only=True)
    assert torch.equal(desc.model.state_dict()["head.weight"], saved["ema"]["head.weight"])
    # the checkpoint itself loads too (restore --model runs/x/last.pt, bench.heldout): EMA by default
    for generator in ("ema", "gen"):
        direct = load_model(str(ck), generator).model.state_dict()
        assert torch.equal(direct["head.weight"], saved[generator]["head.weight"]), generator
    assert not torch.equal(saved["ema"]["head.weight"], saved["gen"]["head.weight"])


def test_losses_values():
    x = torch.rand(2, 3, 32, 32)
    vgg = VGGPerceptualLoss()
    assert vgg(x, x).item() == 0.0
    assert vgg(x, (x + 0.1).clamp(0, 1)).item() > 0.01
    logits = torch.zeros(4)
    assert abs(gan_loss(logits, True).item() - np.log(2)) < 1e-6
    assert gan_loss(torch.full((4,), 5.0), True) < gan_loss(torch.full((4,), 5.0), False)


def test_dists_loss_is_the_metric_with_gradients():
    from dataclasses import fields

    from restorer.metrics.dists import get_dists
    from restorer.train.config import TrainConfig

    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 32, 32, generator=g)
    sr = (hr + 0.1 * torch.randn(hr.shape, generator=g)).clamp(0, 1).requires_grad_(True)
    loss = DISTSLoss()
    assert loss(hr, hr).item() < 1e-6
    got = loss(sr, hr)
    with torch.no_grad():
        want = get_dists()(sr, hr).mean().item()
    assert want > 0.01 and abs(got.item() - want) < 1e-6
    got.backward()
    assert sr.grad.abs().sum() > 0
    # a teacher's term adds w_teacher x DISTS(sr, teacher)
    assert abs(loss(sr, hr, hr, 0.5).item() - 1.5 * want) < 1e-6
    # the train flag offers exactly the losses make_perceptual_loss builds
    choices = next(f for f in fields(TrainConfig) if f.name == "perceptual").metadata["choices"]
    assert choices == PERCEPTUAL_LOSSES


def test_ldl_loss_matches_a_direct_computation():
    """LDL (Liang et al. 2022): local variance (7 x 7, reflect, unbiased) of the summed residual times the
    patch's variance ** 0.2, zero where the EMA's residual is larger, then L1 of the weighted images."""
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(2, 3, 10, 12, generator=g)
    sr = (hr + 0.1 * torch.randn(hr.shape, generator=g)).requires_grad_(True)
    ema = hr + 0.1 * torch.randn(hr.shape, generator=g)
    got = ldl_loss(sr, ema, hr)
    h, s, e = (t.detach().double().numpy() for t in (hr, sr, ema))
    r, r_ema = np.abs(h - s).sum(1), np.abs(h - e).sum(1)
    padded = np.pad(r, ((0, 0), (3, 3), (3, 3)), mode="reflect")
    local = np.array([[[padded[n, i:i + 7, j:j + 7].var(ddof=1) for j in range(12)] for i in range(10)]
                      for n in range(2)])
    m = local * np.array([r[n].var(ddof=1) ** 0.2 for n in range(2)])[:, None, None] * (r >= r_ema)
    want = np.abs(m[:, None] * (s - h)).mean()
    assert 0.25 < (r >= r_ema).mean() < 0.75 and want > 0
    assert abs(got.item() - want) < 1e-5 * want  # float32 against float64
    got.backward()
    assert sr.grad.abs().sum() > 0
    # where the raw generator is everywhere closer to HR than the EMA, nothing is an artefact
    assert ldl_loss(sr, hr + 2 * (sr - hr), hr).item() == 0.0


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


@pytest.mark.slow  # trains two runs
def test_ldl_term_is_added_to_the_pixel_loss(data_dir, tmp_path):
    """Step 1 of both runs sees the same SR; with w_ldl its logged l_pix adds LDL's (positive) term."""
    kw = dict(stage="gan", steps=2, d_feat=8)
    train(_cfg(data_dir, tmp_path / "a", **kw), progress=False)
    train(_cfg(data_dir, tmp_path / "b", w_ldl=1.0, **kw), progress=False)
    la, lb = (list(csv.DictReader(open(tmp_path / d / "log.csv"))) for d in "ab")
    assert la[0]["l_percep"] == lb[0]["l_percep"]
    assert float(lb[0]["l_pix"]) > float(la[0]["l_pix"])


@pytest.mark.slow  # trains three runs, with a worker process
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


def test_pool_is_a_seeded_function_of_the_source_and_refreshes(data_dir, tmp_path):
    from restorer.degradations import MixConfig
    from restorer.train.data import PatchDataset, load_photos
    from restorer.train.pool import PairPool, PoolDataset

    src = PatchDataset(load_photos(data_dir, 32, prescale=1.0), 32, MixConfig(scale=4), seed=3)
    key = {"test": 1}
    a = PairPool(tmp_path / "a", src, 10, key, workers=0).build(chunk=4)
    b = PairPool(tmp_path / "b", src, 10, key, workers=2).build()
    assert a.meta["filled"] == 10 and a.hr.shape == (10, 32, 32, 3) and a.lr.shape == (10, 8, 8, 3)
    assert np.array_equal(a.hr, b.hr) and np.array_equal(a.lr, b.lr)  # same pairs with or without workers
    lr3, hr3 = src[3]
    assert np.array_equal(a.hr[3], (hr3.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
    assert np.array_equal(a.lr[3], (lr3.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
    before = np.array(a.hr)
    assert a.refresh_to(2, 0.3) == 6  # two refreshes of 3 slots: slots 0-5 get samples 10-15
    changed = [k for k in range(10) if not np.array_equal(before[k], a.hr[k])]
    assert changed == [0, 1, 2, 3, 4, 5]
    assert np.array_equal(a.hr[5], (src[15][1].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
    assert a.refresh_to(2, 0.3) == 0  # already done: nothing rewritten
    reopened = PairPool(tmp_path / "a", src, 10, key, workers=0)
    assert reopened.meta["refreshes"] == 2 and np.array_equal(reopened.hr, a.hr)
    with pytest.raises(ValueError, match="another source"):
        PairPool(tmp_path / "a", src, 10, {"test": 2}, workers=0)
    ds = PoolDataset(a, seed=0)
    lr, hr = ds[7]
    assert lr.shape == (3, 8, 8) and hr.shape == (3, 32, 32) and lr.dtype == torch.float32
    assert torch.equal(ds[7][1], hr)  # seeded per index
    # the dihedral transform is the same on both images: HR downscaled matches the LR's orientation
    k = [kk for kk in range(10) if np.array_equal(
        np.sort(a.hr[kk].reshape(-1)), np.sort((hr.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8).reshape(-1)))]
    assert k, "the HR sample is a transformed pool slot"


@pytest.mark.slow
def test_training_from_a_pool_learns_and_resumes_exactly(data_dir, tmp_path):
    kw = dict(degradation="mix", pool=str(tmp_path / "pool"), pool_size=16, pool_refresh=0.25, workers=0)
    straight = train(_cfg(data_dir, tmp_path / "a", steps=10, **kw), progress=False)
    meta = json.loads((tmp_path / "pool" / "meta.json").read_text())
    assert meta["filled"] == 16 and meta["refreshes"] == 2  # an epoch is 16 / 4 = 4 steps: refreshed at 4 and 8
    kw["pool"] = str(tmp_path / "pool2")
    train(_cfg(data_dir, tmp_path / "b", steps=5, **kw), progress=False)
    resumed = train(_cfg(data_dir, tmp_path / "b", steps=10, **kw), progress=False)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    for name in a["gen"]:
        assert torch.equal(a["gen"][name], b["gen"][name]), name
    rows = list(csv.DictReader(open(tmp_path / "a" / "log.csv")))
    assert len(rows) == 10 and all(0 < float(r["l_pix"]) < 0.5 for r in rows)


def test_train_flags_come_from_the_config():
    import dataclasses

    from restorer.cli import build_parser

    args = build_parser().parse_args(["train", "--hr-size", "64", "--pool", "p", "--init-partial"])
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    assert cfg.hr_size == 64 and cfg.pool == "p" and cfg.init_partial is True
    defaults = build_parser().parse_args(["train"])
    for f in dataclasses.fields(TrainConfig):
        assert getattr(defaults, f.name) == f.default, f.name


def test_sigterm_stops_with_a_checkpoint(data_dir, tmp_path, monkeypatch):
    import os
    import signal

    from restorer.train import data as data_mod

    real = data_mod.PatchDataset.__getitem__

    def getitem(self, index):
        if index == 2 * 4:  # the first sample of step 2 (batch 4)
            os.kill(os.getpid(), signal.SIGTERM)
        return real(self, index)

    monkeypatch.setattr(data_mod.PatchDataset, "__getitem__", getitem)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(data_dir, tmp_path / "run", steps=50), progress=False)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert ck["step"] == 2


def test_autogroup_warning_reads_the_kernel_flag(tmp_path):
    from restorer.train.loop import autogroup_warning

    flag = tmp_path / "sched_autogroup_enabled"
    flag.write_text("1\n")
    assert "sched_autogroup_enabled=0" in autogroup_warning(flag)
    flag.write_text("0\n")
    assert autogroup_warning(flag) is None
    assert autogroup_warning(tmp_path / "missing") is None


def test_lr_halves_at_milestones():
    cfg = TrainConfig(lr=4e-4, lr_halve_at="100, 50")
    assert [lr_at(cfg, s) for s in (0, 49, 50, 99, 100, 10_000)] == [4e-4, 4e-4, 2e-4, 2e-4, 1e-4, 1e-4]
    assert lr_at(TrainConfig(lr=4e-4), 10_000) == 4e-4
    with pytest.raises(ValueError, match="--lr-halve-at"):
        lr_at(TrainConfig(lr_halve_at="100,x"), 0)


@pytest.mark.slow  # trains three runs
def test_lr_milestone_applies_the_same_straight_and_resumed(data_dir, tmp_path):
    straight = train(_cfg(data_dir, tmp_path / "a", steps=4, lr_halve_at="3"), progress=False)
    train(_cfg(data_dir, tmp_path / "b", steps=2, lr_halve_at="3"), progress=False)
    resumed = train(_cfg(data_dir, tmp_path / "b", steps=4, lr_halve_at="3"), progress=False)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert a["opt_g"]["param_groups"][0]["lr"] == b["opt_g"]["param_groups"][0]["lr"] == 5e-4
    for k in a["gen"]:
        assert torch.equal(a["gen"][k], b["gen"][k]), k


@pytest.mark.slow  # trains a small GAN run
def test_deeper_generator_grown_from_init_starts_as_it(data_dir, tmp_path):
    from restorer.models.generator import RestorerCompact

    small = train(_cfg(data_dir, tmp_path / "s", stage="gan", steps=2, d_feat=8), progress=False)
    with pytest.warns(UserWarning, match="trunk.1.conv1.weight"):
        grown = train(_cfg(data_dir, tmp_path / "g", stage="gan", steps=0, d_feat=8, num_conv=4, init=str(small),
                           init_partial=True, init_disc=str(small)), progress=False)
    a, b = torch.load(small, weights_only=True), torch.load(grown, weights_only=True)
    before, after = RestorerCompact(num_feat=8, num_conv=2), RestorerCompact(num_feat=8, num_conv=4)
    before.load_state_dict(a["ema"])  # --init takes a checkpoint's EMA
    after.load_state_dict(b["gen"])
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.equal(before(x), after(x))  # the new block adds exactly zero
    assert after.trunk[1].conv1.weight.abs().sum() > 0  # and can learn: only its last conv is zero
    assert all(torch.equal(a["disc"][k], b["disc"][k]) for k in a["disc"])


def test_wider_generator_grown_from_init_starts_as_it(data_dir, tmp_path):
    from restorer.models.generator import RestorerCompact

    small = train(_cfg(data_dir, tmp_path / "s", steps=2), progress=False)
    # only the new block is reported: the widened tensors load
    with pytest.warns(UserWarning, match=r"missing\): trunk\.1\.conv1\.bias, trunk\.1\.conv1\.weight, "
                                         r"trunk\.1\.conv2\.bias, trunk\.1\.conv2\.weight$"):
        grown = train(_cfg(data_dir, tmp_path / "w", steps=0, num_feat=12, num_conv=4, init=str(small),
                           init_partial=True), progress=False)
    before, after = RestorerCompact(num_feat=8, num_conv=2), RestorerCompact(num_feat=12, num_conv=4)
    before.load_state_dict(torch.load(small, weights_only=True)["ema"])
    after.load_state_dict(torch.load(grown, weights_only=True)["gen"])
    x = torch.rand(1, 3, 12, 10)
    with torch.no_grad():
        assert torch.allclose(before(x), after(x), atol=1e-6)  # 4 new features, one new block: same output
    assert torch.equal(after.head.weight[:8], before.head.weight)
    assert after.head.weight[8:].abs().sum() > 0 and after.tail.weight[:, 8:].abs().sum() == 0
    with pytest.warns(UserWarning):
        stepped = train(_cfg(data_dir, tmp_path / "w", steps=3, num_feat=12, num_conv=4, init=str(small),
                             init_partial=True), progress=False)
    assert torch.load(stepped, weights_only=True)["gen"]["tail.weight"][:, 8:].abs().sum() > 0  # new features get read


def test_x4_generator_grown_from_x2_starts_as_its_detail_enlarged(tmp_path):
    import torch.nn.functional as F
    from safetensors.torch import save_file

    from restorer.models.generator import RestorerCompact
    from restorer.train.loop import _load_generator_weights

    torch.manual_seed(0)
    x2 = RestorerCompact(num_feat=8, num_conv=2, scale=2)
    torch.nn.init.normal_(x2.tail.weight, std=0.1)  # a detail large enough to compare
    save_file(x2.state_dict(), tmp_path / "x2.safetensors")
    x4 = RestorerCompact(num_feat=8, num_conv=2, scale=4)
    _load_generator_weights(x4, str(tmp_path / "x2.safetensors"), partial=True)
    x = torch.rand(1, 3, 6, 5)
    bic = lambda t, s: F.interpolate(t, scale_factor=s, mode="bicubic", align_corners=False)  # noqa: E731
    with torch.no_grad():
        detail2 = x2(x) - bic(x, 2)
        assert detail2.abs().max() > 0.05
        torch.testing.assert_close(x4(x), bic(x, 4) + F.interpolate(detail2, scale_factor=2, mode="nearest"))
    assert int(x4.restorer_arch[2]) == 4


def test_cascade_starts_from_a_x2_file_in_both_stages(tmp_path):
    """--init-partial of a one-stage x2 file into a x4 RestorerCascade: stage 1 is that model exactly, stage 2
    its leading residual blocks (head and tail too), the blocks it lacks dropped."""
    from safetensors.torch import save_file

    from restorer.models.generator import RestorerCascade, RestorerCompact
    from restorer.train.loop import _load_generator_weights, build_generator

    torch.manual_seed(0)
    x2 = RestorerCompact(num_feat=8, num_conv=6, scale=2)
    save_file(x2.state_dict(), tmp_path / "x2.safetensors")
    cfg = TrainConfig(scale=4, num_feat=8, num_conv=6, cascade_feat=8, cascade_conv=2)
    net = build_generator(cfg)
    assert isinstance(net, RestorerCascade) and net.scale == 4 and net.stage2.num_conv == 2
    _load_generator_weights(net, str(tmp_path / "x2.safetensors"), partial=True)
    x = torch.rand(1, 3, 6, 5)
    with torch.no_grad():
        torch.testing.assert_close(net.stage1(x), x2(x))
    for name in ("head.weight", "trunk.0.conv1.weight", "trunk.0.conv2.bias", "tail.weight"):
        torch.testing.assert_close(net.stage2.state_dict()[name], x2.state_dict()[name])
    assert net.stage2.restorer_arch.tolist() == [8, 2, 2, 3, 3]
    save_file(net.state_dict(), tmp_path / "cascade.safetensors")
    deeper = build_generator(TrainConfig(scale=4, num_feat=8, num_conv=6, cascade_feat=8, cascade_conv=4))
    _load_generator_weights(deeper, str(tmp_path / "cascade.safetensors"), partial=True)  # grown stage by stage
    with torch.no_grad():
        torch.testing.assert_close(deeper(x), net(x))
    with pytest.raises(ValueError, match="not the weights of one RestorerCompact"):
        _load_generator_weights(x2, str(tmp_path / "cascade.safetensors"), partial=True)
    with pytest.raises(ValueError, match="even --scale"):
        build_generator(TrainConfig(scale=3, cascade_feat=8))
